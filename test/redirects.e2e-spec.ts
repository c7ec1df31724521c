/**
 * Registry redirects (blob storage behind a CDN or object store answers 307 to another host),
 * through two fault proxies in front of one real registry: A is the registry skiff is given,
 * B another host A redirects blob reads to. Redirects are followed with the registry's TLS
 * settings, the Authorization header stays with the registry's own host, and loops or
 * non-HTTP targets end in a clear problem.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pushImage, type PushedImage } from './support/images';
import { startRegistry, stopAll } from './support/registry';
import { registryAuthHeader, startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const T = { timeout: 30_000 };
let a: FaultProxy;
let b: FaultProxy;
let svc: SkiffService;
const images = new Map<string, PushedImage>();
const TOKEN = 'registry-token-for-a-only';

before(async () => {
  const registry = await startRegistry({ mode: 'plain' });
  [a, b] = await Promise.all([startFaultProxy(registry.url), startFaultProxy(registry.url)]);
  for (const repo of ['redir/app', 'redir/loop', 'redir/file']) {
    images.set(repo, await pushImage(registry, repo, 'v1', { layers: [makeLayer({ 'etc/motd': `${repo}\n` })], config: { Env: [`R=${repo}`] }, os: 'linux', architecture: 'amd64', format: 'v2s2' }));
  }
  // A asks for a bearer token (so skiff sends Authorization to it) and is trusted over plain HTTP.
  a.addRule({ method: 'GET', path: /^\/v2\/$/, times: Infinity, action: { kind: 'replace', status: 401, body: '{}', headers: { 'www-authenticate': 'Bearer realm="http://127.0.0.1:9/token",service="a"' } } });
  const conf = join(makeTmpDirSync('skiff-redirect-conf-'), 'registries.yaml');
  writeFileSync(conf, `registries:\n  - location: "${a.host}"\n    insecure: true\n`);
  svc = await startSkiff({ SKIFF_REGISTRIES_CONFIG: conf });
});

after(async () => {
  await Promise.all([svc?.stop(), a?.close(), b?.close()]);
  await stopAll();
});

const configPath = (repo: string) => `/v2/${repo}/blobs/${images.get(repo)!.configDigest}`;
const inspect = (repo: string) =>
  svc.api.GET('/v1/images/inspect', {
    params: { query: { image: `docker://${a.host}/${repo}:v1`, noTags: true } },
    headers: { 'X-Registry-Auth': registryAuthHeader({ registrytoken: TOKEN }) },
  });

describe('registry redirects', () => {
  it('a blob read redirected to another host is followed, without the Authorization header', T, async () => {
    const path = configPath('redir/app');
    a.addRule({ method: 'GET', path: new RegExp(`^${path}$`), times: 1, action: { kind: 'redirect', location: `${b.url}${path}` } });
    const { data, response, error } = await inspect('redir/app');
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.equal((data as { Digest: string }).Digest, images.get('redir/app')!.digest);
    assert.deepEqual((data as { Env: string[] }).Env, ['R=redir/app']);
    const atA = a.requestsTo(new RegExp(`^${path}$`));
    assert.equal(atA.length, 1);
    assert.equal(atA[0]!.status, 307);
    assert.equal(atA[0]!.authorization, `Bearer ${TOKEN}`, 'the registry itself is sent the token');
    const atB = b.requestsTo(new RegExp(`^${path}$`));
    assert.equal(atB.length, 1, 'the redirect was followed');
    assert.equal(atB[0]!.status, 200);
    assert.equal(atB[0]!.authorization, undefined, 'the other host is not');
  });

  it('a redirect loop ends in 502 UPSTREAM_PROTOCOL_ERROR after a few hops', T, async () => {
    const path = configPath('redir/loop');
    a.addRule({ method: 'GET', path: new RegExp(`^${path}$`), times: Infinity, action: { kind: 'redirect', location: `${a.url}${path}` } });
    const { response, error } = await inspect('redir/loop');
    assert.equal(response.status, 502);
    assert.equal((error as { code: string }).code, 'UPSTREAM_PROTOCOL_ERROR');
    assert.match((error as { detail: string }).detail, /too many redirects/);
    assert.equal(a.requestsTo(new RegExp(`^${path}$`)).length, 6, 'the first request and five hops');
  });

  it('a redirect to a non-HTTP URL is refused', T, async () => {
    const path = configPath('redir/file');
    a.addRule({ method: 'GET', path: new RegExp(`^${path}$`), times: Infinity, action: { kind: 'redirect', location: 'file:///etc/passwd' } });
    const { response, error } = await inspect('redir/file');
    assert.equal(response.status, 502);
    assert.equal((error as { code: string }).code, 'UPSTREAM_PROTOCOL_ERROR');
    assert.match((error as { detail: string }).detail, /refusing redirect to file: URL/);
  });
});
