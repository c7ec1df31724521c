/**
 * The egress policy, with the real service: in shared mode (API tokens configured) a registry
 * on a loopback address is refused unless the registries file lists it or allows its network;
 * a link-local/metadata address is never reached, not even in single-user mode; redirects and
 * token realms are connects like any other; a redirected write is not followed. Refusals come
 * before any connection, so the target never sees one. The upstream metrics name listed
 * registries only; every other host is `other`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pushImage, type PushedImage } from './support/images';
import { submit, waitForOperation } from './support/operations';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const T = { timeout: 60_000 };
const TOKEN = 'egress-test-token-0123456789';
const METADATA = '169.254.169.254';
let registry: TestRegistry;
/** Listed in the shared service's registries file. */
let listed: FaultProxy;
/** Listed nowhere: another loopback host. */
let unlisted: FaultProxy;
/** Single-user service. */
let local: SkiffService;
/** Shared mode (API tokens), `listed` in its registries file. */
let shared: SkiffService;
/** Shared mode, 127.0.0.0/8 in egress.allowNetworks. */
let allowing: SkiffService;
const images = new Map<string, PushedImage>();

/** A listener on 169.254.169.254 (added to lo for the test, as root) that records connections. */
let metadata: { port: number; connections: number; close: () => Promise<void> } | undefined;
let addedAddress = false;
let metadataSkip: string | undefined;

const auth = { authorization: `Bearer ${TOKEN}` };
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function inspect(service: SkiffService, image: string, headers: Record<string, string> = {}) {
  return service.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false, noTags: true } }, headers });
}

function problem(error: unknown): { code: string; detail: string; status: number } {
  return error as { code: string; detail: string; status: number };
}

/** iproute2's `ip`, by absolute path where it is (a non-login root shell's PATH may lack /usr/sbin). */
function ipCommand(): string {
  return ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
}

async function startMetadataListener(): Promise<void> {
  if (process.getuid?.() !== 0) {
    metadataSkip = 'not root: cannot add 169.254.169.254 to lo, so the "never reached" check has no listener there (the refusal is still checked)';
    return;
  }
  try {
    execFileSync(ipCommand(), ['addr', 'add', `${METADATA}/32`, 'dev', 'lo'], { stdio: 'pipe' });
    addedAddress = true;
  } catch (e) {
    if (!/File exists/.test(String((e as { stderr?: Buffer }).stderr ?? e))) {
      metadataSkip = `cannot add ${METADATA} to lo: ${String((e as { stderr?: Buffer }).stderr ?? e)}`;
      return;
    }
  }
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, METADATA, () => resolve());
  });
  metadata = {
    port: (server.address() as { port: number }).port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

before(async () => {
  registry = await startRegistry({ mode: 'plain' });
  [listed, unlisted] = await Promise.all([startFaultProxy(registry.url), startFaultProxy(registry.url)]);
  for (const repo of ['egress/app', 'egress/redirect', 'egress/redirect-shared', 'egress/put']) {
    images.set(repo, await pushImage(registry, repo, 'v1', { layers: [makeLayer({ 'etc/motd': `${repo}\n` })], config: { Env: [`R=${repo}`] }, os: 'linux', architecture: 'amd64', format: 'v2s2' }));
  }
  await startMetadataListener();
  const dir = makeTmpDirSync('skiff-egress-conf-');
  const listing = join(dir, 'listing.yaml');
  writeFileSync(listing, `registries:\n  - location: "${listed.host}"\n`);
  const allowNetworks = join(dir, 'allow.yaml');
  writeFileSync(allowNetworks, 'egress:\n  allowNetworks: ["127.0.0.0/8"]\n');
  [local, shared, allowing] = await Promise.all([
    startSkiff(),
    startSkiff({ SKIFF_API_TOKENS: TOKEN, SKIFF_REGISTRIES_CONFIG: listing }),
    startSkiff({ SKIFF_API_TOKENS: TOKEN, SKIFF_REGISTRIES_CONFIG: allowNetworks }),
  ]);
});

after(async () => {
  await Promise.all([local?.stop(), shared?.stop(), allowing?.stop(), listed?.close(), unlisted?.close(), metadata?.close()]);
  if (addedAddress) execFileSync(ipCommand(), ['addr', 'del', `${METADATA}/32`, 'dev', 'lo'], { stdio: 'pipe' });
  await stopAll();
});

describe('egress policy', () => {
  it('shared mode: a registry on a loopback address that is not listed → 403 EGRESS_REFUSED, before any connection', T, async () => {
    const { response, error } = await inspect(shared, `docker://${unlisted.host}/egress/app:v1`, auth);
    assert.equal(response.status, 403, JSON.stringify(error));
    const p = problem(error);
    assert.equal(p.code, 'EGRESS_REFUSED');
    assert.match(p.detail, /127\.0\.0\.1 is a loopback address, which this shared service reaches only for a registry listed in SKIFF_REGISTRIES_CONFIG/);
    assert.equal(unlisted.connections, 0, 'the registry was never connected to');
  });

  it('shared mode: the same registry works once listed in the registries file', T, async () => {
    const { response, error, data } = await inspect(shared, `docker://${listed.host}/egress/app:v1`, auth);
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.equal((data as { Digest: string }).Digest, images.get('egress/app')!.digest);
  });

  it('shared mode: a registry inside egress.allowNetworks works without being listed', T, async () => {
    const { response, error } = await inspect(allowing, `docker://${unlisted.host}/egress/app:v1`, auth);
    assert.equal(response.status, 200, JSON.stringify(error));
  });

  it('shared mode: a name that resolves to a loopback address (localhost) is refused too', T, async () => {
    const port = unlisted.host.split(':')[1];
    const before = unlisted.connections;
    const { response, error } = await inspect(shared, `docker://localhost:${port}/egress/app:v1`, auth);
    assert.equal(response.status, 403, JSON.stringify(error));
    assert.match(problem(error).detail, /localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
    assert.equal(unlisted.connections, before);
  });

  it('shared mode: the loopback address spelled as one decimal number (2130706433) or in hex (0x7f.1) is refused as 127.0.0.1', T, async () => {
    const port = unlisted.host.split(':')[1];
    const before = unlisted.connections;
    for (const host of ['2130706433', '0x7f.1']) {
      const { response, error } = await inspect(shared, `docker://${host}:${port}/egress/app:v1`, auth);
      // 400 if the reference grammar refuses the spelling; never 200, never a connection
      assert.ok(response.status === 403 || response.status === 400, `${host}: ${response.status} ${JSON.stringify(error)}`);
      if (response.status === 403) assert.match(problem(error).detail, /127\.0\.0\.1 is a loopback address/);
    }
    assert.equal(unlisted.connections, before);
  });

  it('single-user mode reaches a loopback registry (the README flow)', T, async () => {
    const { response, error } = await inspect(local, `docker://${unlisted.host}/egress/app:v1`);
    assert.equal(response.status, 200, JSON.stringify(error));
  });

  it(`a link-local/metadata address is never reached, even in single-user mode`, T, async (t) => {
    if (metadataSkip) t.diagnostic(metadataSkip);
    const port = metadata?.port ?? 80;
    const { response, error } = await inspect(local, `docker://${METADATA}:${port}/latest/meta-data:v1`);
    assert.equal(response.status, 403, JSON.stringify(error));
    const p = problem(error);
    assert.equal(p.code, 'EGRESS_REFUSED');
    assert.match(p.detail, /169\.254\.169\.254 is a link-local\/metadata address, never reached/);
    assert.equal(metadata?.connections ?? 0, 0, 'nothing connected to the metadata address');
  });

  it('a redirect to a link-local address is refused', T, async (t) => {
    if (metadataSkip) t.diagnostic(metadataSkip);
    const repo = 'egress/redirect';
    const path = `/v2/${repo}/blobs/${images.get(repo)!.configDigest}`;
    listed.addRule({ method: 'GET', path: new RegExp(`^${esc(path)}$`), times: Infinity, action: { kind: 'redirect', location: `http://${METADATA}:${metadata?.port ?? 80}${path}` } });
    const { response, error } = await inspect(local, `docker://${listed.host}/${repo}:v1`);
    assert.equal(response.status, 403, JSON.stringify(error));
    assert.match(problem(error).detail, /169\.254\.169\.254 is a link-local\/metadata address, never reached/);
    assert.equal(metadata?.connections ?? 0, 0);
  });

  it('shared mode: a redirect from a listed registry to an unlisted loopback host is refused', T, async () => {
    const repo = 'egress/redirect-shared';
    const path = `/v2/${repo}/blobs/${images.get(repo)!.configDigest}`;
    listed.addRule({ method: 'GET', path: new RegExp(`^${esc(path)}$`), times: Infinity, action: { kind: 'redirect', location: `${unlisted.url}${path}` } });
    const before = unlisted.connections;
    const { response, error } = await inspect(shared, `docker://${listed.host}/${repo}:v1`, auth);
    assert.equal(response.status, 403, JSON.stringify(error));
    assert.equal(problem(error).code, 'EGRESS_REFUSED');
    assert.equal(unlisted.connections, before, 'the redirect target was never connected to');
  });

  it('a token realm on a link-local address, or (shared mode) on an unlisted loopback host, is refused', T, async (t) => {
    if (metadataSkip) t.diagnostic(metadataSkip);
    const realmed = await startFaultProxy(registry.url);
    const realmedShared = await startFaultProxy(registry.url);
    try {
      realmed.addRule({ method: 'GET', path: /^\/v2\/$/, times: Infinity, action: { kind: 'replace', status: 401, body: '{}', headers: { 'www-authenticate': `Bearer realm="http://${METADATA}:${metadata?.port ?? 80}/token",service="x"` } } });
      const viaLocal = await inspect(local, `docker://${realmed.host}/egress/app:v1`);
      assert.equal(viaLocal.response.status, 403, JSON.stringify(viaLocal.error));
      assert.match(problem(viaLocal.error).detail, /169\.254\.169\.254 is a link-local\/metadata address, never reached/);
      assert.equal(metadata?.connections ?? 0, 0);

      // Listed itself, but its realm points at a host that is not.
      const conf = join(makeTmpDirSync('skiff-egress-realm-'), 'registries.yaml');
      writeFileSync(conf, `registries:\n  - location: "${realmedShared.host}"\n`);
      const svc = await startSkiff({ SKIFF_API_TOKENS: TOKEN, SKIFF_REGISTRIES_CONFIG: conf });
      try {
        realmedShared.addRule({ method: 'GET', path: /^\/v2\/$/, times: Infinity, action: { kind: 'replace', status: 401, body: '{}', headers: { 'www-authenticate': `Bearer realm="${unlisted.url}/token",service="x"` } } });
        const before = unlisted.connections;
        const viaShared = await inspect(svc, `docker://${realmedShared.host}/egress/app:v1`, auth);
        assert.equal(viaShared.response.status, 403, JSON.stringify(viaShared.error));
        assert.equal(problem(viaShared.error).code, 'EGRESS_REFUSED');
        assert.equal(unlisted.connections, before, 'the realm was never connected to');
      } finally {
        await svc.stop();
      }
    } finally {
      await Promise.all([realmed.close(), realmedShared.close()]);
    }
  });

  it('a redirected PUT is not followed: the copy fails saying so, and the other host never sees the write', T, async () => {
    const repo = 'egress/put';
    const target = await startFaultProxy((await startRegistry({ mode: 'plain' })).url);
    const elsewhere = await startFaultProxy(registry.url);
    try {
      target.addRule({ method: 'PUT', path: new RegExp(`^/v2/${esc(repo)}/manifests/`), times: Infinity, action: { kind: 'redirect', location: `${elsewhere.url}/v2/${repo}/manifests/v1`, status: 307 } });
      const { res, op } = await submit(local, 'copies', { source: `docker://${registry.host}/${repo}:v1`, destination: `docker://${target.host}/${repo}:v1`, sourceTlsVerify: false, destinationTlsVerify: false });
      assert.equal(res.status, 202, JSON.stringify(op));
      const done = await waitForOperation(local, op.id, 50);
      assert.equal(done.state, 'failed', JSON.stringify(done));
      assert.equal(done.error?.code, 'UPSTREAM_PROTOCOL_ERROR');
      assert.match(done.error!.detail, /the registry redirected a PUT \(HTTP 307 to http:\/\/127\.0\.0\.1:\d+\/v2\/egress\/put\/manifests\/v1\); skiff follows redirects of GET and HEAD only/);
      assert.equal(elsewhere.requests.length, 0, 'the body was never sent elsewhere');
      assert.equal(target.requestsTo(new RegExp(`^/v2/${esc(repo)}/manifests/`), 'PUT').length, 1, 'and not re-sent');
    } finally {
      await Promise.all([target.close(), elsewhere.close()]);
    }
  });

  it('upstream metrics name listed registries by host and every other host as "other"', T, async () => {
    const text = await (await fetch(`${shared.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const lines = text.split('\n').filter((l) => l.startsWith('skiff_upstream_requests_total{'));
    assert.ok(lines.some((l) => l.includes(`registry="${listed.host}"`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('registry="other"')), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes(`registry="${unlisted.host}"`) || l.includes('registry="localhost')), lines.join('\n'));
  });
});
