import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors/domain-error';
import { BusyLimit } from './busy-limit';

describe('BusyLimit', () => {
  const busy = (e: unknown) => e instanceof DomainError && e.code === 'SERVICE_BUSY' && e.upstream.retryAfterSeconds === 3;

  it('refuses beyond the total and the per-caller bound, and frees slots exactly once', () => {
    const limit = new BusyLimit({ max: 3, perCaller: 2, what: 'archive inspects', setting: 'SKIFF_X', retryAfterSeconds: 3 });
    const a1 = limit.acquire('a');
    const a2 = limit.acquire('a');
    assert.throws(() => limit.acquire('a'), busy, 'a third for the same caller');
    const b1 = limit.acquire('b');
    assert.throws(() => limit.acquire('c'), busy, 'a fourth in total');
    a1();
    a1();
    assert.equal(limit.inUse, 2);
    const c1 = limit.acquire('c');
    for (const release of [a2, b1, c1]) release();
    assert.equal(limit.inUse, 0);
  });
});
