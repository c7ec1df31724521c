/**
 * Registries that require a TLS client certificate (`http.tls.clientcas`): the registries
 * config's `clientCert` / `clientKey` are presented on every connection skiff makes to that
 * registry (inspect, tags, login, pushes), and skopeo, given the same certificate through
 * `--cert-dir`, is the oracle. Without the certificate the answer is a clear problem.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeLayer, pushImage, type PushedImage } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { registryAuthHeader, startSkiff, type SkiffService } from './support/skiff-service';
import { dockerRef, skopeo, skopeoInspect, skopeoListTags, comparableInspect } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';

let mtls: TestRegistry;
let withCert: SkiffService;
let withoutCert: SkiffService;
let image: PushedImage;

before(async () => {
  mtls = await startRegistry({ mode: 'basic', requireClientCert: true });
  const layers = [makeLayer({ 'etc/motd': 'mutual TLS\n' }), makeLayer({ 'srv/app.bin': Buffer.alloc(32 * 1024, 3) })];
  image = await pushImage(mtls, 'secure/app', '1.0', { layers, config: { Env: ['A=1'] }, os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushImage(mtls, 'secure/app', '1.1', { layers: layers.slice(0, 1), os: 'linux', architecture: 'amd64', format: 'v2s2' });

  const dir = makeTmpDirSync('skiff-mtls-conf-');
  const full = join(dir, 'with-cert.yaml');
  writeFileSync(full, `registries:\n  - location: "${mtls.host}"\n    ca: ${mtls.caFile}\n    clientCert: ${mtls.clientCertFile}\n    clientKey: ${mtls.clientKeyFile}\n`);
  const caOnly = join(dir, 'ca-only.yaml');
  writeFileSync(caOnly, `registries:\n  - location: "${mtls.host}"\n    ca: ${mtls.caFile}\n`);
  [withCert, withoutCert] = await Promise.all([startSkiff({ SKIFF_REGISTRIES_CONFIG: full }), startSkiff({ SKIFF_REGISTRIES_CONFIG: caOnly })]);
});

after(async () => {
  await Promise.all([withCert?.stop(), withoutCert?.stop()]);
  await stopAll();
});

const auth = () => ({ 'x-registry-auth': registryAuthHeader({ username: mtls.username!, password: mtls.password! }) });

describe('a registry that requires a client certificate', () => {
  it('inspect, raw and list-tags equal skopeo when the certificate is configured', async () => {
    const ref = dockerRef(mtls, 'secure/app', '1.0');
    const res = await fetch(`${withCert.url}/v1/images/inspect?image=${encodeURIComponent(ref)}`, { headers: auth() });
    assert.equal(res.status, 200, await res.clone().text());
    const mine = (await res.json()) as Record<string, unknown>;
    const theirs = await skopeoInspect(ref, { registry: mtls });
    assert.deepEqual(comparableInspect(mine), comparableInspect(theirs as unknown as Record<string, unknown>));
    assert.equal(mine['Digest'], image.digest);

    const raw = await fetch(`${withCert.url}/v1/images/manifest?image=${encodeURIComponent(ref)}`, { headers: auth() });
    assert.deepEqual(Buffer.from(await raw.arrayBuffer()), await skopeoInspect(ref, { registry: mtls, raw: true }));

    const tags = await fetch(`${withCert.url}/v1/images/tags?repository=${encodeURIComponent(dockerRef(mtls, 'secure/app'))}`, { headers: auth() });
    assert.equal(tags.status, 200);
    assert.deepEqual(await tags.json(), await skopeoListTags(dockerRef(mtls, 'secure/app'), { registry: mtls }));
  });

  it('login checks the credentials over the client-certificate connection', async () => {
    const ok = await withCert.api.PUT('/v1/credentials/{registry}', { params: { path: { registry: mtls.host } }, body: { username: mtls.username!, password: mtls.password! } });
    assert.equal(ok.response.status, 200);
    const stored = await withCert.api.GET('/v1/images/inspect', { params: { query: { image: dockerRef(mtls, 'secure/app', '1.1'), noTags: true } } });
    assert.equal(stored.response.status, 200);
    await withCert.api.DELETE('/v1/credentials/{registry}', { params: { path: { registry: mtls.host } } });
  });

  it('a copy pushes into it with the certificate; skopeo reads the same digest back', async () => {
    const res = await fetch(`${withCert.url}/v1/copies`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=60' },
      body: JSON.stringify({
        source: dockerRef(mtls, 'secure/app', '1.0'),
        destination: dockerRef(mtls, 'mirror/app', '1.0'),
        sourceAuth: { username: mtls.username, password: mtls.password },
        destinationAuth: { username: mtls.username, password: mtls.password },
      }),
    });
    const op = (await res.json()) as { state: string; result?: { digest: string }; error?: unknown };
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    assert.equal(op.result?.digest, image.digest);
    const back = await skopeo(['inspect', '--raw', '--cert-dir', mtls.certDir!, '--creds', `${mtls.username}:${mtls.password}`, dockerRef(mtls, 'mirror/app', '1.0')]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdoutBytes.toString(), (await skopeoInspect(dockerRef(mtls, 'secure/app', '1.0'), { registry: mtls, raw: true })).toString());
  });

  it('without the certificate: a TLS problem that says a client certificate is needed', async () => {
    const ref = dockerRef(mtls, 'secure/app', '1.0');
    const res = await fetch(`${withoutCert.url}/v1/images/inspect?image=${encodeURIComponent(ref)}`, { headers: auth() });
    const problem = (await res.json()) as { status: number; code: string; detail: string };
    assert.equal(res.status, 502, JSON.stringify(problem));
    assert.equal(problem.code, 'UPSTREAM_TLS_ERROR');
    assert.match(problem.detail, /client certificate/);
  });
});
