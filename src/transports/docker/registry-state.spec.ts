import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../../errors/domain-error';
import { RegistryStates, parseRateLimitValue, rateLimitFromHeaders } from './registry-state';

describe('rate-limit headers', () => {
  it('reads Docker Hub style values with their window, and the X- spellings', () => {
    assert.deepEqual(parseRateLimitValue('100;w=21600'), { value: 100, windowSeconds: 21600 });
    assert.deepEqual(parseRateLimitValue(' 76 ; w=21600 ; policy=x'), { value: 76, windowSeconds: 21600 });
    assert.deepEqual(parseRateLimitValue('5'), { value: 5, windowSeconds: undefined });
    assert.equal(parseRateLimitValue('many'), undefined);
    assert.equal(parseRateLimitValue(''), undefined);
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.deepEqual(rateLimitFromHeaders({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'ratelimit-reset': '60' }, now), {
      limit: 100,
      remaining: 76,
      windowSeconds: 21600,
      resetAt: '2030-01-01T00:01:00.000Z',
    });
    assert.deepEqual(rateLimitFromHeaders({ 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': '1893456060' }, now), {
      limit: 5000,
      remaining: 4999,
      resetAt: '2030-01-01T00:01:00.000Z',
    });
    assert.equal(rateLimitFromHeaders({}), undefined);
  });

  it('a hostile value costs linear time', { timeout: 10_000 }, () => {
    assert.equal(parseRateLimitValue(';w='.repeat(50_000)), undefined);
    assert.deepEqual(parseRateLimitValue('1' + ';w=2'.repeat(50_000))?.value, 1);
  });
});

describe('RegistryStates', () => {
  it('keeps reachability, auth scheme, rate limit and the last error per registry', () => {
    const changes: string[] = [];
    const s = new RegistryStates({ onChange: (st) => changes.push(st.registry) });
    assert.equal(s.get('r.example'), undefined);
    s.onPing('r.example', [{ scheme: 'bearer' }]);
    s.onAnswer('r.example', { 'ratelimit-remaining': '3;w=60' });
    s.onError('r.example', new DomainError('UPSTREAM_UNAVAILABLE', 'cannot reach', { registry: 'r.example' }));
    const st = s.get('r.example')!;
    assert.equal(st.authScheme, 'bearer');
    assert.deepEqual(st.rateLimit, { remaining: 3, windowSeconds: 60 });
    assert.equal(st.reachable, false);
    assert.equal(st.lastError?.code, 'UPSTREAM_UNAVAILABLE');
    s.onError('r.example', new DomainError('ABORTED', 'cancelled'));
    assert.equal(s.get('r.example')!.lastError?.code, 'UPSTREAM_UNAVAILABLE', 'a cancellation is not an error of the registry');
    assert.ok(changes.length >= 3);
  });

  it('holds off a host after a 429 and is bounded in count', () => {
    const s = new RegistryStates({ max: 100 });
    assert.equal(s.heldFor('h'), 0);
    s.holdOff('h', Date.now() + 5_000);
    assert.ok(s.heldFor('h') > 4_000);
    for (let i = 0; i < 10_000; i++) s.onAnswer(`host-${i}`, {});
    assert.equal(s.get('host-0'), undefined);
    assert.ok(s.get('host-9999'));
  });
});
