import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { emptyProgress } from '../copy-engine/transfer-progress';
import { DomainError } from '../errors/domain-error';
import { problemFromError } from '../http/problem';
import { newOperationId } from './operation-id';
import { ALICE, BOB, ME, OPERATOR, TestRunner, cleanUpAfterTests, collect, copy, describeEvents, digestResult, errorCode, eventually, start, submit, sync, tempDir } from './testing/operations-harness';

/** OperationsService: lifecycle, ownership, waiting, bounds, cancel and forget. */
Logger.overrideLogger(false);
cleanUpAfterTests();

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
