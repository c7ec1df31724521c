import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { DomainError } from '../../errors/domain-error';
import type { RegistryResponse } from './registry-exchange';
import { ANONYMOUS_IDENTITY, credentialIdentity } from './credential-identity';
import { RegistryRetry, parseRetryAfter, upstreamFailure } from './registry-retry';
import { RegistryStates } from './registry-state';
import type { UpstreamRequestEvent } from './upstream-observer';

const answer = (status: number, headers: Record<string, string> = {}): RegistryResponse => ({ status, headers, body: Readable.from([]), buffered: { bytes: Buffer.alloc(0) }, url: 'http://r/x' });
const reset = (): Error => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

function retrier(events: UpstreamRequestEvent[] = [], retryTimes = 3): RegistryRetry {
  return new RegistryRetry({ retryTimes, maxRetryAfterMs: 2000, baseBackoffMs: 1, limits: { connectTimeoutMs: 5000, firstByteTimeoutMs: 5000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 30_000 }, observer: { onUpstreamRequest: (e) => events.push(e) } });
}

/** A send() that plays the given outcomes in order. */
function script(outcomes: Array<RegistryResponse | Error>): { send: () => Promise<RegistryResponse>; calls: () => number } {
  let i = 0;
  return {
    send: async () => {
      const o = outcomes[Math.min(i++, outcomes.length - 1)]!;
      if (o instanceof Error) throw o;
      return o;
    },
    calls: () => i,
  };
}

const base = { registry: 'r:5000', method: 'GET', operation: 'manifest', what: 'reading manifest', identity: 'anonymous' };

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, ignores garbage', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(' 0 '), 0);
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Tue, 01 Jan 2030 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Tue, 01 Jan 2029 00:00:05 GMT', now), 0);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter('9'.repeat(100)), undefined);
  });
});

describe('RegistryRetry', () => {
  it('retries 5xx and 429 answers and returns the first good one, reporting every attempt', async () => {
    const events: UpstreamRequestEvent[] = [];
    const s = script([answer(503), answer(429, { 'retry-after': '0' }), answer(200)]);
    const res = await retrier(events).run({ ...base, send: s.send });
    assert.equal(res.status, 200);
    assert.deepEqual(events.map((e) => e.status), [503, 429, 200]);
  });

  it('hands back the last retryable answer once the retries are used up', async () => {
    const s = script([answer(503)]);
    assert.equal((await retrier([], 2).run({ ...base, send: s.send })).status, 503);
    assert.equal(s.calls(), 3);
  });

  it('does not retry a 4xx, nor a request whose body can be sent once', async () => {
    const s = script([answer(404)]);
    assert.equal((await retrier().run({ ...base, send: s.send })).status, 404);
    assert.equal(s.calls(), 1);
    const once = script([answer(503), answer(200)]);
    assert.equal((await retrier().run({ ...base, send: once.send, retry: false })).status, 503);
    assert.equal(once.calls(), 1);
  });

  it('a Retry-After longer than it waits is handed back at once', async () => {
    const s = script([answer(429, { 'retry-after': '60' }), answer(200)]);
    assert.equal((await retrier().run({ ...base, send: s.send })).status, 429);
    assert.equal(s.calls(), 1);
  });

  it('retries connection resets, then fails with a domain error naming the request', async () => {
    const recovered = script([reset(), answer(200)]);
    assert.equal((await retrier().run({ ...base, send: recovered.send })).status, 200);
    const broken = script([reset()]);
    await assert.rejects(retrier([], 1).run({ ...base, send: broken.send }), (e: unknown) => e instanceof DomainError && e.code === 'UPSTREAM_UNAVAILABLE' && /reading manifest: cannot reach registry r:5000/.test(e.message));
    assert.equal(broken.calls(), 2);
  });

  it('an error that is not a network failure is not retried', async () => {
    const s = script([new DomainError('BODY_TOO_LARGE', 'too big'), answer(200)]);
    await assert.rejects(retrier().run({ ...base, send: s.send }), (e: unknown) => e instanceof DomainError && e.code === 'BODY_TOO_LARGE');
    assert.equal(s.calls(), 1);
  });

  it('an aborted signal stops before the next attempt', async () => {
    const controller = new AbortController();
    const s = script([answer(503), answer(200)]);
    const run = retrier().run({
      ...base,
      signal: controller.signal,
      send: async () => {
        controller.abort();
        return s.send();
      },
    });
    await assert.rejects(run, (e: unknown) => e instanceof DomainError && e.code === 'ABORTED');
  });
});

describe('429 hold-offs', () => {
  const states = () => new RegistryStates();
  const holding = (s: RegistryStates) =>
    new RegistryRetry({ retryTimes: 0, maxRetryAfterMs: 2000, baseBackoffMs: 1, limits: { connectTimeoutMs: 5000, firstByteTimeoutMs: 5000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 30_000 }, states: s });
  const alice = credentialIdentity({ kind: 'basic', username: 'alice', password: 'a-secret' });
  const bob = credentialIdentity({ kind: 'basic', username: 'bob', password: 'b-secret' });

  it('a 429 to one identity holds off that identity on that host only', async () => {
    const s = states();
    const r = holding(s);
    const limited = script([answer(429, { 'retry-after': '120' })]);
    assert.equal((await r.run({ ...base, identity: alice, send: limited.send })).status, 429);
    // Alice's next request is not sent: it fails at once, saying how long is left.
    const next = script([answer(200)]);
    await assert.rejects(r.run({ ...base, identity: alice, send: next.send }), (e: unknown) => e instanceof DomainError && e.code === 'RATE_LIMITED' && /requests with these credentials to it are held for 1[12]\d s more/.test(e.message));
    assert.equal(next.calls(), 0);
    // Bob (other credentials), anonymous callers, and Alice on another host go on at once.
    for (const req of [{ identity: bob }, { identity: ANONYMOUS_IDENTITY }, { identity: alice, registry: 'other:5000' }]) {
      const go = script([answer(200)]);
      assert.equal((await r.run({ ...base, ...req, send: go.send })).status, 200, JSON.stringify(req));
      assert.equal(go.calls(), 1);
    }
  });

  it('anonymous 429s hold off anonymous requests, and say so', async () => {
    const s = states();
    const r = holding(s);
    assert.equal((await r.run({ ...base, identity: ANONYMOUS_IDENTITY, send: script([answer(429, { 'retry-after': '60' })]).send })).status, 429);
    await assert.rejects(r.run({ ...base, identity: ANONYMOUS_IDENTITY, send: script([answer(200)]).send }), (e: unknown) => e instanceof DomainError && /anonymous requests to it are held/.test(e.message));
    assert.equal((await r.run({ ...base, identity: alice, send: script([answer(200)]).send })).status, 200);
  });
});

describe('the call budget', () => {
  const tight = (retryTimes: number) =>
    new RegistryRetry({ retryTimes, maxRetryAfterMs: 2000, baseBackoffMs: 1, limits: { connectTimeoutMs: 1000, firstByteTimeoutMs: 100, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 300 } });

  it('ends a call whose attempts never answer with UPSTREAM_TIMEOUT naming SKIFF_UPSTREAM_TIMEOUT_MS, whatever the retries', async () => {
    let attempts = 0;
    const never = (signal: AbortSignal | undefined) =>
      new Promise<RegistryResponse>((_resolve, reject) => {
        attempts++;
        signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    await assert.rejects(tight(100).run({ ...base, send: never }), (e: unknown) => e instanceof DomainError && e.code === 'UPSTREAM_TIMEOUT' && /SKIFF_UPSTREAM_TIMEOUT_MS=300/.test(e.message));
    assert.equal(attempts, 1);
  });

  it('does not start a backoff that would pass the budget: the last answer is handed back', async () => {
    const s = script([answer(503, { 'retry-after': '1' }), answer(200)]);
    assert.equal((await tight(5).run({ ...base, send: s.send })).status, 503);
    assert.equal(s.calls(), 1);
  });

  it('an upload committing a large blob gets a longer budget', async () => {
    let aborted = false;
    const slow = (signal: AbortSignal | undefined) =>
      new Promise<RegistryResponse>((resolve) => {
        signal?.addEventListener('abort', () => (aborted = true), { once: true });
        setTimeout(() => resolve(answer(201)), 500);
      });
    assert.equal((await tight(0).run({ ...base, send: slow, firstByteTimeoutMs: 1100 })).status, 201);
    assert.equal(aborted, false);
  });

  it('maps undici timeouts to the limit that fired', () => {
    const limits = { connectTimeoutMs: 5000, firstByteTimeoutMs: 15000, minBytesPerSecond: 262144, throughputWindowSeconds: 30, callTimeoutMs: 30000 };
    assert.match(upstreamFailure(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'w', 'r', limits).message, /could not connect to r within 5 s \(SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS=5000\)/);
    assert.match(upstreamFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'w', 'r', limits).message, /r sent no answer within 15 s \(SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS=15000\)/);
    assert.match(upstreamFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'w', 'r', limits, 20000).message, /within 20 s \(SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS=15000, plus 1 s per 8 MiB uploaded\)/);
    assert.equal(upstreamFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'w', 'r', limits).code, 'UPSTREAM_TIMEOUT');
    assert.equal(upstreamFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_OVERFLOW' }), 'w', 'r', limits).code, 'UPSTREAM_PROTOCOL_ERROR');
  });
});
