import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError } from '../../errors/domain-error';
import { ANONYMOUS_IDENTITY, credentialIdentity } from './credential-identity';
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

  it('a reset too far ahead to be meant (or to be a date at all) is unknown, not a crash', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    for (const reset of ['99999999999999999', '1e300', String(10 ** 15), '9999999999']) {
      const rl = rateLimitFromHeaders({ 'ratelimit-limit': '100', 'ratelimit-remaining': '0', 'ratelimit-reset': reset }, now);
      assert.deepEqual(rl, { limit: 100, remaining: 0 }, reset);
    }
    const states = new RegistryStates();
    states.onAnswer('r.example', { 'ratelimit-remaining': '0', 'ratelimit-reset': '99999999999999999' }, 'anonymous');
    assert.equal(states.rateLimitFor('r.example', 'anonymous')?.remaining, 0);
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
    assert.equal(s.heldFor('h', 'anonymous'), 0);
    s.holdOff('h', 'anonymous', Date.now() + 5_000);
    assert.ok(s.heldFor('h', 'anonymous') > 4_000);
    for (let i = 0; i < 10_000; i++) s.onAnswer(`host-${i}`, {});
    assert.equal(s.get('host-0'), undefined);
    assert.ok(s.get('host-9999'));
  });

  it('holds off per host and credential identity: other credentials and anonymous callers are not held', () => {
    const s = new RegistryStates();
    const a = credentialIdentity({ kind: 'basic', username: 'alice', password: 'a-secret' });
    const b = credentialIdentity({ kind: 'basic', username: 'bob', password: 'b-secret' });
    s.holdOff('h', a, Date.now() + 5_000);
    assert.ok(s.heldFor('h', a) > 4_000, "A's next request waits");
    assert.equal(s.heldFor('h', b), 0, 'B, with its own credentials, is not held');
    assert.equal(s.heldFor('h', ANONYMOUS_IDENTITY), 0, 'anonymous callers are not held by A');
    assert.equal(s.heldFor('other', a), 0, 'A on another host is not held');
    s.holdOff('h', ANONYMOUS_IDENTITY, Date.now() + 9_000);
    assert.equal(s.heldFor('h', b), 0, 'anonymous pulls held off do not hold B');
    // A hold-off only grows (a shorter Retry-After does not end a longer one); one in the past is none.
    s.holdOff('h', a, Date.now() + 1_000);
    assert.ok(s.heldFor('h', a) > 4_000);
    s.holdOff('h', b, Date.now() - 1_000);
    assert.equal(s.heldFor('h', b), 0);
  });

  it('the registry state names no credential identity', () => {
    const s = new RegistryStates();
    const a = credentialIdentity({ kind: 'basic', username: 'alice', password: 'a-secret' });
    s.onAnswer('h', { 'ratelimit-remaining': '0;w=60' });
    s.holdOff('h', a, Date.now() + 5_000);
    const shown = JSON.stringify(s.get('h'));
    assert.deepEqual(s.get('h')!.rateLimit, { remaining: 0, windowSeconds: 60 }, "the host's announced rate limit is still shown");
    for (const secret of [a, 'alice', 'a-secret']) assert.ok(!shown.includes(secret), shown);
  });

  it('keeps the rate limit announced per credential identity, bounded, beside the host-wide last one', () => {
    const s = new RegistryStates({ maxCredentialRateLimits: 20 });
    const a = credentialIdentity({ kind: 'basic', username: 'alice', password: 'a-secret' });
    const b = credentialIdentity({ kind: 'basic', username: 'bob', password: 'b-secret' });
    s.onAnswer('h', { 'ratelimit-limit': '100;w=60', 'ratelimit-remaining': '0;w=60' }, a);
    s.onAnswer('h', { 'ratelimit-remaining': '42;w=60' }, b);
    s.onAnswer('h', {}, a);
    assert.deepEqual(s.rateLimitFor('h', a), { limit: 100, remaining: 0, windowSeconds: 60 });
    assert.deepEqual(s.rateLimitFor('h', b), { remaining: 42, windowSeconds: 60 });
    assert.equal(s.rateLimitFor('h', ANONYMOUS_IDENTITY), undefined);
    assert.equal(s.get('h')!.rateLimit?.remaining, 42, 'the host state: the last announced');
    for (let i = 0; i < 1000; i++) s.onAnswer('h', { 'ratelimit-remaining': '1' }, `id-${i}`);
    assert.equal(s.rateLimitFor('h', a), undefined, 'the oldest are forgotten beyond the bound');
    assert.ok(s.rateLimitFor('h', 'id-999'));
  });

  it("many hold-offs at one registry evict that registry's own, never another registry's", () => {
    const s = new RegistryStates({ maxHoldOffs: 50 });
    const victim = credentialIdentity({ kind: 'basic', username: 'alice', password: 'a-secret' });
    s.holdOff('hub.example', victim, Date.now() + 60_000);
    s.holdOff('hub.example', ANONYMOUS_IDENTITY, Date.now() + 60_000);
    for (let i = 0; i < 1000; i++) s.holdOff('evil.example', `cred:${i}`, Date.now() + 60_000);
    assert.equal(s.holdOffCount, 50);
    assert.ok(s.heldFor('hub.example', victim) > 0, 'the victim stays held: the registry asked it to back off');
    assert.ok(s.heldFor('hub.example', ANONYMOUS_IDENTITY) > 0);
    assert.ok(s.heldFor('evil.example', 'cred:999') > 0, 'the newest at the crowded registry are kept');
    assert.equal(s.heldFor('evil.example', 'cred:0'), 0);
    // spread over several registries of its own, still only those registries' hold-offs go
    for (let h = 0; h < 10; h++) for (let i = 0; i < 100; i++) s.holdOff(`evil-${h}.example`, `cred:${i}`, Date.now() + 60_000);
    assert.ok(s.heldFor('hub.example', victim) > 0);
    assert.equal(s.holdOffCount, 50);
  });

  it('hold-offs are bounded in count and forgotten when they end', async () => {
    const s = new RegistryStates({ maxHoldOffs: 50 });
    for (let i = 0; i < 10_000; i++) s.holdOff('h', credentialIdentity({ kind: 'registryToken', registryToken: `t${i}` }), Date.now() + 60_000);
    assert.equal(s.holdOffCount, 50);
    const last = credentialIdentity({ kind: 'registryToken', registryToken: 't9999' });
    assert.ok(s.heldFor('h', last) > 0, 'the newest hold-offs are kept');
    const ended = new RegistryStates();
    ended.holdOff('h', last, Date.now() + 5);
    await sleep(50);
    assert.equal(ended.heldFor('h', last), 0);
    assert.equal(ended.holdOffCount, 0, 'an ended hold-off is dropped when looked at');
  });
});

describe('credentialIdentity', () => {
  it('is stable, tells credentials apart, and holds no secret', () => {
    const alice = { kind: 'basic' as const, username: 'alice', password: 'a-secret' };
    assert.equal(credentialIdentity(undefined), ANONYMOUS_IDENTITY);
    assert.equal(credentialIdentity(alice), credentialIdentity({ ...alice }));
    const ids = new Set([
      credentialIdentity(alice),
      credentialIdentity({ ...alice, password: 'other' }),
      credentialIdentity({ kind: 'basic', username: 'alice:a', password: '-secret' }),
      credentialIdentity({ kind: 'basic', username: 'bob', password: 'a-secret' }),
      credentialIdentity({ kind: 'registryToken', registryToken: 'a-secret' }),
      credentialIdentity({ kind: 'identityToken', identityToken: 'a-secret' }),
      ANONYMOUS_IDENTITY,
    ]);
    assert.equal(ids.size, 7);
    const id = credentialIdentity(alice);
    assert.match(id, /^cred:[A-Za-z0-9_-]{22}$/);
    assert.ok(!id.includes('alice') && !id.includes('a-secret'));
  });
});
