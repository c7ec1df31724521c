import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { DomainError } from '../../errors/domain-error';
import type { RegistryCallContext } from './registry-auth';
import { RegistryEndpoints } from './registry-endpoints';
import { RegistryRetry } from './registry-retry';

let server: Server;
let host: string;
let pings = 0;
let v2Status = 401;
let v2DelayMs = 0;
const agent = new Agent({ connect: { rejectUnauthorized: false } });

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/v2/') pings++;
    setTimeout(() => res.writeHead(req.url === '/v2/' ? v2Status : 404, { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg"' }).end('{}'), req.url === '/v2/' ? v2DelayMs : 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await agent.close();
  await new Promise<void>((r) => server.close(() => r()));
});

function endpoints(): RegistryEndpoints {
  return new RegistryEndpoints({
    userAgent: 'test',
    retry: new RegistryRetry({ retryTimes: 0, maxRetryAfterMs: 0, baseBackoffMs: 1, limits: { connectTimeoutMs: 5000, firstByteTimeoutMs: 5000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 30_000 } }),
    isInsecure: (_h, ctx: RegistryCallContext) => ctx.tlsVerify === false,
    dispatcherFor: () => agent,
  });
}

describe('RegistryEndpoints', () => {
  it('with TLS checks off, falls back to plain HTTP when HTTPS cannot be spoken, and reads the challenge', async () => {
    const e = endpoints();
    const ep = await e.endpoint(host, { tlsVerify: false });
    assert.equal(ep.scheme, 'http');
    assert.equal(ep.origin, `http://${host}`);
    assert.deepEqual(ep.challenges, [{ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg' } }]);
    assert.equal(e.cached(host, { tlsVerify: false }), ep);
    assert.equal(e.cached(host, {}), undefined, 'cached per TLS choice');
  });

  it('with TLS checks on, never falls back to plain HTTP', async () => {
    await assert.rejects(endpoints().endpoint(host, {}), (err: unknown) => err instanceof DomainError && err.code === 'UPSTREAM_TLS_ERROR');
  });

  it('concurrent callers share one ping', async () => {
    const e = endpoints();
    pings = 0;
    const [a, b] = await Promise.all([e.endpoint(host, { tlsVerify: false }), e.endpoint(host, { tlsVerify: false })]);
    assert.equal(a, b);
    assert.equal(pings, 1);
  });

  it('a caller that gives up does not end the ping it shares with another caller', async () => {
    const e = endpoints();
    pings = 0;
    v2DelayMs = 300;
    try {
      const first = new AbortController();
      const a = e.endpoint(host, { tlsVerify: false, signal: first.signal });
      const b = e.endpoint(host, { tlsVerify: false, signal: new AbortController().signal });
      first.abort();
      await assert.rejects(a, (err: unknown) => err instanceof DomainError && err.code === 'ABORTED');
      const ep = await b;
      assert.equal(ep.scheme, 'http');
      assert.equal(pings, 1);
    } finally {
      v2DelayMs = 0;
    }
  });

  it('a /v2/ that is neither 200 nor 401 is not a registry', async () => {
    v2Status = 404;
    try {
      await assert.rejects(endpoints().endpoint(host, { tlsVerify: false }), (err: unknown) => err instanceof DomainError && err.code === 'UPSTREAM_PROTOCOL_ERROR' && /invalid status code from registry 404/.test(err.message));
    } finally {
      v2Status = 401;
    }
  });
});
