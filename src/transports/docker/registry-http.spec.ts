import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EgressPolicy } from '../../egress/egress-policy';
import { DomainError } from '../../errors/domain-error';
import { RegistryDispatchers } from './registry-dispatchers';
import { RegistryHttp, type RegistryHttpOptions } from './registry-http';
import { listenLoopback, testRegistryHttp } from './testing/loopback-registry';

let server: Server;
let port: number;

before(async () => {
  // A registry answering for any host name: /v2/ asks for a bearer token from its own /token.
  server = createServer((req, res) => {
    const host = req.headers.host ?? '';
    if (req.url?.startsWith('/token')) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `t-${host}`, expires_in: 300 }));
    if (req.headers.authorization !== `Bearer t-${host}`) {
      return res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="s"` }).end('{}');
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

function client(lookupTo: string, bounds: RegistryHttpOptions['bounds']): RegistryHttp {
  return testRegistryHttp({ lookup: async () => [{ address: lookupTo, family: 4 }], bounds });
}

describe('per-host state is bounded', () => {
  it('10,000 different hosts (refused by the egress policy) leave at most the bound of pools and registry states', { timeout: 120_000 }, async () => {
    const http = client('169.254.1.1', { maxDispatchers: 32, maxRegistryStates: 64 });
    try {
      for (let i = 0; i < 10_000; i++) {
        await assert.rejects(
          http.request(`h${i}.example:5000`, { tlsVerify: false }, { method: 'GET', path: '/v2/a/manifests/x', operation: 'manifest', accept: [200], what: 'x' }),
          (e: unknown) => e instanceof DomainError && e.code === 'EGRESS_REFUSED',
        );
      }
      assert.ok(http.stateSizes.dispatchers <= 32, JSON.stringify(http.stateSizes));
      assert.equal(http.registryState('h0.example:5000'), undefined, 'the oldest registries were forgotten');
      assert.equal(http.registryState('h9999.example:5000')?.lastError?.code, 'EGRESS_REFUSED');
    } finally {
      await http.close();
    }
  });

  it('hosts that answer: pools, endpoints and tokens stay within their bounds', { timeout: 120_000 }, async () => {
    const http = client('127.0.0.1', { maxDispatchers: 16, maxEndpoints: 16, maxTokens: 16 });
    try {
      for (let i = 0; i < 300; i++) {
        const res = await http.request(`h${i}.example:${port}`, { tlsVerify: false }, { method: 'GET', path: '/v2/a/tags/list', scope: 'repository:a:pull', operation: 'tags', accept: [200], what: 'x', bufferLimit: 1024 });
        assert.equal(res.status, 200);
      }
      const sizes = http.stateSizes;
      assert.ok(sizes.dispatchers <= 16 && sizes.endpoints <= 16 && sizes.tokens <= 16, JSON.stringify(sizes));
    } finally {
      await http.close();
    }
  });

  it('an evicted pool is closed', async () => {
    const d = new RegistryDispatchers({ settingsFor: () => undefined, policy: new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] }), connectTimeoutMs: 1000, firstByteTimeoutMs: 1000, max: 2 });
    const first = d.get('a.example', true);
    d.get('b.example', true);
    d.get('c.example', true);
    assert.equal(d.size, 2);
    await new Promise((r) => setImmediate(r));
    assert.equal(first.closed, true);
    assert.notEqual(d.get('a.example', true), first, 'a new pool replaces it');
    await d.close();
  });
});

describe('metric labels', () => {
  it('name registries of the registries file only, also in a client derived for a sync cert-dir', () => {
    const http = new RegistryHttp({
      registries: [{ location: 'listed.example:5000', insecure: false }],
      retryTimes: 0,
      limits: { connectTimeoutMs: 1000, firstByteTimeoutMs: 1000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 1000 },
      userAgent: 'test',
      egress: new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] }),
    });
    assert.equal(http.metricLabel('LISTED.example:5000'), 'listed.example:5000');
    assert.equal(http.metricLabel('caller-chosen.example'), 'other');
    const derived = http.forRegistry({ location: 'caller-chosen.example', insecure: false });
    assert.equal(derived.metricLabel('caller-chosen.example'), 'other');
    assert.ok(derived.settingsFor('caller-chosen.example'), 'its own settings apply');
  });
});

describe('a 401 from a redirect target on another host', () => {
  it("is not taken for the registry's challenge: no token is asked of its realm, the registry's endpoint is unchanged", async () => {
    let tokenRequests = 0;
    const other = await listenLoopback((req, res) => {
      const host = req.headers.host ?? '';
      if (req.url?.startsWith('/token')) {
        tokenRequests++;
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'stolen', expires_in: 300 }));
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="other"` }).end('{}');
    });
    const otherHost = other.host;
    const registry = await listenLoopback((req, res) => {
      if (req.url === '/v2/') return res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end('{}');
      res.writeHead(302, { location: `http://${otherHost}/blob` }).end();
    });
    const registryHost = registry.host;
    const http = testRegistryHttp({ insecure: [registryHost] });
    const ctx = { tlsVerify: false, auth: { kind: 'basic' as const, username: 'u', password: 'secret' } };
    try {
      await assert.rejects(
        http.request(registryHost, ctx, { method: 'GET', path: '/v2/a/blobs/x', scope: 'repository:a:pull', operation: 'blob', accept: [200], what: 'x' }),
        (e: unknown) => e instanceof DomainError && e.upstream.upstreamStatus === 401,
      );
      assert.equal(tokenRequests, 0, "the redirect target's realm got no token request (and no credentials)");
      assert.deepEqual((await http.endpoint(registryHost, ctx)).challenges.map((c) => c.scheme), ['basic']);
    } finally {
      await http.close();
      await Promise.all([registry.close(), other.close()]);
    }
  });
});

describe('announced rate limits per credentials', () => {
  it("each caller reads what the registry announced to its own credentials, never another caller's", async () => {
    const alice = { kind: 'basic' as const, username: 'alice', password: 'a-secret' };
    const bob = { kind: 'basic' as const, username: 'bob', password: 'b-secret' };
    const remaining = new Map([[`Basic ${Buffer.from('alice:a-secret').toString('base64')}`, '0'], [`Basic ${Buffer.from('bob:b-secret').toString('base64')}`, '57']]);
    // Basic auth when `ask`, none otherwise; RateLimit-Remaining per Authorization (anonymous: 3).
    const start = (ask: boolean) =>
      listenLoopback((req, res) => {
        if (req.url === '/v2/') return res.writeHead(ask ? 401 : 200, ask ? { 'www-authenticate': 'Basic realm="r"' } : {}).end('{}');
        const left = remaining.get(req.headers.authorization ?? '') ?? '3';
        res.writeHead(200, { 'content-type': 'application/json', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': `${left};w=21600` }).end('{}');
      });
    const [withAuth, noAuth] = await Promise.all([start(true), start(false)]);
    const http = testRegistryHttp({ insecure: [withAuth.host, noAuth.host] });
    const get = (host: string, auth?: typeof alice) =>
      http.request(host, { tlsVerify: false, ...(auth ? { auth } : {}) }, { method: 'GET', path: '/v2/a/manifests/x', operation: 'manifest', accept: [200], what: 'x', bufferLimit: 1024 });
    try {
      assert.equal(http.rateLimitFor(withAuth.host, alice), undefined, 'nothing announced yet');
      await get(withAuth.host, alice);
      assert.equal(http.rateLimitFor(withAuth.host, bob), undefined, "Alice's spent quota is not Bob's");
      await get(withAuth.host, bob);
      await get(withAuth.host);
      assert.equal(http.rateLimitFor(withAuth.host, alice)?.remaining, 0);
      assert.equal(http.rateLimitFor(withAuth.host, bob)?.remaining, 57);
      assert.equal(http.rateLimitFor(withAuth.host, undefined)?.remaining, 3);
      assert.equal(http.registryState(withAuth.host)?.rateLimit?.remaining, 3, "the host's state: the last announced to anyone");
      // A registry that asks for no authentication meters everyone as anonymous: credentials not sent are not an identity.
      await get(noAuth.host, alice);
      assert.equal(http.rateLimitFor(noAuth.host, bob)?.remaining, 3);
    } finally {
      await http.close();
      await Promise.all([withAuth.close(), noAuth.close()]);
    }
  });
});
