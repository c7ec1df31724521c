import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { fullAccessPrincipal, type Principal } from '../auth/principal';
import type { CopyRequest, CopyResult } from '../transfers/copy-request';
import { loadConfig } from '../config/app-config';
import { emptyProgress } from '../copy-engine/transfer-progress';
import { SqliteDatabase } from '../database/sqlite-database';
import { DomainError } from '../errors/domain-error';
import { problemFromError } from '../http/problem';
import type { SyncRequest } from '../transfers/sync-request';
import type { Operation, OperationDraft, OperationRequests, OperationResults, OperationRunContext, OperationRunner } from './operation';
import { newOperationId } from './operation-id';
import type { OperationEvent } from './operation-store';
import { canonicalJson, OperationsService, requestHash } from './operations.service';
import { SqliteOperationStore } from './sqlite-operation-store';

Logger.overrideLogger(false);

const ME: Principal = fullAccessPrincipal('local');
const ALICE: Principal = { name: 'alice', scopes: new Set(['images:write']) };
const BOB: Principal = { name: 'bob', scopes: new Set(['images:write']) };
const OPERATOR: Principal = { name: 'ops', scopes: new Set(['operations:read-all']) };

/** A copy the test runner interprets: `source` is `test:<mode>`, `destination` names the result. */
function copy(mode: string, n: string | number = 'x'): OperationDraft {
  const request: CopyRequest = { source: `test:${mode}`, destination: `n:${n}`, sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none' };
  return { kind: 'copy', request };
}

function sync(mode: string, n: string | number = 'x'): OperationDraft {
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

const digestResult = (d: string): CopyResult => ({ digest: `sha256:${d}`, mediaType: 'm', manifests: [] });

/**
 * A runner for the tests, driven by the request's mode: succeed | fail | crash | block |
 * ignore-abort | progress. Blocking runs wait for `release(id)` (or their signal).
 */
class TestRunner<K extends 'copy' | 'sync' = 'copy'> implements OperationRunner<K> {
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
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-ops-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(async () => {
  for (const s of live.splice(0)) await shutdown(s);
});

async function start(dataDir: string, opts: { env?: Record<string, string>; runners?: OperationRunner<'copy' | 'sync'>[] } = {}): Promise<OperationsService> {
  const config = loadConfig({ SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'silent', SKIFF_SHUTDOWN_GRACE_SECONDS: '0', ...opts.env }, dataDir);
  const store = new SqliteOperationStore(SqliteDatabase.open(join(dataDir, 'skiff.db')));
  const svc = new OperationsService(config, store);
  for (const r of opts.runners ?? [new TestRunner()]) svc.registerRunner(r as OperationRunner<'copy'>);
  await svc.onModuleInit();
  svc.onApplicationBootstrap();
  live.push(svc);
  return svc;
}

const stopped = new WeakSet<OperationsService>();
async function shutdown(svc: OperationsService): Promise<void> {
  if (stopped.has(svc)) return;
  stopped.add(svc);
  await svc.beforeApplicationShutdown();
  await svc.onApplicationShutdown();
}

async function collect(iter: AsyncIterable<OperationEvent>): Promise<OperationEvent[]> {
  const out: OperationEvent[] = [];
  for await (const e of iter) out.push(e);
  return out;
}

const stateOf = (e: OperationEvent) => (e.data as Operation).state;
const describeEvents = (events: OperationEvent[]) => events.map((e) => (e.type === 'state' ? `state:${stateOf(e)}` : e.type));

async function eventually(check: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function errorCode(code: string) {
  return (e: unknown) => e instanceof DomainError && e.code === code;
}

const submit = (svc: OperationsService, draft: OperationDraft, extra: { principal?: Principal; key?: string; labels?: Record<string, string>; secrets?: Record<string, unknown> } = {}) =>
  svc.submit({ principal: extra.principal ?? ME, draft, idempotencyKey: extra.key, labels: extra.labels, secrets: extra.secrets as never });

describe('OperationsService: lifecycle', () => {
  it('queues, runs and records success, with state and result events', async () => {
    const svc = await start(tempDir());
    const { operation, created } = await submit(svc, copy('succeed', 1));
    assert.equal(created, true);
    assert.equal(operation.state, 'queued');
    assert.equal(operation.owner, 'local');
    assert.deepEqual(operation.progress, emptyProgress('queued'));
    const done = await svc.waitFor(ME, operation.id, 5);
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(done.result, digestResult('1'));
    assert.equal(done.progress.phase, 'done');
    assert.equal(done.attempts, 1);
    assert.ok(done.replicaId);
    assert.ok(done.startedAt && done.finishedAt && done.startedAt >= done.createdAt && done.finishedAt >= done.startedAt);
    const log = await collect(await svc.events(ME, operation.id, { afterSeq: 0 }));
    assert.deepEqual(describeEvents(log), ['state:queued', 'state:running', 'result', 'state:succeeded']);
    assert.deepEqual(log.map((e) => e.seq), [1, 2, 3, 4]);
    assert.deepEqual(log[2]!.data, digestResult('1'));
    assert.deepEqual(log[3]!.data, done);
  });

  it('records a DomainError as its error, and anything else as an opaque INTERNAL error', async () => {
    const svc = await start(tempDir());
    const a = (await submit(svc, copy('fail'))).operation;
    const b = (await submit(svc, copy('crash'))).operation;
    const failed = await svc.waitFor(ME, a.id, 5);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.progress.phase, 'failed');
    assert.deepEqual(failed.error, { code: 'IMAGE_NOT_FOUND', message: 'reading manifest: MANIFEST_UNKNOWN', registry: 'r', upstreamStatus: 404, upstreamCode: 'MANIFEST_UNKNOWN' });
    assert.equal(failed.result, undefined);
    const crashed = await svc.waitFor(ME, b.id, 5);
    assert.equal(crashed.state, 'failed');
    assert.equal(crashed.error?.code, 'INTERNAL');
    assert.doesNotMatch(JSON.stringify(crashed), /internal detail/);
  });

  it('unknown ids are OPERATION_NOT_FOUND everywhere', async () => {
    const svc = await start(tempDir());
    const unknown = newOperationId();
    await assert.rejects(svc.get(ME, unknown), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.get(ME, '../../etc/passwd'), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.waitFor(ME, unknown, 1), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.cancel(ME, unknown), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.forget(ME, unknown), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.events(ME, unknown), errorCode('OPERATION_NOT_FOUND'));
    assert.equal(problemFromError(new DomainError('OPERATION_NOT_FOUND', 'x'), '/').status, 404);
  });

  it('refuses a kind without runner', async () => {
    const svc = await start(tempDir());
    await assert.rejects(submit(svc, sync('succeed')), /no runner/);
    assert.throws(() => svc.registerRunner(new TestRunner('copy')), /already registered/);
  });
});

describe('OperationsService: ownership', () => {
  it("a caller sees, waits on, streams, cancels and forgets its own; others' are not found; operations:read-all sees all", async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const mine = (await submit(svc, copy('block', 'a'), { principal: ALICE })).operation;
    const theirs = (await submit(svc, copy('succeed', 'b'), { principal: BOB })).operation;
    await runner.whenStarted(mine.id);
    assert.equal(mine.owner, 'alice');
    for (const call of [
      () => svc.get(BOB, mine.id),
      () => svc.waitFor(BOB, mine.id, 1),
      () => svc.events(BOB, mine.id),
      () => svc.cancel(BOB, mine.id),
      () => svc.forget(BOB, mine.id),
    ]) {
      await assert.rejects(call(), errorCode('OPERATION_NOT_FOUND'));
    }
    assert.deepEqual((await svc.list(ALICE)).operations.map((o) => o.id), [mine.id]);
    assert.deepEqual((await svc.list(BOB)).operations.map((o) => o.id), [theirs.id]);
    assert.deepEqual((await svc.list(OPERATOR)).operations.map((o) => o.id), [theirs.id, mine.id]);
    assert.equal((await svc.get(OPERATOR, mine.id)).id, mine.id);
    const cancelled = await svc.cancel(OPERATOR, mine.id, 'runaway');
    assert.deepEqual([cancelled.cancellation?.by, cancelled.cancellation?.reason], ['ops', 'runaway']);
    assert.equal((await svc.waitFor(ALICE, mine.id, 5)).state, 'cancelled');
  });

  it('idempotency keys are per principal', async () => {
    const svc = await start(tempDir());
    const a = await submit(svc, copy('succeed', 1), { principal: ALICE, key: 'k' });
    const b = await submit(svc, copy('succeed', 2), { principal: BOB, key: 'k' });
    assert.equal(b.created, true);
    assert.notEqual(a.operation.id, b.operation.id);
    const again = await submit(svc, copy('succeed', 1), { principal: ALICE, key: 'k' });
    assert.equal(again.operation.id, a.operation.id);
  });
});

describe('OperationsService: waiting', () => {
  it('waitFor answers when the time has passed, when its signal aborts, and at once when finished', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    let t = Date.now();
    const timedOut = await svc.waitFor(ME, operation.id, 1);
    assert.equal(timedOut.state, 'running');
    assert.ok(Date.now() - t >= 950, 'waited about a second');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    assert.equal((await svc.waitFor(ME, operation.id, 60, ac.signal)).state, 'running');
    const waiting = svc.waitFor(ME, operation.id, 60);
    await sleep(20);
    runner.release(operation.id);
    t = Date.now();
    assert.equal((await waiting).state, 'succeeded');
    assert.ok(Date.now() - t < 5000, 'resolved as soon as it finished');
    assert.equal((await svc.waitFor(ME, operation.id, 60)).state, 'succeeded');
  });

  it('caps long-polls and event streams per principal and per process', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), {
      runners: [runner],
      env: { SKIFF_MAX_LONG_POLLS_PER_PRINCIPAL: '1', SKIFF_MAX_LONG_POLLS: '2', SKIFF_MAX_EVENT_STREAMS_PER_PRINCIPAL: '1', SKIFF_MAX_EVENT_STREAMS: '5' },
    });
    const { operation } = await submit(svc, copy('block'), { principal: OPERATOR });
    await runner.whenStarted(operation.id);
    const ac = new AbortController();
    const w1 = svc.waitFor(ALICE, operation.id, 30, ac.signal).catch((e: unknown) => e);
    const w2 = svc.waitFor(OPERATOR, operation.id, 30, ac.signal);
    await sleep(20);
    await assert.rejects(svc.waitFor(ALICE, operation.id, 30), errorCode('OPERATION_NOT_FOUND'), 'still not visible to alice');
    await assert.rejects(svc.waitFor(OPERATOR, operation.id, 30), errorCode('TOO_MANY_REQUESTS'));
    const s1 = await svc.events(OPERATOR, operation.id);
    await assert.rejects(svc.events(OPERATOR, operation.id), errorCode('TOO_MANY_REQUESTS'));
    await s1.return!();
    const s2 = await svc.events(OPERATOR, operation.id);
    await s2.return!();
    ac.abort();
    await Promise.all([w1, w2]);
    assert.equal((await svc.waitFor(OPERATOR, operation.id, 0)).state, 'running');
  });
});

describe('OperationsService: concurrency and bounds', () => {
  it('runs at most SKIFF_MAX_CONCURRENT_OPERATIONS at once, FIFO', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { env: { SKIFF_MAX_CONCURRENT_OPERATIONS: '2' }, runners: [runner] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(svc, copy('block', i))).operation.id);
    await eventually(() => runner.started.length === 2, 'two runs');
    await sleep(50);
    assert.deepEqual(runner.started.map((s) => s.id), ids.slice(0, 2));
    assert.deepEqual(await Promise.all(ids.map(async (id) => (await svc.get(ME, id)).state)), ['running', 'running', 'queued', 'queued', 'queued']);
    runner.release(ids[1]!);
    await eventually(() => runner.started.length === 3, 'third run');
    assert.equal(runner.started[2]!.id, ids[2]);
    runner.release(ids[0]!);
    await eventually(() => runner.started.length === 4, 'fourth run');
    assert.equal(runner.started[3]!.id, ids[3]);
    for (const id of ids.slice(2, 4)) runner.release(id);
    await eventually(() => runner.started.length === 5, 'fifth run');
    runner.release(ids[4]!);
    for (const id of ids) assert.equal((await svc.waitFor(ME, id, 5)).state, 'succeeded');
  });

  it('a full queue answers QUEUE_FULL with a Retry-After', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { env: { SKIFF_MAX_CONCURRENT_OPERATIONS: '1', SKIFF_QUEUE_MAX: '2' }, runners: [runner] });
    const first = (await submit(svc, copy('block', 0))).operation;
    await runner.whenStarted(first.id);
    await submit(svc, copy('succeed', 1));
    await submit(svc, copy('succeed', 2));
    const err = await submit(svc, copy('succeed', 3)).catch((e: unknown) => e);
    assert.ok(err instanceof DomainError && err.code === 'QUEUE_FULL');
    assert.equal(problemFromError(err, '/v1/copies').status, 429);
    assert.ok(err.upstream.retryAfterSeconds! > 0);
    runner.release(first.id);
  });

  it('an operation that runs past its deadline fails saying so', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { env: { SKIFF_OPERATION_DEADLINE_SECONDS: '1' }, runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    const done = await svc.waitFor(ME, operation.id, 10);
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'DEADLINE_EXCEEDED');
    assert.match(done.error!.message, /deadline of 1 s/);
  });
});

describe('OperationsService: cancel and forget', () => {
  it('cancels a queued operation at once; it never runs', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { env: { SKIFF_MAX_CONCURRENT_OPERATIONS: '1' }, runners: [runner] });
    const first = (await submit(svc, copy('block'))).operation;
    const second = (await submit(svc, copy('succeed'))).operation;
    await runner.whenStarted(first.id);
    const cancelled = await svc.cancel(ME, second.id, 'not needed');
    assert.equal(cancelled.state, 'cancelled');
    assert.equal(cancelled.progress.phase, 'cancelled');
    assert.deepEqual([cancelled.cancellation?.by, cancelled.cancellation?.reason], ['local', 'not needed']);
    assert.ok(cancelled.finishedAt);
    runner.release(first.id);
    assert.equal((await svc.waitFor(ME, first.id, 5)).state, 'succeeded');
    await sleep(50);
    assert.deepEqual(runner.started.map((s) => s.id), [first.id]);
    await assert.rejects(svc.cancel(ME, second.id), errorCode('OPERATION_CONFLICT'));
    await assert.rejects(svc.cancel(ME, first.id), errorCode('OPERATION_CONFLICT'));
  });

  it('cancels a running operation: cancelling with its signal aborted at once, then cancelled', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    const ctx = runner.ctxOf(operation.id);
    const stream = await svc.events(ME, operation.id);
    const answer = await svc.cancel(ME, operation.id);
    assert.ok(ctx.signal.aborted, 'signal aborted by the cancel');
    assert.equal((ctx.signal.reason as DomainError).code, 'ABORTED');
    assert.equal(answer.state, 'cancelling');
    assert.equal((await svc.cancel(ME, operation.id)).state === 'cancelling' || (await svc.get(ME, operation.id)).state === 'cancelled', true);
    const final = await svc.waitFor(ME, operation.id, 5);
    assert.equal(final.state, 'cancelled');
    assert.equal(final.error, undefined);
    assert.deepEqual(describeEvents(await collect(stream)), ['state:running', 'state:cancelling', 'state:cancelled']);
  });

  it('forgets finished operations only', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    await assert.rejects(svc.forget(ME, operation.id), errorCode('OPERATION_CONFLICT'));
    runner.release(operation.id);
    await svc.waitFor(ME, operation.id, 5);
    await svc.forget(ME, operation.id);
    await assert.rejects(svc.get(ME, operation.id), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.forget(ME, operation.id), errorCode('OPERATION_NOT_FOUND'));
  });
});

describe('OperationsService: idempotency and secrets', () => {
  it('same key and request → the same operation; a different request or labels → IDEMPOTENCY_KEY_REUSED (422)', async () => {
    const svc = await start(tempDir());
    const a = await submit(svc, copy('succeed', 'd'), { key: 'key-1', labels: { team: 'a' } });
    const b = await submit(svc, copy('succeed', 'd'), { key: 'key-1', labels: { team: 'a' } });
    assert.equal(b.created, false);
    assert.equal(b.operation.id, a.operation.id);
    const err = await submit(svc, copy('succeed', 'other'), { key: 'key-1', labels: { team: 'a' } }).catch((e: unknown) => e);
    assert.ok(err instanceof DomainError && err.code === 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(problemFromError(err, '/v1/copies').status, 422);
    await assert.rejects(submit(svc, copy('succeed', 'd'), { key: 'key-1', labels: { team: 'b' } }), errorCode('IDEMPOTENCY_KEY_REUSED'));
    const c = await submit(svc, copy('succeed', 'd'), { key: 'key-2', labels: { team: 'a' } });
    assert.equal(c.created, true);
    const d = await submit(svc, copy('succeed', 'd'), { labels: { team: 'a' } });
    assert.notEqual(d.operation.id, a.operation.id, 'without a key every submission is new');
  });

  it('hashes the canonical JSON of kind, request and labels', () => {
    assert.equal(canonicalJson({ b: [1, { d: 2, c: undefined, a: null }], a: 'x' }), '{"a":"x","b":[1,{"a":null,"d":2}]}');
    assert.equal(requestHash('copy', { a: 1, b: 2 }), requestHash('copy', { b: 2, a: 1 }));
    assert.notEqual(requestHash('copy', { a: 1 }), requestHash('sync', { a: 1 }));
    assert.notEqual(requestHash('copy', { a: 1 }, { x: '1' }), requestHash('copy', { a: 1 }));
  });

  it('validates labels', async () => {
    const svc = await start(tempDir());
    for (const labels of [{ '': 'x' }, { 'a b': 'x' }, { k: 'new\nline' }, { k: 'x'.repeat(129) }, Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']))]) {
      await assert.rejects(submit(svc, copy('succeed'), { labels }), errorCode('INVALID_ARGUMENT'), JSON.stringify(labels).slice(0, 80));
    }
  });

  it('without a key: hands secrets to the runner from memory and never stores them; lost in a restart', async () => {
    const dir = tempDir();
    const runner = new TestRunner();
    const svc = await start(dir, { runners: [runner], env: { SKIFF_MAX_CONCURRENT_OPERATIONS: '1' } });
    const secret = 'hunter2-very-secret-password';
    const auth = { sourceAuth: { kind: 'basic', username: 'u', password: secret } };
    const blocker = (await submit(svc, copy('block', 'blocker'))).operation;
    const { operation } = await submit(svc, copy('succeed'), { secrets: auth });
    const waiting = (await submit(svc, copy('succeed', 'w'), { secrets: auth })).operation;
    await runner.whenStarted(blocker.id);
    runner.release(blocker.id);
    const done = await svc.waitFor(ME, operation.id, 5);
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(runner.ctxOf(operation.id).secrets, auth);
    assert.doesNotMatch(JSON.stringify(done), /hunter2/);
    await svc.waitFor(ME, waiting.id, 5);
    const third = (await submit(svc, copy('block', 'b2'))).operation;
    const lost = (await submit(svc, copy('succeed', 'lost'), { secrets: auth })).operation;
    await runner.whenStarted(third.id);
    await shutdown(svc);
    for (const f of readdirSync(dir).filter((f) => f.startsWith('skiff.db'))) {
      assert.ok(!readFileSync(join(dir, f)).includes(secret), `${f} contains the secret`);
    }
    const svc2 = await start(dir, { runners: [new TestRunner()] });
    const failed = await svc2.waitFor(ME, lost.id, 5);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'CREDENTIALS_UNAVAILABLE');
  });

  it('with SKIFF_SECRET_KEY: secrets are sealed in the store, survive a restart, and are erased when the operation ends', async () => {
    const dir = tempDir();
    const key = 'a'.repeat(64);
    const runner = new TestRunner();
    const svc = await start(dir, { runners: [runner], env: { SKIFF_SECRET_KEY: key } });
    const secret = 'sealed-secret-password-xyz';
    const auth = { destinationAuth: { kind: 'basic', username: 'u', password: secret } };
    const { operation } = await submit(svc, copy('block'), { secrets: auth });
    await runner.whenStarted(operation.id);
    await shutdown(svc);
    for (const f of readdirSync(dir).filter((f) => f.startsWith('skiff.db'))) assert.ok(!readFileSync(join(dir, f)).includes(secret), `${f} holds it in clear`);
    const next = new TestRunner();
    // The old key second: rotation keeps what it sealed readable.
    const svc2 = await start(dir, { runners: [next], env: { SKIFF_SECRET_KEY: `${'b'.repeat(64)},${key}` } });
    await next.whenStarted(operation.id);
    assert.deepEqual(next.ctxOf(operation.id).secrets, auth);
    next.release(operation.id);
    assert.equal((await svc2.waitFor(ME, operation.id, 5)).state, 'succeeded');
    const store = new SqliteOperationStore(SqliteDatabase.open(join(tempDir(), 'x.db')));
    await store.close();
  });
});

describe('OperationsService: list', () => {
  it('pages newest first with an opaque cursor, and filters by state, kind and labels', async () => {
    const svc = await start(tempDir(), { runners: [new TestRunner('copy'), new TestRunner('sync')] });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const draft = i % 3 === 0 ? sync(i === 4 ? 'fail' : 'succeed', i) : copy(i === 4 ? 'fail' : 'succeed', i);
      ids.push((await submit(svc, draft, { labels: { parity: i % 2 === 0 ? 'even' : 'odd' } })).operation.id);
    }
    for (const id of ids) await svc.waitFor(ME, id, 5);
    const seen: string[] = [];
    let token: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await svc.list(ME, { pageSize: 3, pageToken: token });
      sizes.push(page.operations.length);
      seen.push(...page.operations.map((o) => o.id));
      token = page.nextPageToken;
    } while (token);
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal((await svc.list(ME, { pageSize: 7 })).nextPageToken, undefined);
    assert.deepEqual((await svc.list(ME, { kind: 'sync' })).operations.map((o) => o.id), [ids[6], ids[3], ids[0]]);
    assert.deepEqual((await svc.list(ME, { state: 'failed' })).operations.map((o) => o.id), [ids[4]]);
    assert.deepEqual((await svc.list(ME, { labels: [['parity', 'odd']] })).operations.map((o) => o.id), [ids[5], ids[3], ids[1]]);
    assert.deepEqual((await svc.list(ME, { createdAfter: new Date(Date.now() + 60_000).toISOString() })).operations, []);
    assert.equal((await svc.list(ME, { createdBefore: new Date(Date.now() + 60_000).toISOString() })).operations.length, 7);
    await assert.rejects(svc.list(ME, { pageToken: 'garbage!' }), errorCode('INVALID_ARGUMENT'));
    await assert.rejects(svc.list(ME, { pageSize: 0 }), errorCode('INVALID_ARGUMENT'));
    await assert.rejects(svc.list(ME, { createdAfter: 'yesterday' }), errorCode('INVALID_ARGUMENT'));
  });
});

describe('OperationsService: progress and events', () => {
  it('merges progress, writes it at most every 250 ms and at the end', async () => {
    const svc = await start(tempDir());
    const { operation } = await submit(svc, copy('progress'));
    await eventually(async () => (await svc.get(ME, operation.id)).progress.bytesDone === 200, 'the throttled progress to be stored', 2000);
    const done = await svc.waitFor(ME, operation.id, 5);
    assert.deepEqual(done.progress, { ...emptyProgress('done'), bytesTotal: 200, bytesDone: 200, blobsDone: 3 });
    const log = await collect(await svc.events(ME, operation.id, { afterSeq: 0 }));
    const progress = log.filter((e) => e.type === 'progress');
    assert.ok(progress.length >= 2 && progress.length <= 4, `200 updates in one burst give few progress events, got ${progress.length}`);
    assert.deepEqual(describeEvents(log).slice(-2), ['result', 'state:succeeded']);
  });

  it('streams live events, resumes after a seq, and opens with the current state', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    const fresh = await svc.events(ME, operation.id);
    const first = await fresh.next();
    assert.equal(first.done, false);
    assert.equal(first.value!.type, 'state');
    assert.equal(stateOf(first.value!), 'running');
    assert.equal(first.value!.seq, 2, 'the snapshot carries the seq of the latest event');
    const fromStart = await svc.events(ME, operation.id, { afterSeq: 0 });
    const beyond = await svc.events(ME, operation.id, { afterSeq: 99 });
    runner.ctxOf(operation.id).progress({ phase: 'copying', bytesDone: 5 });
    await sleep(20);
    runner.release(operation.id, digestResult('live'));
    const rest = await collect(fresh);
    assert.deepEqual(describeEvents(rest), ['progress', 'result', 'state:succeeded']);
    assert.deepEqual(rest.map((e) => e.seq), [3, 4, 5]);
    assert.deepEqual(describeEvents(await collect(fromStart)), ['state:queued', 'state:running', 'progress', 'result', 'state:succeeded']);
    assert.deepEqual(describeEvents(await collect(beyond)), ['state:running', 'progress', 'result', 'state:succeeded'], 'a seq ahead of the log restarts from a snapshot');
    assert.deepEqual(describeEvents(await collect(await svc.events(ME, operation.id, { afterSeq: 3 }))), ['result', 'state:succeeded']);
    assert.deepEqual(describeEvents(await collect(await svc.events(ME, operation.id))), ['state:succeeded']);
    assert.deepEqual(await collect(await svc.events(ME, operation.id, { afterSeq: 5 })), [], 'nothing after the final event: the stream ends');
  });

  it('ends a stream when its signal aborts', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    const ac = new AbortController();
    const stream = await svc.events(ME, operation.id, { signal: ac.signal });
    const collected = collect(stream);
    await sleep(20);
    ac.abort();
    assert.deepEqual(describeEvents(await collected), ['state:running']);
  });
});

describe('OperationsService: restarts', () => {
  /** Operations as a dead process left them (leased to `dead`). */
  async function seed(dataDir: string, ops: { state: 'queued' | 'running' | 'cancelling'; draft: OperationDraft; hadSecrets?: boolean; finishedAt?: string; attempts?: number }[]): Promise<string[]> {
    const store = new SqliteOperationStore(SqliteDatabase.open(join(dataDir, 'skiff.db')));
    const ids: string[] = [];
    for (const o of ops) {
      const op = { id: newOperationId(), ...o.draft, state: 'queued', owner: 'local', labels: {}, createdAt: new Date().toISOString(), progress: emptyProgress('queued'), attempts: 0 } as Operation;
      await store.insert({ operation: op, requestHash: 'h', hadSecrets: o.hadSecrets ?? false, lease: o.hadSecrets ? { owner: 'dead', expiresAt: Date.now() + 60_000 } : undefined });
      for (let i = 0; i < (o.attempts ?? (o.state === 'queued' ? 0 : 1)); i++) {
        if (i > 0) await store.expireLeases(undefined);
        const c = await store.claim({ owner: 'dead', leaseMs: 60_000, deadlineMs: 3_600_000 });
        assert.equal(c?.operation.id, op.id);
      }
      if (o.state === 'cancelling') await store.transition(op.id, { state: 'cancelling' }, { states: ['running'] });
      ids.push(op.id);
    }
    await store.close();
    return ids;
  }

  it('takes over what a dead process left running or queued; fails those whose secrets were lost; finishes cancelling ones', async () => {
    const dir = tempDir();
    // (claimed ones first: seeding claims the oldest claimable)
    const [running, runningSecret, cancelling, queued, queuedSecret, orphanSync] = await seed(dir, [
      { state: 'running', draft: copy('succeed', 'r') },
      { state: 'running', draft: copy('succeed'), hadSecrets: true },
      { state: 'cancelling', draft: copy('succeed') },
      { state: 'queued', draft: copy('succeed', 'q') },
      { state: 'queued', draft: copy('succeed'), hadSecrets: true },
      { state: 'queued', draft: sync('succeed') },
    ]);
    const runner = new TestRunner();
    const svc = await start(dir, { runners: [runner] });
    const r = await svc.waitFor(ME, running!, 5);
    assert.equal(r.state, 'succeeded');
    assert.deepEqual(r.result, digestResult('r'));
    assert.equal(r.attempts, 2);
    assert.equal((await svc.waitFor(ME, queued!, 5)).state, 'succeeded');
    for (const lost of [runningSecret!, queuedSecret!]) {
      const op = await svc.waitFor(ME, lost, 5);
      assert.equal(op.state, 'failed');
      assert.equal(op.error?.code, 'CREDENTIALS_UNAVAILABLE');
    }
    assert.equal((await svc.waitFor(ME, cancelling!, 5)).state, 'cancelled');
    const orphan = await svc.waitFor(ME, orphanSync!, 5);
    assert.equal(orphan.state, 'failed', 'a kind nobody runs fails instead of waiting forever');
    assert.equal(orphan.error?.code, 'OPERATION_NOT_SUPPORTED');
    assert.deepEqual(runner.started.map((s) => s.id).sort(), [running!, queued!].sort());
  });

  it('an operation whose runs keep dying stops being taken over after SKIFF_OPERATION_MAX_ATTEMPTS and fails with its last error', async () => {
    const dir = tempDir();
    const [looping] = await seed(dir, [{ state: 'running', draft: copy('succeed'), attempts: 3 }]);
    const runner = new TestRunner();
    const svc = await start(dir, { runners: [runner], env: { SKIFF_OPERATION_MAX_ATTEMPTS: '3' } });
    const op = await svc.waitFor(ME, looping!, 5);
    assert.equal(op.state, 'failed');
    assert.equal(op.error?.code, 'ABORTED');
    assert.match(op.error!.message, /gave up after 3 attempts: replica dead stopped renewing/);
    assert.deepEqual(runner.started, []);
  });

  it('prunes operations finished longer ago than the retention, with their events', async () => {
    const dir = tempDir();
    const store = new SqliteOperationStore(SqliteDatabase.open(join(dir, 'skiff.db')));
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
    const ids: string[] = [];
    for (const h of [169, 167]) {
      const op = { id: newOperationId(), ...copy('succeed'), state: 'queued', owner: 'local', labels: {}, createdAt: hoursAgo(h + 1), progress: emptyProgress(), attempts: 0 } as Operation;
      await store.insert({ operation: op, requestHash: 'h', hadSecrets: false });
      await store.transition(op.id, { state: 'cancelled', finishedAt: hoursAgo(h) }, { states: ['queued'] });
      ids.push(op.id);
    }
    await store.close();
    const svc = await start(dir);
    await assert.rejects(svc.get(ME, ids[0]!), errorCode('OPERATION_NOT_FOUND'));
    assert.ok(await svc.get(ME, ids[1]!));
    await shutdown(svc);
    const short = await start(dir, { env: { SKIFF_OPERATION_RETENTION_HOURS: '1' } });
    await assert.rejects(short.get(ME, ids[1]!), errorCode('OPERATION_NOT_FOUND'));
  });

  it('shutdown lets runs finish within the grace period', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { env: { SKIFF_SHUTDOWN_GRACE_SECONDS: '5' }, runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    setTimeout(() => runner.release(operation.id), 100);
    await svc.stop();
    assert.equal((await svc.get(ME, operation.id)).state, 'succeeded');
  });

  it('shutdown does not wait forever for a run that ignores its signal', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('ignore-abort'));
    await runner.whenStarted(operation.id);
    await svc.stop();
    assert.equal((await svc.get(ME, operation.id)).state, 'queued');
    runner.release(operation.id);
    await sleep(20);
    assert.equal((await svc.get(ME, operation.id)).state, 'queued', 'what the run does afterwards is ignored');
  });

  it('shutdown hands interrupted runs back at once (cancelling ones end cancelled), and the next start runs them again', async () => {
    const dir = tempDir();
    const runner = new TestRunner();
    const svc = await start(dir, { runners: [runner] });
    const a = (await submit(svc, copy('block', 'a'))).operation;
    const b = (await submit(svc, copy('block', 'b'))).operation;
    await runner.whenStarted(a.id);
    await runner.whenStarted(b.id);
    const stream = await svc.events(ME, a.id);
    await svc.cancel(ME, b.id);
    await svc.stop();
    assert.ok(runner.ctxOf(a.id).signal.aborted);
    const requeued = await svc.get(ME, a.id);
    assert.equal(requeued.state, 'queued');
    assert.equal(requeued.startedAt, undefined);
    assert.equal(requeued.attempts, 0, 'a hand-back is not an attempt');
    assert.equal((await svc.get(ME, b.id)).state, 'cancelled');
    assert.deepEqual(describeEvents(await collect(stream)), ['state:running', 'state:queued'], 'streams end when the service stops');
    const late = (await submit(svc, copy('succeed', 'late'))).operation;
    await sleep(50);
    assert.equal((await svc.get(ME, late.id)).state, 'queued', 'nothing starts after shutdown began');
    await shutdown(svc);

    const next = new TestRunner();
    const svc2 = await start(dir, { runners: [next] });
    await next.whenStarted(a.id);
    next.release(a.id, digestResult('again'));
    const again = await svc2.waitFor(ME, a.id, 5);
    assert.equal(again.state, 'succeeded');
    assert.deepEqual(again.result, digestResult('again'));
    assert.equal((await svc2.waitFor(ME, late.id, 5)).state, 'succeeded');
  });
});
