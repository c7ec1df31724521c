import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PrincipalDirectory } from '../auth/principal-directory';
import { AuthFailureLimiter, clientKey } from './auth-failure-limiter';
import { authenticationMiddleware } from './authentication.middleware';
import { ClientAddresses } from './client-address';

describe('AuthFailureLimiter', () => {
  it('blocks an address after `limit` failures for the rest of its minute, then lets it try again', () => {
    let now = 1_000_000;
    const l = new AuthFailureLimiter({ limitPerMinute: 3, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(l.retryAfterSeconds('10.0.0.1'), undefined);
      l.recordFailure('10.0.0.1');
    }
    assert.equal(l.retryAfterSeconds('10.0.0.1'), 60);
    assert.equal(l.retryAfterSeconds('10.0.0.2'), undefined, 'another address is not affected');
    now += 59_500;
    assert.equal(l.retryAfterSeconds('10.0.0.1'), 1);
    now += 500;
    assert.equal(l.retryAfterSeconds('10.0.0.1'), undefined);
    l.recordFailure('10.0.0.1');
    assert.equal(l.retryAfterSeconds('10.0.0.1'), undefined, 'a new minute starts from one failure');
  });

  it('tracks at most maxClients addresses, dropping expired ones first, then the oldest', () => {
    let now = 0;
    const l = new AuthFailureLimiter({ limitPerMinute: 1, maxClients: 100, now: () => now });
    for (let i = 0; i < 10_000; i++) {
      l.recordFailure(`10.0.${i >> 8}.${i & 255}`);
      assert.ok(l.size <= 100);
      now += 1;
    }
    assert.equal(l.size, 100);
    // the most recent ones are still blocked, the oldest were dropped
    assert.ok(l.retryAfterSeconds(`10.0.${9999 >> 8}.${9999 & 255}`) !== undefined);
    assert.equal(l.retryAfterSeconds('10.0.0.0'), undefined);
    now += 60_000;
    l.recordFailure('192.0.2.1');
    assert.equal(l.size, 1, 'expired entries go when a new one comes');
  });

  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    assert.notEqual(clientKey('2001:db8:1:2::1'), clientKey('2001:db8:1:3::1'));
    assert.equal(clientKey('2001:db8::1'), '2001:db8::/64');
    assert.equal(clientKey('2001:DB8:0:0:1::1'), clientKey('2001:db8::2'), 'one spelling per /64');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80::/64');
    assert.equal(clientKey('::1'), '::/64');
    // the /64 is the first four groups, wherever the '::' and an embedded IPv4 tail are
    assert.equal(clientKey('1::2:3:4:5:6.7.8.9'), '1:0:2:3::/64');
    assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
    assert.equal(clientKey(undefined), 'unknown');
  });
});

describe('authenticationMiddleware with a failed-attempt limit', () => {
  const directory = new PrincipalDirectory({ apiTokens: ['good-token-0123456789'], principals: [] });
  const servers: Server[] = [];
  const start = async (exemptLoopback: boolean, trustedProxies: string[] = []): Promise<string> => {
    const auth = authenticationMiddleware({
      directory,
      metricsPublic: false,
      checkHost: false,
      allowedHosts: [],
      failureLimiter: new AuthFailureLimiter({ limitPerMinute: 3 }),
      failureLimitExemptsLoopback: exemptLoopback,
      clientAddresses: new ClientAddresses(trustedProxies),
    });
    const server = createServer((req, res) => auth(req, res, () => res.end((req as { principal?: { name: string } }).principal?.name)));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const get = (base: string, path: string, token?: string, raw?: string) =>
    fetch(base + path, { headers: raw !== undefined ? { authorization: raw } : token !== undefined ? { authorization: `Bearer ${token}` } : {} });
  let limited: string;
  let exempt: string;
  before(async () => {
    limited = await start(false);
    exempt = await start(true);
  });
  after(() => {
    for (const s of servers) s.close();
  });

  it('answers 401 for the first bad tokens, then 429 with Retry-After, even for a good token and on open paths; requests without a token are not counted', async () => {
    assert.equal((await get(limited, '/v1/credentials', 'good-token-0123456789')).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await get(limited, '/v1/credentials')).status, 401, 'no Authorization header: not an attempt');
    assert.equal((await get(limited, '/v1/credentials', 'guess-1')).status, 401);
    assert.equal((await get(limited, '/healthz', 'guess-2')).status, 200, 'an open path lets the anonymous through, but the bad token counts');
    assert.equal((await get(limited, '/v1/credentials', undefined, 'Basic Zm9vOmJhcg==')).status, 401);
    const refused = await get(limited, '/v1/credentials', 'guess-4');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const problem = (await refused.json()) as { code: string; detail: string; retryable: boolean };
    assert.equal(problem.code, 'TOO_MANY_REQUESTS');
    assert.match(problem.detail, /too many failed authentication attempts .*SKIFF_AUTH_FAILURES_PER_MINUTE/);
    assert.equal(problem.retryable, true);
    // while blocked a valid token is not looked at either: the answer tells nothing about it
    assert.equal((await get(limited, '/v1/credentials', 'good-token-0123456789')).status, 429);
    const open = await get(limited, '/healthz', 'good-token-0123456789');
    assert.equal(await open.text(), 'anonymous', 'an open path serves it as the anonymous caller, its token unread');
    assert.equal((await get(limited, '/healthz')).status, 200, 'probes without a token still answer');
  });

  it('a valid token between failures does not reset their count', async () => {
    const fresh = await start(false);
    for (let i = 0; i < 2; i++) assert.equal((await get(fresh, '/v1/credentials', `guess-${i}`)).status, 401);
    for (let i = 0; i < 5; i++) assert.equal((await get(fresh, '/v1/credentials', 'good-token-0123456789')).status, 200);
    assert.equal((await get(fresh, '/v1/credentials', 'guess-2')).status, 401);
    assert.equal((await get(fresh, '/v1/credentials', 'good-token-0123456789')).status, 429);
  });

  it('behind a trusted proxy each client has its own budget, under the address the proxy saw, not one it wrote', async () => {
    const proxied = await start(false, ['127.0.0.0/8']);
    const via = (forwardedFor: string, token: string) => fetch(`${proxied}/v1/credentials`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': forwardedFor } });
    for (let i = 0; i < 3; i++) assert.equal((await via('198.51.100.1', `guess-${i}`)).status, 401);
    assert.equal((await via('198.51.100.1', 'guess-3')).status, 429, 'the guessing client is blocked');
    assert.equal((await via('198.51.100.2', 'good-token-0123456789')).status, 200, 'another client behind the same proxy is not');
    assert.equal((await via('203.0.113.5, 198.51.100.1', 'guess-4')).status, 429, 'a hop the client wrote itself does not change its address');
    const direct = await start(false);
    for (let i = 0; i < 3; i++) await fetch(`${direct}/v1/credentials`, { headers: { authorization: `Bearer guess-${i}`, 'x-forwarded-for': `198.51.100.${i}` } });
    assert.equal((await get(direct, '/v1/credentials', 'good-token-0123456789')).status, 429, 'without trusted proxies the header is ignored');
  });

  it('loopback is not counted when exempt', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await get(exempt, '/v1/credentials', 'good-token-0123456789')).status, 200);
    for (let i = 0; i < 10; i++) assert.equal((await get(exempt, '/v1/credentials', `guess-${i}`)).status, 401);
    assert.equal((await get(exempt, '/v1/credentials', 'good-token-0123456789')).status, 200);
  });
});
