import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../config/app-config';
import { DomainError } from '../errors/domain-error';
import { problemFromError } from '../http/problem';
import { newOperationId } from './operation-id';
import { emptyProgress, type Operation, type OperationKind, type OperationRunContext, type OperationRunner } from './operation-runner';
import { type OperationEvent, OperationStore, publicOperation, type StoredOperation } from './operation-store';
import { canonicalJson, OperationsService, requestHash } from './operations.service';

Logger.overrideLogger(false);

/**
 * A runner for the tests, driven by the request: `mode` succeed | fail | crash | block |
 * ignore-abort | progress. Blocking runs wait for `release(id)` (or their signal).
 */
class TestRunner implements OperationRunner {
  readonly started: { id: string; request: Record<string, unknown>; ctx: OperationRunContext }[] = [];
  private readonly gates = new Map<string, (r: Record<string, unknown>) => void>();
  private readonly startWaiters = new Map<string, () => void>();

  constructor(readonly kind: OperationKind = 'copy') {}

  async run(request: Record<string, unknown>, ctx: OperationRunContext): Promise<Record<string, unknown>> {
    this.started.push({ id: ctx.operationId, request, ctx });
    this.startWaiters.get(ctx.operationId)?.();
    switch (request['mode']) {
      case 'fail':
        throw new DomainError('IMAGE_NOT_FOUND', 'reading manifest: MANIFEST_UNKNOWN', { registry: 'r', upstreamStatus: 404, upstreamCode: 'MANIFEST_UNKNOWN' });
      case 'crash':
        throw new TypeError('internal detail that must not leak');
      case 'progress':
        for (let i = 1; i <= 200; i++) ctx.progress({ phase: 'copying', bytesTotal: 200, bytesDone: i });
        await sleep(300);
        ctx.progress({ blobsDone: 3 });
        return { digest: 'sha256:p' };
      case 'block':
        return new Promise((resolve, reject) => {
          this.gates.set(ctx.operationId, resolve);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
        });
      case 'ignore-abort':
        return new Promise((resolve) => this.gates.set(ctx.operationId, resolve));
      default:
        return { digest: `sha256:${String(request['n'] ?? 'x')}` };
    }
  }

  release(id: string, result: Record<string, unknown> = { digest: 'sha256:released' }): void {
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

function start(dataDir: string, opts: { env?: Record<string, string>; runners?: OperationRunner[] } = {}): OperationsService {
  const config = loadConfig({ SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'silent', SKIFF_SHUTDOWN_GRACE_SECONDS: '0', ...opts.env }, dataDir);
  const svc = new OperationsService(config, OperationStore.open(join(dataDir, 'skiff.db')));
  for (const r of opts.runners ?? [new TestRunner()]) svc.registerRunner(r);
  svc.onModuleInit();
  svc.onApplicationBootstrap();
  live.push(svc);
  return svc;
}

const stopped = new WeakSet<OperationsService>();
async function shutdown(svc: OperationsService): Promise<void> {
  if (stopped.has(svc)) return;
  stopped.add(svc);
  await svc.beforeApplicationShutdown();
  svc.onApplicationShutdown();
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

describe('OperationsService: lifecycle', () => {
  it('queues, runs and records success, with state and result events', async () => {
    const svc = start(tempDir());
    const { operation, created } = await svc.submit({ kind: 'copy', request: { mode: 'succeed', n: 1 } });
    assert.equal(created, true);
    assert.equal(operation.state, 'queued');
    assert.deepEqual(operation.progress, emptyProgress('queued'));
    const done = await svc.waitFor(operation.id, 5);
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(done.result, { digest: 'sha256:1' });
    assert.equal(done.progress.phase, 'done');
    assert.ok(done.startedAt && done.finishedAt && done.startedAt >= done.createdAt && done.finishedAt >= done.startedAt);
    const log = await collect(await svc.events(operation.id, { afterSeq: 0 }));
    assert.deepEqual(describeEvents(log), ['state:queued', 'state:running', 'result', 'state:succeeded']);
    assert.deepEqual(log.map((e) => e.seq), [1, 2, 3, 4]);
    assert.deepEqual(log[2]!.data, { digest: 'sha256:1' });
    assert.deepEqual(log[3]!.data, done);
  });

  it('records a DomainError as its problem, and anything else as an opaque INTERNAL problem', async () => {
    const svc = start(tempDir());
    const a = (await svc.submit({ kind: 'copy', request: { mode: 'fail' } })).operation;
    const b = (await svc.submit({ kind: 'copy', request: { mode: 'crash' } })).operation;
    const failed = await svc.waitFor(a.id, 5);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.progress.phase, 'failed');
    assert.deepEqual(failed.error, {
      type: 'urn:skiff:problem:image-not-found',
      title: 'Image not found',
      status: 404,
      detail: 'reading manifest: MANIFEST_UNKNOWN',
      instance: `/v1/operations/${a.id}`,
      code: 'IMAGE_NOT_FOUND',
      registry: 'r',
      upstreamStatus: 404,
      upstreamCode: 'MANIFEST_UNKNOWN',
    });
    assert.equal(failed.result, undefined);
    const crashed = await svc.waitFor(b.id, 5);
    assert.equal(crashed.state, 'failed');
    assert.equal(crashed.error?.code, 'INTERNAL');
    assert.doesNotMatch(JSON.stringify(crashed), /internal detail/);
  });

  it('unknown ids are OPERATION_NOT_FOUND everywhere', async () => {
    const svc = start(tempDir());
    const unknown = newOperationId();
    await assert.rejects(svc.get(unknown), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.get('../../etc/passwd'), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.waitFor(unknown, 1), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.cancel(unknown), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.forget(unknown), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.events(unknown), errorCode('OPERATION_NOT_FOUND'));
    assert.equal(problemFromError(new DomainError('OPERATION_NOT_FOUND', 'x'), '/').status, 404);
  });

  it('refuses a kind without runner', async () => {
    const svc = start(tempDir());
    await assert.rejects(svc.submit({ kind: 'sync', request: {} }), /no runner/);
    assert.throws(() => svc.registerRunner(new TestRunner('copy')), /already registered/);
  });
});

describe('OperationsService: waiting', () => {
  it('waitFor answers when the time has passed, when its signal aborts, and at once when finished', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'block' } });
    await runner.whenStarted(operation.id);
    let t = Date.now();
    const timedOut = await svc.waitFor(operation.id, 1);
    assert.equal(timedOut.state, 'running');
    assert.ok(Date.now() - t >= 950, 'waited about a second');
    const ac = new AbortController();
    t = Date.now();
    setTimeout(() => ac.abort(), 50);
    assert.equal((await svc.waitFor(operation.id, 60, ac.signal)).state, 'running');
    assert.ok(Date.now() - t < 2000);
    const waiting = svc.waitFor(operation.id, 60);
    runner.release(operation.id);
    t = Date.now();
    assert.equal((await waiting).state, 'succeeded');
    assert.ok(Date.now() - t < 2000, 'resolved as soon as it finished');
    assert.equal((await svc.waitFor(operation.id, 60)).state, 'succeeded');
  });
});

describe('OperationsService: concurrency', () => {
  it('runs at most SKIFF_MAX_CONCURRENT_OPERATIONS at once, FIFO', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { env: { SKIFF_MAX_CONCURRENT_OPERATIONS: '2' }, runners: [runner] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await svc.submit({ kind: 'copy', request: { mode: 'block', i } })).operation.id);
    await eventually(() => runner.started.length === 2, 'two runs');
    await sleep(50);
    assert.deepEqual(runner.started.map((s) => s.id), ids.slice(0, 2));
    assert.deepEqual(await Promise.all(ids.map(async (id) => (await svc.get(id)).state)), ['running', 'running', 'queued', 'queued', 'queued']);
    runner.release(ids[1]!);
    await eventually(() => runner.started.length === 3, 'third run');
    assert.equal(runner.started[2]!.id, ids[2]);
    runner.release(ids[0]!);
    await eventually(() => runner.started.length === 4, 'fourth run');
    assert.equal(runner.started[3]!.id, ids[3]);
    for (const id of ids.slice(2, 4)) runner.release(id);
    await eventually(() => runner.started.length === 5, 'fifth run');
    runner.release(ids[4]!);
    for (const id of ids) assert.equal((await svc.waitFor(id, 5)).state, 'succeeded');
  });
});

describe('OperationsService: cancel and forget', () => {
  it('cancels a queued operation at once; it never runs', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { env: { SKIFF_MAX_CONCURRENT_OPERATIONS: '1' }, runners: [runner] });
    const first = (await svc.submit({ kind: 'copy', request: { mode: 'block' } })).operation;
    const second = (await svc.submit({ kind: 'copy', request: { mode: 'succeed' } })).operation;
    await runner.whenStarted(first.id);
    const cancelled = await svc.cancel(second.id);
    assert.equal(cancelled.state, 'cancelled');
    assert.equal(cancelled.progress.phase, 'cancelled');
    assert.ok(cancelled.finishedAt);
    runner.release(first.id);
    assert.equal((await svc.waitFor(first.id, 5)).state, 'succeeded');
    await sleep(50);
    assert.deepEqual(runner.started.map((s) => s.id), [first.id]);
    await assert.rejects(svc.cancel(second.id), errorCode('OPERATION_CONFLICT'));
    await assert.rejects(svc.cancel(first.id), errorCode('OPERATION_CONFLICT'));
  });

  it('cancels a running operation: cancelling with its signal aborted at once, then cancelled', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'block' } });
    await runner.whenStarted(operation.id);
    const ctx = runner.ctxOf(operation.id);
    const stream = await svc.events(operation.id);
    const answer = svc.cancel(operation.id);
    assert.ok(ctx.signal.aborted, 'signal aborted by the cancel call itself');
    assert.equal((ctx.signal.reason as DomainError).code, 'ABORTED');
    const again = svc.cancel(operation.id);
    assert.equal((await answer).state, 'cancelling');
    assert.equal((await again).state, 'cancelling', 'cancelling twice changes nothing');
    const final = await svc.waitFor(operation.id, 5);
    assert.equal(final.state, 'cancelled');
    assert.equal(final.error, undefined);
    assert.deepEqual(describeEvents(await collect(stream)), ['state:running', 'state:cancelling', 'state:cancelled']);
  });

  it('forgets finished operations only', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'block' } });
    await runner.whenStarted(operation.id);
    await assert.rejects(svc.forget(operation.id), errorCode('OPERATION_CONFLICT'));
    runner.release(operation.id);
    await svc.waitFor(operation.id, 5);
    await svc.forget(operation.id);
    await assert.rejects(svc.get(operation.id), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.forget(operation.id), errorCode('OPERATION_NOT_FOUND'));
  });
});

describe('OperationsService: idempotency and secrets', () => {
  it('same key and request → the same operation; a different request → IDEMPOTENCY_KEY_REUSED (422)', async () => {
    const svc = start(tempDir());
    const a = await svc.submit({ kind: 'copy', request: { source: 's', destination: 'd', multiArch: 'all' }, idempotencyKey: 'key-1' });
    const b = await svc.submit({ kind: 'copy', request: { multiArch: 'all', destination: 'd', source: 's', unset: undefined }, idempotencyKey: 'key-1' });
    assert.equal(b.created, false);
    assert.equal(b.operation.id, a.operation.id);
    const err = await svc.submit({ kind: 'copy', request: { source: 's', destination: 'other' }, idempotencyKey: 'key-1' }).catch((e: unknown) => e);
    assert.ok(err instanceof DomainError && err.code === 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(problemFromError(err, '/v1/copies').status, 422);
    const c = await svc.submit({ kind: 'copy', request: { source: 's', destination: 'd', multiArch: 'all' }, idempotencyKey: 'key-2' });
    assert.equal(c.created, true);
    assert.notEqual(c.operation.id, a.operation.id);
    const d = await svc.submit({ kind: 'copy', request: { source: 's', destination: 'd', multiArch: 'all' } });
    assert.notEqual(d.operation.id, a.operation.id, 'without a key every submission is new');
  });

  it('hashes the canonical JSON of kind and request', () => {
    assert.equal(canonicalJson({ b: [1, { d: 2, c: undefined, a: null }], a: 'x' }), '{"a":"x","b":[1,{"a":null,"d":2}]}');
    assert.equal(requestHash('copy', { a: 1, b: 2 }), requestHash('copy', { b: 2, a: 1 }));
    assert.notEqual(requestHash('copy', { a: 1 }), requestHash('sync', { a: 1 }));
  });

  it('hands secrets to the runner and never stores them', async () => {
    const dir = tempDir();
    const runner = new TestRunner();
    const svc = start(dir, { runners: [runner] });
    const secret = 'hunter2-very-secret-password';
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'succeed' }, secrets: { sourceAuth: { username: 'u', password: secret } } });
    const done = await svc.waitFor(operation.id, 5);
    assert.equal(done.state, 'succeeded');
    const ctx = runner.ctxOf(operation.id);
    assert.deepEqual(ctx.secrets, { sourceAuth: { username: 'u', password: secret } });
    assert.equal(ctx.hadSecrets, true);
    assert.doesNotMatch(JSON.stringify(done), /hunter2/);
    await shutdown(svc);
    for (const f of readdirSync(dir).filter((f) => f.startsWith('skiff.db'))) {
      assert.ok(!readFileSync(join(dir, f)).includes(secret), `${f} contains the secret`);
    }
    const plain = new TestRunner();
    const svc2 = start(tempDir(), { runners: [plain] });
    const { operation: p } = await svc2.submit({ kind: 'copy', request: { mode: 'succeed' } });
    await svc2.waitFor(p.id, 5);
    assert.equal(plain.ctxOf(p.id).hadSecrets, false);
    assert.equal(plain.ctxOf(p.id).secrets, undefined);
  });
});

describe('OperationsService: list', () => {
  it('pages newest first with an opaque cursor, and filters by state and kind', async () => {
    const svc = start(tempDir(), { runners: [new TestRunner('copy'), new TestRunner('sync')] });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const { operation } = await svc.submit({ kind: i % 3 === 0 ? 'sync' : 'copy', request: { mode: i === 4 ? 'fail' : 'succeed', n: i } });
      ids.push(operation.id);
    }
    for (const id of ids) await svc.waitFor(id, 5);
    const seen: string[] = [];
    let token: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await svc.list({ pageSize: 3, pageToken: token });
      sizes.push(page.operations.length);
      seen.push(...page.operations.map((o) => o.id));
      token = page.nextPageToken;
    } while (token);
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal((await svc.list({ pageSize: 7 })).nextPageToken, undefined);
    assert.equal((await svc.list()).operations.length, 7);
    assert.deepEqual((await svc.list({ kind: 'sync' })).operations.map((o) => o.id), [ids[6], ids[3], ids[0]]);
    assert.deepEqual((await svc.list({ state: 'failed' })).operations.map((o) => o.id), [ids[4]]);
    assert.deepEqual((await svc.list({ state: 'failed', kind: 'sync' })).operations, []);
    await assert.rejects(svc.list({ pageToken: 'garbage!' }), errorCode('INVALID_ARGUMENT'));
    await assert.rejects(svc.list({ pageToken: Buffer.from('not-an-id').toString('base64url') }), errorCode('INVALID_ARGUMENT'));
    await assert.rejects(svc.list({ pageSize: 0 }), errorCode('INVALID_ARGUMENT'));
    await assert.rejects(svc.list({ pageSize: 501 }), errorCode('INVALID_ARGUMENT'));
  });
});

describe('OperationsService: progress and events', () => {
  it('merges progress, writes it at most every 250 ms and at the end', async () => {
    const svc = start(tempDir());
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'progress' } });
    await eventually(async () => (await svc.get(operation.id)).progress.bytesDone === 200, 'the throttled progress to be stored', 2000);
    const done = await svc.waitFor(operation.id, 5);
    assert.deepEqual(done.progress, { ...emptyProgress('done'), bytesTotal: 200, bytesDone: 200, blobsDone: 3 });
    const log = await collect(await svc.events(operation.id, { afterSeq: 0 }));
    const progress = log.filter((e) => e.type === 'progress');
    assert.ok(progress.length >= 2 && progress.length <= 4, `200 updates in one burst give few progress events, got ${progress.length}`);
    assert.deepEqual(progress.at(-1)!.data, { ...emptyProgress('copying'), bytesTotal: 200, bytesDone: 200, blobsDone: 3 });
    assert.deepEqual(describeEvents(log).slice(-2), ['result', 'state:succeeded']);
  });

  it('streams live events, resumes after a seq, and opens with the current state', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'block' } });
    await runner.whenStarted(operation.id);
    const fresh = await svc.events(operation.id);
    const first = await fresh.next();
    assert.equal(first.done, false);
    assert.equal(first.value!.type, 'state');
    assert.equal(stateOf(first.value!), 'running');
    assert.equal(first.value!.seq, 2, 'the snapshot carries the seq of the latest event');
    const fromStart = await svc.events(operation.id, { afterSeq: 0 });
    const beyond = await svc.events(operation.id, { afterSeq: 99 });
    runner.ctxOf(operation.id).progress({ phase: 'copying', bytesDone: 5 });
    runner.release(operation.id, { digest: 'sha256:live' });
    const rest = await collect(fresh);
    assert.deepEqual(describeEvents(rest), ['progress', 'result', 'state:succeeded']);
    assert.deepEqual(rest.map((e) => e.seq), [3, 4, 5]);
    assert.deepEqual(describeEvents(await collect(fromStart)), ['state:queued', 'state:running', 'progress', 'result', 'state:succeeded']);
    assert.deepEqual(describeEvents(await collect(beyond)), ['state:running', 'progress', 'result', 'state:succeeded'], 'a seq ahead of the log restarts from a snapshot');
    assert.deepEqual(describeEvents(await collect(await svc.events(operation.id, { afterSeq: 3 }))), ['result', 'state:succeeded']);
    assert.deepEqual(describeEvents(await collect(await svc.events(operation.id))), ['state:succeeded']);
    assert.deepEqual(await collect(await svc.events(operation.id, { afterSeq: 5 })), [], 'nothing after the final event: the stream ends');
  });

  it('ends a stream when its signal aborts', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'block' } });
    await runner.whenStarted(operation.id);
    const ac = new AbortController();
    const stream = await svc.events(operation.id, { signal: ac.signal });
    const collected = collect(stream);
    await sleep(20);
    ac.abort();
    assert.deepEqual(describeEvents(await collected), ['state:running']);
  });
});

describe('OperationsService: restarts', () => {
  function seed(dataDir: string, ops: Partial<StoredOperation>[]): StoredOperation[] {
    const store = OperationStore.open(join(dataDir, 'skiff.db'));
    const rows = ops.map((o) => {
      const row: StoredOperation = {
        id: newOperationId(),
        kind: 'copy',
        state: 'queued',
        createdAt: new Date().toISOString(),
        request: { mode: 'succeed' },
        progress: emptyProgress('queued'),
        requestHash: 'h',
        hadSecrets: false,
        ...o,
      };
      store.insert(row);
      store.appendEvent(row.id, 'state', publicOperation(row), row.createdAt);
      return row;
    });
    store.close();
    return rows;
  }

  it('re-runs operations a dead process left running or queued; fails those whose secrets were lost; finishes cancelling ones', async () => {
    const dir = tempDir();
    const startedAt = new Date().toISOString();
    const [running, runningSecret, queued, queuedSecret, cancelling, sync] = seed(dir, [
      { state: 'running', startedAt, request: { mode: 'succeed', n: 'r' }, progress: { ...emptyProgress('copying'), bytesDone: 7 } },
      { state: 'running', startedAt, hadSecrets: true },
      { state: 'queued', request: { mode: 'succeed', n: 'q' } },
      { state: 'queued', hadSecrets: true },
      { state: 'cancelling', startedAt },
      { state: 'queued', kind: 'sync' },
    ]);
    const runner = new TestRunner();
    const svc = start(dir, { runners: [runner] });
    const r = await svc.waitFor(running!.id, 5);
    assert.equal(r.state, 'succeeded');
    assert.deepEqual(r.result, { digest: 'sha256:r' });
    assert.equal((await svc.waitFor(queued!.id, 5)).state, 'succeeded');
    for (const lost of [runningSecret!, queuedSecret!]) {
      const op = await svc.get(lost.id);
      assert.equal(op.state, 'failed');
      assert.equal(op.error?.code, 'CREDENTIALS_UNAVAILABLE');
      assert.equal(op.error?.detail, "the request's inline credentials (sourceAuth/destinationAuth) are not kept across a restart; submit it again");
      assert.equal(op.error?.instance, `/v1/operations/${lost.id}`);
      assert.ok(op.finishedAt);
    }
    assert.equal((await svc.get(cancelling!.id)).state, 'cancelled');
    const orphan = await svc.waitFor(sync!.id, 5);
    assert.equal(orphan.state, 'failed', 'a kind nobody runs fails instead of waiting forever');
    assert.equal(orphan.error?.code, 'OPERATION_NOT_SUPPORTED');
    assert.deepEqual(runner.started.map((s) => s.id).sort(), [running!.id, queued!.id].sort());
    const log = await collect(await svc.events(running!.id, { afterSeq: 0 }));
    assert.deepEqual(describeEvents(log), ['state:running', 'state:queued', 'state:running', 'result', 'state:succeeded']);
  });

  it('prunes operations finished longer ago than the retention, with their events', async () => {
    const dir = tempDir();
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
    const [old, recent, oldFailed, oldQueued] = seed(dir, [
      { state: 'succeeded', finishedAt: hoursAgo(169) },
      { state: 'succeeded', finishedAt: hoursAgo(167) },
      { state: 'failed', finishedAt: hoursAgo(1000) },
      { state: 'queued', createdAt: hoursAgo(1000), request: { mode: 'block' } },
    ]);
    const svc = start(dir);
    await assert.rejects(svc.get(old!.id), errorCode('OPERATION_NOT_FOUND'));
    await assert.rejects(svc.get(oldFailed!.id), errorCode('OPERATION_NOT_FOUND'));
    assert.ok(await svc.get(recent!.id));
    assert.ok(await svc.get(oldQueued!.id));
    await shutdown(svc);
    const store = OperationStore.open(join(dir, 'skiff.db'));
    assert.deepEqual(store.eventsAfter(old!.id, 0), []);
    assert.equal(store.eventsAfter(recent!.id, 0).length, 1);
    store.close();
    const short = start(dir, { env: { SKIFF_OPERATION_RETENTION_HOURS: '1' } });
    assert.equal(short.prune(), 0, 'already pruned at start');
    await assert.rejects(short.get(recent!.id), errorCode('OPERATION_NOT_FOUND'));
  });

  it('shutdown lets runs finish within the grace period', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { env: { SKIFF_SHUTDOWN_GRACE_SECONDS: '5' }, runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'block' } });
    await runner.whenStarted(operation.id);
    setTimeout(() => runner.release(operation.id), 100);
    const t = Date.now();
    await svc.stop();
    assert.ok(Date.now() - t < 4000);
    assert.equal((await svc.get(operation.id)).state, 'succeeded');
  });

  it('shutdown does not wait forever for a run that ignores its signal', async () => {
    const runner = new TestRunner();
    const svc = start(tempDir(), { runners: [runner] });
    const { operation } = await svc.submit({ kind: 'copy', request: { mode: 'ignore-abort' } });
    await runner.whenStarted(operation.id);
    const t = Date.now();
    await svc.stop();
    assert.ok(Date.now() - t < 7000);
    assert.equal((await svc.get(operation.id)).state, 'queued');
    runner.release(operation.id);
    await sleep(20);
    assert.equal((await svc.get(operation.id)).state, 'queued', 'what the run does afterwards is ignored');
  });

  it('shutdown puts interrupted runs back to queued (cancelling ones end cancelled), and the next start runs them again', async () => {
    const dir = tempDir();
    const runner = new TestRunner();
    const svc = start(dir, { env: { SKIFF_SHUTDOWN_GRACE_SECONDS: '0' }, runners: [runner] });
    const a = (await svc.submit({ kind: 'copy', request: { mode: 'block', n: 'a' } })).operation;
    const b = (await svc.submit({ kind: 'copy', request: { mode: 'block', n: 'b' } })).operation;
    await runner.whenStarted(a.id);
    await runner.whenStarted(b.id);
    const stream = await svc.events(a.id);
    await svc.cancel(b.id);
    await svc.stop();
    assert.ok(runner.ctxOf(a.id).signal.aborted);
    const requeued = await svc.get(a.id);
    assert.equal(requeued.state, 'queued');
    assert.equal(requeued.startedAt, undefined);
    assert.equal(requeued.progress.phase, 'queued');
    assert.equal((await svc.get(b.id)).state, 'cancelled');
    assert.deepEqual(describeEvents(await collect(stream)), ['state:running', 'state:queued'], 'streams end when the service stops');
    const late = (await svc.submit({ kind: 'copy', request: { mode: 'succeed', n: 'late' } })).operation;
    await sleep(50);
    assert.equal((await svc.get(late.id)).state, 'queued', 'nothing starts after shutdown began');
    await shutdown(svc);

    const next = new TestRunner();
    const svc2 = start(dir, { runners: [next] });
    await next.whenStarted(a.id);
    next.release(a.id, { digest: 'sha256:again' });
    const again = await svc2.waitFor(a.id, 5);
    assert.equal(again.state, 'succeeded');
    assert.deepEqual(again.result, { digest: 'sha256:again' });
    assert.equal((await svc2.waitFor(late.id, 5)).state, 'succeeded');
  });
});
