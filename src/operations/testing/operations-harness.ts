import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach } from 'node:test';
import { fullAccessPrincipal, type Principal } from '../../auth/principal';
import { loadConfig } from '../../config/app-config';
import { SqliteDatabase } from '../../database/sqlite-database';
import { DomainError } from '../../errors/domain-error';
import type { CopyRequest, CopyResult } from '../../transfers/copy-request';
import type { SyncRequest } from '../../transfers/sync-request';
import type { Operation, OperationDraft, OperationRequests, OperationResults, OperationRunContext, OperationRunner } from '../operation';
import type { OperationEvent, OperationStore } from '../operation-store';
import { OperationsService } from '../operations.service';
import { SqliteOperationStore } from '../sqlite-operation-store';

/**
 * What the OperationsService specs share: principals, drafts the TestRunner interprets, a
 * service on SQLite in a temp data directory, and small waiting helpers.
 */

export const ME: Principal = fullAccessPrincipal('local');
export const ALICE: Principal = { name: 'alice', scopes: new Set(['images:write']) };
export const BOB: Principal = { name: 'bob', scopes: new Set(['images:write']) };
export const OPERATOR: Principal = { name: 'ops', scopes: new Set(['operations:read-all']) };

/** A copy the test runner interprets: `source` is `test:<mode>`, `destination` names the result. */
export function copy(mode: string, n: string | number = 'x'): OperationDraft {
  const request: CopyRequest = { source: `test:${mode}`, destination: `n:${n}`, sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none' };
  return { kind: 'copy', request };
}

export function sync(mode: string, n: string | number = 'x'): OperationDraft {
  const request: SyncRequest = {
    sourceType: 'docker',
    source: `test:${mode}`,
    destination: `n:${n}`,
    destinationType: 'docker',
    scoped: false,
    all: false,
    dryRun: false,
    keepGoing: false,
    preserveDigests: false,
    sourceTlsVerify: true,
    destinationTlsVerify: true,
    removeSignatures: false,
    retryTimes: 3,
    referrers: 'none',
  };
  return { kind: 'sync', request };
}

export const digestResult = (d: string): CopyResult => ({ digest: `sha256:${d}`, mediaType: 'm', manifests: [] });

/**
 * A runner for the tests, driven by the request's mode: succeed | fail | crash | block |
 * ignore-abort | progress. Blocking runs wait for `release(id)` (or their signal).
 */
export class TestRunner<K extends 'copy' | 'sync' = 'copy'> implements OperationRunner<K> {
  readonly started: { id: string; ctx: OperationRunContext }[] = [];
  private readonly gates = new Map<string, (r: CopyResult) => void>();
  private readonly startWaiters = new Map<string, () => void>();

  constructor(readonly kind: K = 'copy' as K) {}

  async run(request: OperationRequests[K], ctx: OperationRunContext): Promise<OperationResults[K]> {
    this.started.push({ id: ctx.operationId, ctx });
    this.startWaiters.get(ctx.operationId)?.();
    const mode = (request.source ?? '').replace(/^test:/, '');
    const n = request.destination.replace(/^n:/, '');
    const out = (r: CopyResult) => r as unknown as OperationResults[K];
    switch (mode) {
      case 'fail':
        throw new DomainError('IMAGE_NOT_FOUND', 'reading manifest: MANIFEST_UNKNOWN', { registry: 'r', upstreamStatus: 404, upstreamCode: 'MANIFEST_UNKNOWN' });
      case 'crash':
        throw new TypeError('internal detail that must not leak');
      case 'progress':
        for (let i = 1; i <= 200; i++) ctx.progress({ phase: 'copying', bytesTotal: 200, bytesDone: i });
        await sleep(300);
        ctx.progress({ blobsDone: 3 });
        return out(digestResult('p'));
      case 'block':
        return new Promise((resolve, reject) => {
          this.gates.set(ctx.operationId, (r) => resolve(out(r)));
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
        });
      case 'ignore-abort':
        return new Promise((resolve) => this.gates.set(ctx.operationId, (r) => resolve(out(r))));
      default:
        return out(digestResult(n));
    }
  }

  release(id: string, result: CopyResult = digestResult('released')): void {
    const gate = this.gates.get(id);
    assert.ok(gate, `operation ${id} is not blocked in the runner`);
    gate(result);
  }

  whenStarted(id: string): Promise<void> {
    if (this.started.some((s) => s.id === id)) return Promise.resolve();
    return new Promise((resolve) => this.startWaiters.set(id, resolve));
  }

  ctxOf(id: string): OperationRunContext {
    const s = this.started.find((x) => x.id === id);
    assert.ok(s, `operation ${id} did not start`);
    return s.ctx;
  }
}

const dirs: string[] = [];
const live: OperationsService[] = [];

/** A data directory for one service, removed after the spec file's tests (see cleanUpAfterTests). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-ops-'));
  dirs.push(dir);
  return dir;
}

/** Registers the hooks that shut down each test's services and remove the data directories; call once per spec file. */
export function cleanUpAfterTests(): void {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const s of live.splice(0)) await shutdown(s);
  });
}

/** An OperationsService on SQLite in `dataDir`, started as Nest would (shut down after the test). */
export async function start(
  dataDir: string,
  opts: { env?: Record<string, string>; runners?: OperationRunner<'copy' | 'sync'>[]; wrapStore?: (store: OperationStore) => OperationStore } = {},
): Promise<OperationsService> {
  const config = loadConfig({ SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'silent', SKIFF_SHUTDOWN_GRACE_SECONDS: '0', ...opts.env }, dataDir);
  const sqlite = new SqliteOperationStore(SqliteDatabase.open(join(dataDir, 'skiff.db')));
  const store = opts.wrapStore ? opts.wrapStore(sqlite) : sqlite;
  const svc = new OperationsService(config, store);
  for (const r of opts.runners ?? [new TestRunner()]) svc.registerRunner(r as OperationRunner<'copy'>);
  await svc.onModuleInit();
  svc.onApplicationBootstrap();
  live.push(svc);
  return svc;
}

const stopped = new WeakSet<OperationsService>();
export async function shutdown(svc: OperationsService): Promise<void> {
  if (stopped.has(svc)) return;
  stopped.add(svc);
  await svc.beforeApplicationShutdown();
  await svc.onApplicationShutdown();
}

export async function collect(iter: AsyncIterable<OperationEvent>): Promise<OperationEvent[]> {
  const out: OperationEvent[] = [];
  for await (const e of iter) out.push(e);
  return out;
}

export const stateOf = (e: OperationEvent) => (e.data as Operation).state;
export const describeEvents = (events: OperationEvent[]) => events.map((e) => (e.type === 'state' ? `state:${stateOf(e)}` : e.type));

export async function eventually(check: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function errorCode(code: string) {
  return (e: unknown) => e instanceof DomainError && e.code === code;
}

export const submit = (svc: OperationsService, draft: OperationDraft, extra: { principal?: Principal; key?: string; labels?: Record<string, string>; secrets?: Record<string, unknown> } = {}) =>
  svc.submit({ principal: extra.principal ?? ME, draft, idempotencyKey: extra.key, labels: extra.labels, secrets: extra.secrets as never });
