import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { AbortedError, DomainError } from './domain-error';
import { untilAborted } from './abortable-wait';

test('untilAborted: settles with p, and leaves no listener on a long-lived signal', async () => {
  const ac = new AbortController();
  for (let i = 0; i < 100; i++) {
    assert.equal(await untilAborted(Promise.resolve(i), ac.signal), i);
    await assert.rejects(untilAborted(Promise.reject(new Error(`no ${i}`)), ac.signal), /no/);
  }
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});

test('untilAborted: an abort, before or during the wait, rejects at once; a DomainError reason is kept', async () => {
  const never = new Promise<never>(() => undefined);
  const before = new AbortController();
  before.abort();
  await assert.rejects(untilAborted(never, before.signal), AbortedError);
  const during = new AbortController();
  const waiting = untilAborted(never, during.signal);
  during.abort(new DomainError('UPSTREAM_TIMEOUT', 'budget spent'));
  await assert.rejects(waiting, (e: unknown) => e instanceof DomainError && e.code === 'UPSTREAM_TIMEOUT');
  assert.equal(getEventListeners(during.signal, 'abort').length, 0);
  const custom = new AbortController();
  const c = untilAborted(never, custom.signal, () => new AbortedError('the sync was cancelled'));
  custom.abort(new DomainError('UPSTREAM_TIMEOUT', 'x'));
  await assert.rejects(c, /the sync was cancelled/);
});
