import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, DomainError } from '../errors/domain-error';
import { HostLimiter, InFlightBlobs } from './host-limiter';

test('never runs more than perHost tasks on one host, across callers', async () => {
  const limiter = new HostLimiter(2);
  let running = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      limiter.run(['a', i % 2 ? 'b' : 'a'], undefined, async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(5);
        running--;
      }),
    ),
  );
  assert.ok(peak <= 2, `peak ${peak}`);
});

test('a waiting task can be aborted and frees its place in the queue', async () => {
  const limiter = new HostLimiter(1);
  let release!: () => void;
  const holder = limiter.run(['h'], undefined, () => new Promise<void>((r) => (release = r)));
  const ac = new AbortController();
  const waiting = limiter.run(['h'], ac.signal, async () => 'never');
  ac.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  release();
  await holder;
  assert.equal(await limiter.run(['h'], undefined, async () => 'next'), 'next');
});

test('a signal aborted before the wait ends it at once, and idle hosts keep no entry', async () => {
  const limiter = new HostLimiter(1);
  let release!: () => void;
  const holder = limiter.run(['h'], undefined, () => new Promise<void>((r) => (release = r)));
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  let ran = false;
  await assert.rejects(
    limiter.run(['h'], ac.signal, async () => {
      ran = true;
    }),
    /gone/,
  );
  assert.equal(ran, false);
  // a waiter aborted while queued leaves no queue behind
  const ac2 = new AbortController();
  const waiting = limiter.run(['h'], ac2.signal, async () => 'never');
  ac2.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  release();
  await holder;
  for (let i = 0; i < 100; i++) await limiter.run([`host-${i}`, 'h'], undefined, async () => undefined);
  assert.equal(limiter.hostCount, 0);
});

test('InFlightBlobs shares one transfer between concurrent callers and forgets failures', async () => {
  const inflight = new InFlightBlobs();
  let calls = 0;
  const work = async () => {
    calls++;
    await sleep(5);
    return 'done';
  };
  const [a, b] = await Promise.all([inflight.once('k', work), inflight.once('k', work)]);
  assert.equal(calls, 1);
  assert.deepEqual([a.shared, b.shared].sort(), [false, true]);
  await assert.rejects(inflight.once('f', async () => Promise.reject(new Error('boom'))));
  assert.equal((await inflight.once('f', async () => 'retried')).value, 'retried');
});

test("InFlightBlobs: the caller's signal reaches the fleet gate, and ends a wait for another job's transfer", async () => {
  const seen: (AbortSignal | undefined)[] = [];
  const gate = { run: <T>(_key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }) => (seen.push(options?.signal), fn()) };
  const inflight = new InFlightBlobs(gate);
  const mine = new AbortController();
  let finish!: () => void;
  const first = inflight.once('docker://reg/repo|sha256:a', () => new Promise<string>((resolve) => (finish = () => resolve('done'))), { signal: mine.signal });
  assert.deepEqual(seen, [mine.signal]);
  const other = new AbortController();
  const waiting = inflight.once('docker://reg/repo|sha256:a', async () => 'mine', { signal: other.signal });
  other.abort();
  await assert.rejects(waiting, (e: unknown) => e instanceof DomainError && e.code === 'ABORTED');
  finish();
  assert.deepEqual(await first, { value: 'done', shared: false });
  const pre = new AbortController();
  pre.abort(new AbortedError('already'));
  await assert.rejects(inflight.once('docker://reg/repo|sha256:b', async () => 'x', { signal: pre.signal }), /already/);
});
