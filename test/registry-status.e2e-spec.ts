/**
 * GET /v1/registries/{registry}: what skiff learned of a registry from its own calls —
 * reachable, auth scheme, the rate limit its answers announce (here added by the fault proxy:
 * no public registry is reachable), the last error — and the matching gauges in /metrics for a
 * registry listed in the registries file. Also: a 429 holds off only the credentials it
 * answered, never another caller's.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pushImage } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { registryAuthHeader, startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const T = { timeout: 30_000 };
let registry: TestRegistry;
let proxy: FaultProxy;
/** A proxy whose `/v2/` asks for Basic auth (the registry behind it takes any): callers' credentials are sent. */
let basicProxy: FaultProxy;
let svc: SkiffService;

interface Status {
  registry: string;
  reachable?: boolean;
  authScheme?: string;
  rateLimit?: { limit?: number; remaining?: number; windowSeconds?: number; resetAt?: string };
  lastError?: { code: string; detail: string; at: string };
  lastSeenAt?: string;
}

async function status(registryName: string): Promise<{ res: Response; body: Status & { code?: string } }> {
  const res = await fetch(`${svc.url}/v1/registries/${encodeURIComponent(registryName)}`);
  return { res, body: (await res.json()) as Status & { code?: string } };
}

before(async () => {
  registry = await startRegistry({ mode: 'plain' });
  proxy = await startFaultProxy(registry.url);
  basicProxy = await startFaultProxy(registry.url);
  basicProxy.addRule({ method: 'GET', path: /^\/v2\/$/, times: Infinity, action: { kind: 'replace', status: 401, body: '{}', headers: { 'www-authenticate': 'Basic realm="skiff-test"' } } });
  await pushImage(registry, 'rl/app', 'v1', { layers: [makeLayer({ 'a.txt': 'a' })], config: {}, os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushImage(registry, 'rl/shared', 'v1', { layers: [makeLayer({ 's.txt': 's' })], config: {}, os: 'linux', architecture: 'amd64', format: 'oci' });
  const conf = join(makeTmpDirSync('skiff-status-conf-'), 'registries.yaml');
  // Insecure (plain HTTP through the proxies): credentials may travel to them.
  writeFileSync(conf, `registries:\n  - location: "${proxy.host}"\n    insecure: true\n  - location: "${basicProxy.host}"\n    insecure: true\n`);
  svc = await startSkiff({ SKIFF_REGISTRIES_CONFIG: conf });
});

after(async () => {
  await Promise.all([svc?.stop(), proxy?.close(), basicProxy?.close()]);
  await stopAll();
});

describe('GET /v1/registries/{registry}', () => {
  it('a registry skiff never talked to: only its name', T, async () => {
    const { res, body } = await status('never.example:5000');
    assert.equal(res.status, 200);
    assert.deepEqual(body, { registry: 'never.example:5000' });
    assert.deepEqual((await status('Index.Docker.IO')).body, { registry: 'docker.io' }, 'Docker Hub aliases fold into docker.io');
  });

  it('an invalid registry name → 400', T, async () => {
    for (const bad of ['not a host', 'https://x.example/path', 'a'.repeat(300)]) {
      const { res, body } = await status(bad);
      assert.equal(res.status, 400, bad);
      assert.equal(body.code, 'INVALID_ARGUMENT');
    }
  });

  it('after calls: reachable, auth scheme, the announced rate limit (Docker Hub style), last seen; gauges in /metrics', T, async () => {
    proxy.addRule({ method: 'GET', path: /^\/v2\/rl\/app\/manifests\//, times: Infinity, action: { kind: 'headers', headers: { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'ratelimit-reset': '3600', 'docker-ratelimit-source': '203.0.113.9' } } });
    const started = Date.now();
    const inspect = await svc.api.GET('/v1/images/inspect', { params: { query: { image: `docker://${proxy.host}/rl/app:v1`, noTags: true } } });
    assert.equal(inspect.response.status, 200, JSON.stringify(inspect.error));
    const { res, body } = await status(proxy.host);
    assert.equal(res.status, 200);
    assert.equal(body.registry, proxy.host);
    assert.equal(body.reachable, true);
    assert.equal(body.authScheme, 'none');
    assert.equal(body.rateLimit?.limit, 100);
    assert.equal(body.rateLimit?.remaining, 76);
    assert.equal(body.rateLimit?.windowSeconds, 21600);
    const reset = Date.parse(body.rateLimit!.resetAt!);
    assert.ok(reset >= started + 3_590_000 && reset <= Date.now() + 3_610_000, body.rateLimit!.resetAt);
    assert.ok(Date.parse(body.lastSeenAt!) >= started - 1000);
    assert.equal(body.lastError, undefined);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`skiff_registry_rate_limit_remaining\\{registry="${proxy.host.replace(/\./g, '\\.')}"\\} 76`));
    assert.match(metrics, new RegExp(`skiff_registry_rate_limit\\{registry="${proxy.host.replace(/\./g, '\\.')}"\\} 100`));
    assert.match(metrics, new RegExp(`skiff_registry_reachable\\{registry="${proxy.host.replace(/\./g, '\\.')}"\\} 1`));
  });

  it('the last error is kept with its code, detail and time', T, async () => {
    const missing = await svc.api.GET('/v1/images/inspect', { params: { query: { image: `docker://${proxy.host}/rl/app:nope`, noTags: true } } });
    assert.equal(missing.response.status, 404);
    const { body } = await status(proxy.host);
    assert.equal(body.lastError?.code, 'IMAGE_NOT_FOUND');
    assert.match(body.lastError!.detail, /MANIFEST_UNKNOWN/);
    assert.ok(Date.parse(body.lastError!.at) > 0);
    assert.equal(body.reachable, true, 'a 404 is an answer: still reachable');
  });

  it('a registry that cannot be reached is marked unreachable, with the error', T, async () => {
    const gone = await startFaultProxy(registry.url);
    const host = gone.host;
    await gone.close();
    const r = await svc.api.GET('/v1/images/inspect', { params: { query: { image: `docker://${host}/rl/app:v1`, noTags: true, tlsVerify: false } } });
    assert.equal(r.response.status, 503);
    const { body } = await status(host);
    assert.equal(body.reachable, false);
    assert.equal(body.lastError?.code, 'UPSTREAM_UNAVAILABLE');
  });
});

describe('429 hold-offs are per credential', () => {
  const A = { username: 'alice', password: 'alice-secret' };
  const B = { username: 'bob', password: 'bob-secret' };
  const basic = (c: { username: string; password: string }) => 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
  const image = () => `docker://${basicProxy.host}/rl/shared:v1`;
  const inspectAs = (creds?: { username: string; password: string }) =>
    svc.api.GET('/v1/images/inspect', { params: { query: { image: image(), noTags: true } }, ...(creds ? { headers: { 'X-Registry-Auth': registryAuthHeader(creds) } } : {}) });
  const manifests = /^\/v2\/rl\/shared\/manifests\//;

  it("caller A's 429 (credentials A) does not hold off caller B (credentials B) or anonymous callers on the same registry; A's next request is held", T, async () => {
    // The next manifest request answers 429 asking for two minutes (longer than a call waits).
    basicProxy.addRule({ method: 'GET', path: manifests, times: 1, action: { kind: 'status', status: 429, retryAfter: '120' } });
    const a = await inspectAs(A);
    assert.equal(a.response.status, 429, JSON.stringify(a.error));
    assert.equal((a.error as { code?: string }).code, 'RATE_LIMITED');
    assert.equal(a.response.headers.get('retry-after'), '120');
    const limited = basicProxy.requestsTo(manifests, 'GET');
    assert.deepEqual(limited.map((q) => [q.status, q.authorization]), [[429, basic(A)]], "the 429 answered A's request, sent with A's credentials");

    // B, with its own credentials and its own quota, is not held: its request goes out and succeeds.
    const b = await inspectAs(B);
    assert.equal(b.response.status, 200, JSON.stringify(b.error));
    assert.deepEqual(basicProxy.requestsTo(manifests, 'GET').slice(1).map((q) => [q.status, q.authorization]), [[200, basic(B)]]);
    // Neither is an anonymous caller.
    const anon = await inspectAs();
    assert.equal(anon.response.status, 200, JSON.stringify(anon.error));

    // A's next request waits for the hold-off: longer than a call may wait, so it fails at once, sending nothing.
    const sent = basicProxy.requests.length;
    const again = await inspectAs(A);
    assert.equal(again.response.status, 429, JSON.stringify(again.error));
    const p = again.error as { code?: string; detail?: string };
    assert.equal(p.code, 'RATE_LIMITED');
    assert.match(String(p.detail), /requests with these credentials to it are held for 1[12]\d s more/);
    assert.ok(Number(again.response.headers.get('retry-after')) > 100);
    assert.equal(basicProxy.requests.length, sent, 'nothing was sent for A while it is held off');

    // What the service shows of the registry names neither caller's credentials.
    const { res, body } = await status(basicProxy.host);
    assert.equal(res.status, 200);
    assert.equal(body.authScheme, 'basic');
    const shown = JSON.stringify(body);
    for (const secret of [A.username, A.password, B.username, B.password, 'cred:']) assert.ok(!shown.includes(secret), shown);
  });
});
