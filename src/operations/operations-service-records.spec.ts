import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { emptyProgress } from '../copy-engine/transfer-progress';
import { SqliteDatabase } from '../database/sqlite-database';
import { DomainError } from '../errors/domain-error';
import { problemFromError } from '../http/problem';
import type { Operation, OperationDraft } from './operation';
import { newOperationId } from './operation-id';
import type { OperationEvent, OperationStore } from './operation-store';
import { MAX_QUEUED_STREAM_EVENTS, canonicalJson, requestHash } from './operations.service';
import { SqliteOperationStore } from './sqlite-operation-store';
import { ME, TestRunner, cleanUpAfterTests, collect, copy, describeEvents, digestResult, errorCode, eventually, shutdown, start, stateOf, submit, sync, tempDir } from './testing/operations-harness';

/** OperationsService: what it records and replays: idempotency and secrets, lists, progress and events, restarts. */
Logger.overrideLogger(false);
cleanUpAfterTests();

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
  it('a stream whose consumer stalls queues a bounded number of events and reads the dropped ones back from the store, in order', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    const inside = svc as unknown as { store: OperationStore; hub: { publish(id: string, events: readonly OperationEvent[]): void } };
    const stream = await svc.events(ME, operation.id);
    const first = (await stream.next()).value as OperationEvent;
    const version = (await inside.store.get(operation.id))!.leaseVersion;
    const n = MAX_QUEUED_STREAM_EVENTS + 500;
    for (let i = 1; i <= n; i++) {
      const event = await inside.store.recordProgress(operation.id, version, { ...emptyProgress('copying'), bytesDone: i });
      // Published marked, to tell what the stream held in memory from what it read back.
      inside.hub.publish(operation.id, [{ ...event!, data: { ...(event!.data as object), phase: 'held' } } as OperationEvent]);
    }
    runner.release(operation.id);
    const rest = await collect(stream);
    assert.deepEqual(
      rest.map((e) => e.seq),
      rest.map((_, i) => first.seq + 1 + i),
      'every event once, in seq order',
    );
    const progress = rest.filter((e) => e.type === 'progress' && (e.data as { bytesDone: number }).bytesDone > 0);
    assert.ok(progress.length >= n);
    const held = progress.filter((e) => (e.data as { phase: string }).phase === 'held').length;
    assert.ok(held <= MAX_QUEUED_STREAM_EVENTS, `${held} events held in memory, at most ${MAX_QUEUED_STREAM_EVENTS} expected`);
    assert.equal(stateOf(rest[rest.length - 1]!), 'succeeded');
  });

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
  it('a lease this replica still holds for a run it stopped lapses, and the operation runs again', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner], env: { SKIFF_LEASE_SECONDS: '2' } });
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    // As when renewals failed for a whole lease: the run stops here, its lease is still ours in the store.
    const worker = (svc as unknown as { worker: { running: Map<string, unknown>; leaseLost(entry: unknown, why: string): void } }).worker;
    worker.leaseLost(worker.running.get(operation.id), 'test');
    await eventually(() => runner.started.filter((s) => s.id === operation.id).length === 2, 'the operation run again', 8000);
    runner.release(operation.id, digestResult('again'));
    const done = await svc.waitFor(ME, operation.id, 5);
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(done.result, digestResult('again'));
  });

  it('a run this replica claims again after its own lease lapsed replaces the stale run: the stale one is aborted, the new one stays tracked', async () => {
    const runner = new TestRunner();
    const svc = await start(tempDir(), { runners: [runner] });
    const store = (svc as unknown as { store: OperationStore }).store;
    const { operation } = await submit(svc, copy('block'));
    await runner.whenStarted(operation.id);
    await store.expireLeases(undefined);
    // The next submit pumps: the lapsed (older) operation is claimed again first, by this replica.
    await submit(svc, copy('succeed', 'wake'));
    await eventually(() => runner.started.filter((s) => s.id === operation.id).length === 2, 'the operation claimed again');
    const [stale, fresh] = runner.started.filter((s) => s.id === operation.id);
    await eventually(() => stale!.ctx.signal.aborted, 'the stale run aborted');
    await sleep(50);
    assert.equal(fresh!.ctx.signal.aborted, false);
    await svc.cancel(ME, operation.id);
    assert.ok(fresh!.ctx.signal.aborted, 'the new run is still tracked: a cancel reaches it');
    assert.equal((await svc.waitFor(ME, operation.id, 5)).state, 'cancelled');
  });

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
