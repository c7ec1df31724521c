import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { DomainError } from '../../errors/domain-error';
import { type AuthTarget, RegistryAuthenticator, tokenKey } from './registry-auth';
import { RegistryRetry } from './registry-retry';

let server: Server;
let realm: string;
const seen: Array<{ method: string; url: string; authorization?: string; body: string }> = [];
let answer: (req: IncomingMessage) => { status: number; body: string } = () => ({ status: 200, body: JSON.stringify({ token: 'tok-1', expires_in: 300 }) });
const agent = new Agent();

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      const a = answer(req);
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});

after(async () => {
  await agent.close();
  await new Promise<void>((r) => server.close(() => r()));
});

function authenticator(insecureHosts: string[] = []): RegistryAuthenticator {
  return new RegistryAuthenticator({
    userAgent: 'test',
    retry: new RegistryRetry({ retryTimes: 0, maxRetryAfterMs: 0, baseBackoffMs: 1, limits: { connectTimeoutMs: 5000, firstByteTimeoutMs: 5000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 30_000 } }),
    configuredInsecure: (h) => insecureHosts.includes(h),
    dispatcherFor: () => agent,
  });
}

const bearer = (host: string): AuthTarget => ({ host, origin: `https://${host}`, challenges: [{ scheme: 'bearer', params: { realm, service: 'svc' } }] });
const basic = (host: string, origin = `https://${host}`): AuthTarget => ({ host, origin, challenges: [{ scheme: 'basic', params: { realm: 'r' } }] });

describe('the token cache key', () => {
  it('names the credentials by their identity, never by a secret; different credentials, different keys', () => {
    const ep = bearer('r');
    const challenge = ep.challenges[0]!;
    const basicKey = tokenKey(ep, { auth: { kind: 'basic', username: 'u', password: 'the-password' } }, challenge, 'repository:a:pull');
    const identityKey = tokenKey(ep, { auth: { kind: 'identityToken', identityToken: 'the-refresh-token' } }, challenge, 'repository:a:pull');
    const tokenKeyed = tokenKey(ep, { auth: { kind: 'registryToken', registryToken: 'the-registry-token' } }, challenge, 'repository:a:pull');
    for (const [key, secret] of [[basicKey, 'the-password'], [identityKey, 'the-refresh-token'], [tokenKeyed, 'the-registry-token']] as const) {
      assert.ok(!key.includes(secret), key);
    }
    assert.notEqual(basicKey, tokenKey(ep, { auth: { kind: 'basic', username: 'u', password: 'another' } }, challenge, 'repository:a:pull'));
    assert.equal(basicKey, tokenKey(ep, { auth: { kind: 'basic', username: 'u', password: 'the-password' } }, challenge, 'repository:a:pull'));
    assert.match(tokenKey(ep, {}, challenge, 'repository:a:pull'), /\|anonymous$/);
  });
});

describe('RegistryAuthenticator', () => {
  it('no challenge, or no credentials for Basic: no header', () => {
    const a = authenticator();
    assert.equal(a.authorization({ host: 'r', origin: 'https://r', challenges: [] }, { auth: { kind: 'basic', username: 'u', password: 'p' } }, undefined, false), undefined);
    assert.equal(a.authorization(basic('r'), {}, undefined, false), undefined);
  });

  it('Basic over verified TLS; refused over plain HTTP or unverified TLS unless the registry is configured insecure', () => {
    const auth = { kind: 'basic' as const, username: 'u', password: 'p' };
    assert.equal(authenticator().authorization(basic('r'), { auth }, undefined, false), `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.throws(() => authenticator().authorization(basic('r', 'http://r'), { auth }, undefined, false), (e: unknown) => e instanceof DomainError && e.code === 'REGISTRY_DENIED' && /plain HTTP/.test(e.message));
    assert.throws(() => authenticator().authorization(basic('r'), { auth, tlsVerify: false }, undefined, false), /unverified TLS/);
    assert.ok(authenticator(['r']).authorization(basic('r', 'http://r'), { auth }, undefined, false));
    assert.throws(() => authenticator().authorization(basic('r'), { auth: { kind: 'identityToken', identityToken: 'x' } }, undefined, false), /identity token cannot be used/);
  });

  it('fetches a bearer token once per scope and identity, then serves it from the cache', async () => {
    const a = authenticator();
    seen.length = 0;
    const first = await a.authorization(bearer('anon.example'), {}, 'repository:a/b:pull', false);
    assert.equal(first, 'Bearer tok-1');
    assert.equal(a.authorization(bearer('anon.example'), {}, 'repository:a/b:pull', false), 'Bearer tok-1', 'cached: no promise');
    assert.equal(seen.length, 1);
    assert.match(seen[0]!.url, /service=svc&scope=repository%3Aa%2Fb%3Apull/);
    assert.equal(seen[0]!.authorization, undefined);
    await a.authorization(bearer('anon.example'), {}, 'repository:a/c:pull', false);
    await a.authorization(bearer('anon.example'), {}, 'repository:a/b:pull', true);
    assert.equal(seen.length, 3, 'another scope and a refresh each ask again');
  });

  it('an identity token is exchanged with a POST; credentials never go to a plain-HTTP realm', async () => {
    seen.length = 0;
    const a = authenticator(['id.example']);
    assert.equal(await a.authorization(bearer('id.example'), { auth: { kind: 'identityToken', identityToken: 'refresh-me' } }, undefined, false), 'Bearer tok-1');
    assert.equal(seen[0]!.method, 'POST');
    assert.match(seen[0]!.body, /grant_type=refresh_token&refresh_token=refresh-me/);
    await assert.rejects(
      Promise.resolve().then(() => authenticator().authorization(bearer('strict.example'), { auth: { kind: 'basic', username: 'u', password: 'p' } }, undefined, false)),
      (e: unknown) => e instanceof DomainError && e.code === 'REGISTRY_DENIED',
    );
    assert.equal(seen.length, 1, 'the realm was not asked with the credentials');
  });

  it('a refused or malformed token answer is a clear domain error', async () => {
    answer = () => ({ status: 401, body: '{}' });
    await assert.rejects(Promise.resolve(authenticator().authorization(bearer('deny.example'), {}, undefined, false)), (e: unknown) => e instanceof DomainError && e.code === 'REGISTRY_DENIED');
    answer = () => ({ status: 200, body: 'not json' });
    await assert.rejects(Promise.resolve(authenticator().authorization(bearer('junk.example'), {}, undefined, false)), /not JSON/);
    answer = () => ({ status: 200, body: JSON.stringify({ token: 'a\r\nb' }) });
    await assert.rejects(Promise.resolve(authenticator().authorization(bearer('crlf.example'), {}, undefined, false)), /carries no token/);
    answer = () => ({ status: 200, body: JSON.stringify({ token: 'tok-1', expires_in: 300 }) });
  });
});

describe('RegistryAuthenticator messages', () => {
  it("an auth server's error that echoes the caller's password or identity token never carries it into the problem", async () => {
    answer = () => ({ status: 401, body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'password s3cret-pw is wrong' }] }) });
    await assert.rejects(
      Promise.resolve(authenticator(['creds.example']).authorization(bearer('creds.example'), { auth: { kind: 'basic', username: 'u', password: 's3cret-pw' } }, undefined, false)),
      (e: unknown) => e instanceof DomainError && e.code === 'INVALID_CREDENTIALS' && !e.message.includes('s3cret-pw') && e.message.includes('password [redacted] is wrong'),
    );
    answer = () => ({ status: 500, body: JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'bad refresh token tok-XYZ-123' }] }) });
    await assert.rejects(
      Promise.resolve(authenticator(['creds.example']).authorization(bearer('creds.example'), { auth: { kind: 'identityToken', identityToken: 'tok-XYZ-123' } }, undefined, false)),
      (e: unknown) => e instanceof DomainError && !e.message.includes('tok-XYZ-123') && e.message.includes('bad refresh token [redacted]'),
    );
    answer = () => ({ status: 200, body: JSON.stringify({ token: 'tok-1', expires_in: 300 }) });
  });

  it("the auth server's refusal names its own errors (skopeo: invalid username/password: unauthorized: …)", async () => {
    answer = () => ({ status: 401, body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }) });
    await assert.rejects(
      Promise.resolve(authenticator(['creds.example']).authorization(bearer('creds.example'), { auth: { kind: 'basic', username: 'u', password: 'bad' } }, undefined, false)),
      (e: unknown) =>
        e instanceof DomainError &&
        e.code === 'INVALID_CREDENTIALS' &&
        e.upstream.upstreamCode === 'UNAUTHORIZED' &&
        e.message === 'the credentials for creds.example were rejected by its auth server (HTTP 401: UNAUTHORIZED: invalid username or password)',
    );
    answer = () => ({ status: 403, body: 'no' });
    await assert.rejects(
      Promise.resolve(authenticator().authorization(bearer('anon.example'), {}, undefined, false)),
      (e: unknown) => e instanceof DomainError && e.code === 'REGISTRY_DENIED' && e.message === "anon.example's auth server refused anonymous access (HTTP 403)",
    );
    answer = () => ({ status: 200, body: JSON.stringify({ token: 'tok-1', expires_in: 300 }) });
  });

  it('an invalid realm is quoted without its userinfo or control characters', async () => {
    const a = authenticator();
    const target: AuthTarget = { host: 'r.example', origin: 'https://r.example', challenges: [{ scheme: 'bearer', params: { realm: 'https://user:secret@[bad\r\n' } }] };
    await assert.rejects(Promise.resolve(a.authorization(target, {}, undefined, false)), (e: unknown) => e instanceof DomainError && /invalid realm/.test(e.message) && !e.message.includes('secret') && !/[\r\n]/.test(e.message));
  });
});
