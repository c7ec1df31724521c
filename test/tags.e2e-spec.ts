/**
 * Tag-level and registry-wide operations beyond skopeo, against real registries: safe tag
 * delete (a sibling tag of the same manifest keeps working), the catalog with pagination,
 * digest lookups with one HEAD (counted through the fault proxy), list-tags filters, several
 * tags in one copy, and any OCI artifact (a Helm-chart-like artifact skopeo's inspect refuses)
 * described and copied unchanged.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { type PushedArtifact, SPDX, fallbackTag, pushArtifact, pushCosignSignature, pushFallbackIndex } from './support/artifacts';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pushImage, pushMultiArch, pushTags, sha256Digest, type PushedImage, type PushedManifest } from './support/images';
import { clientFor } from './support/registry-client';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { type Operation, submit, waitForOperation } from './support/operations';

let reg: TestRegistry;
let noDelete: TestRegistry;
let dst: TestRegistry;
let proxy: FaultProxy;
let svc: SkiffService;
let storageRoot: string;
let app: PushedImage;
let multi: { index: PushedManifest; images: PushedImage[] };
let chart: PushedArtifact;

const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CONTENT = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';

async function get(path: string, params: Record<string, string | string[]>): Promise<{ status: number; body: Record<string, unknown> & { code?: string; detail?: string } }> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of ([] as string[]).concat(v)) q.append(k, x);
  const res = await fetch(`${svc.url}${path}?${q}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function deleteTag(image: string): Promise<{ status: number; body: { image?: string; digest?: string; method?: string; code?: string; detail?: string } }> {
  const res = await fetch(`${svc.url}/v1/tags?${new URLSearchParams({ image, tlsVerify: 'false' })}`, { method: 'DELETE' });
  return { status: res.status, body: (await res.json()) as { image?: string; digest?: string; method?: string } };
}

async function tagsOf(r: TestRegistry, repo: string): Promise<string[]> {
  const res = await clientFor(r).request('GET', `/v2/${repo}/tags/list`);
  return ((JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null }).tags ?? []).sort();
}

async function rawDigest(ref: string): Promise<string | undefined> {
  const r = await skopeo(['inspect', '--raw', '--tls-verify=false', ref]);
  return r.code === 0 ? sha256Digest(r.stdoutBytes) : undefined;
}

before(async () => {
  [reg, noDelete, dst] = await Promise.all([startRegistry({ mode: 'plain', deleteEnabled: true }), startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain', deleteEnabled: true })]);
  proxy = await startFaultProxy(reg.url);
  app = await pushImage(reg, 'team/app', '1.0', { layers: [makeLayer({ 'bin/app': 'v1\n' })], os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushTags(reg, 'team/app', app, ['1', 'latest', 'old', '1.0-rc1', '2.0']);
  multi = await pushMultiArch(reg, 'team/multi', 'latest', {
    format: 'oci',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  });
  await pushCosignSignature(reg, 'team/app', app.digest);
  await pushFallbackIndex(reg, 'team/app', app.digest, []);
  for (const r of ['a/one', 'b/two', 'c/three', 'd/four', 'e/five']) await pushImage(reg, r, 'x', { layers: [makeLayer({ f: r })], os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushImage(noDelete, 'team/app', 'a', { layers: [makeLayer({ f: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci' });
  const nd = await pushImage(noDelete, 'team/app', 'b', { layers: [makeLayer({ f: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci' });
  assert.ok(nd.digest);
  chart = await pushArtifact(reg, 'charts/app', {
    config: { mediaType: HELM_CONFIG, bytes: Buffer.from(JSON.stringify({ name: 'app', version: '1.0.0', apiVersion: 'v2' })) },
    layers: [{ mediaType: HELM_CONTENT, bytes: gzipSync(Buffer.from('not really a tar, and no one decompresses it')) }],
    tag: '1.0.0',
  });
  storageRoot = makeTmpDirSync('skiff-tags-root-');
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: storageRoot });
});

after(async () => {
  await svc?.stop();
  await proxy?.close();
  await stopAll();
});

describe('DELETE /v1/tags', () => {
  it('removes one tag; a sibling tag of the same manifest keeps working', async () => {
    const r = await deleteTag(`docker://${reg.host}/team/app:old`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.digest, app.digest);
    assert.equal(r.body.method, 'placeholder'); // distribution 2.8 answers 400 to a DELETE by tag
    assert.equal(await rawDigest(`docker://${reg.host}/team/app:old`), undefined);
    for (const t of ['1.0', '1', 'latest']) assert.equal(await rawDigest(`docker://${reg.host}/team/app:${t}`), app.digest);
    const inspect = await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/team/app:latest`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.ok(!(await tagsOf(reg, 'team/app')).includes('old'));
  });

  it('DELETE /v1/images on the same manifest takes every tag (skopeo delete), for contrast', async () => {
    const img = await pushImage(reg, 'team/contrast', 'a', { layers: [makeLayer({ f: 'contrast' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    await pushTags(reg, 'team/contrast', img, ['b']);
    const res = await fetch(`${svc.url}/v1/images?${new URLSearchParams({ image: `docker://${reg.host}/team/contrast:a`, tlsVerify: 'false' })}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(await rawDigest(`docker://${reg.host}/team/contrast:b`), undefined);
  });

  it('a registry that deletes nothing: 409, and nothing changed', async () => {
    const r = await deleteTag(`docker://${noDelete.host}/team/app:a`);
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.code, 'UPSTREAM_UNSUPPORTED');
    assert.match(r.body.detail!, /no tag was changed/);
    assert.deepEqual(await tagsOf(noDelete, 'team/app'), ['a', 'b']);
    assert.ok(await rawDigest(`docker://${noDelete.host}/team/app:a`));
  });

  it('refuses a digest, a non-registry reference, and answers 404 for a missing tag', async () => {
    assert.equal((await deleteTag(`docker://${reg.host}/team/app@${app.digest}`)).status, 400);
    assert.equal((await deleteTag('oci:layout:tag')).status, 400);
    const missing = await deleteTag(`docker://${reg.host}/team/app:nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'IMAGE_NOT_FOUND');
  });
});

describe('GET /v1/repositories', () => {
  it('pages through the catalog with pageSize / pageToken', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await get('/v1/repositories', { registry: reg.host, tlsVerify: 'false', pageSize: '2', ...(token ? { pageToken: token } : {}) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body['registry'], reg.host);
      const repos = r.body['repositories'] as string[];
      assert.ok(repos.length <= 2);
      seen.push(...repos);
      token = r.body['nextPageToken'] as string | undefined;
      if (!token) break;
    }
    const all = await get('/v1/repositories', { registry: reg.host, tlsVerify: 'false' });
    assert.deepEqual(seen, all.body['repositories']);
    for (const r of ['a/one', 'b/two', 'charts/app', 'team/app', 'team/multi']) assert.ok(seen.includes(r), r);
  });

  it('a registry that does not serve its catalog is a clear 409; bad input is a 400', async () => {
    proxy.addRule({ method: 'GET', path: /^\/v2\/_catalog/, times: 1, action: { kind: 'replace', status: 404, body: '404 page not found\n', contentType: 'text/plain' } });
    const r = await get('/v1/repositories', { registry: proxy.host, tlsVerify: 'false' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.code, 'UPSTREAM_UNSUPPORTED');
    assert.match(r.body.detail!, /does not serve its catalog/);
    assert.equal((await get('/v1/repositories', { registry: 'https://x/y' })).status, 400);
    assert.equal((await get('/v1/repositories', { registry: reg.host, pageSize: '0' })).status, 400);
    assert.equal((await get('/v1/repositories', { registry: reg.host, tlsVerify: 'false', pageToken: '../x' })).status, 400);
  });
});

describe('GET /v1/images/digest', () => {
  it('resolves a tag with exactly one HEAD (no manifest GET: no pull counted)', async () => {
    const before = proxy.requests.length;
    const r = await get('/v1/images/digest', { image: `docker://${proxy.host}/team/multi:latest`, tlsVerify: 'false' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { image: `docker://${proxy.host}/team/multi:latest`, digest: multi.index.digest, mediaType: 'application/vnd.oci.image.index.v1+json' });
    const manifestRequests = proxy.requests.slice(before).filter((q) => q.path.includes('/manifests/'));
    assert.deepEqual(manifestRequests.map((q) => q.method), ['HEAD']);
  });

  it('with os/arch/variant picks the instance skopeo picks', async () => {
    const r = await get('/v1/images/digest', { image: `docker://${reg.host}/team/multi:latest`, tlsVerify: 'false', os: 'linux', arch: 'arm64' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body['digest'], multi.images[1]!.digest);
    assert.equal(r.body['indexDigest'], multi.index.digest);
    const out = join(makeTmpDirSync('skiff-digest-oracle-'), 'img');
    const s = await skopeo(['copy', '--src-tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/team/multi:latest`, `dir:${out}`]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(sha256Digest(readFileSync(join(out, 'manifest.json'))), r.body['digest']);
    const missing = await get('/v1/images/digest', { image: `docker://${reg.host}/team/multi:nope`, tlsVerify: 'false' });
    assert.equal(missing.status, 404);
  });
});

describe('list-tags filters', () => {
  const list = (params: Record<string, string | string[]>) => get('/v1/images/tags', { repository: `docker://${reg.host}/team/app`, tlsVerify: 'false', ...params });

  it('include / exclude globs and excludeDigestTags', async () => {
    const everything = (await list({})).body['Tags'] as string[];
    assert.ok(everything.includes(fallbackTag(app.digest)) && everything.includes(`${fallbackTag(app.digest)}.sig`));
    assert.deepEqual(((await list({ excludeDigestTags: 'true' })).body['Tags'] as string[]).sort(), ['1', '1.0', '1.0-rc1', '2.0', 'latest']);
    assert.deepEqual(((await list({ include: '1*' })).body['Tags'] as string[]).sort(), ['1', '1.0', '1.0-rc1']);
    assert.deepEqual(((await list({ include: ['1*', 'latest'], exclude: '*-rc?' })).body['Tags'] as string[]).sort(), ['1', '1.0', 'latest']);
    assert.deepEqual(((await list({ include: '?.?' })).body['Tags'] as string[]).sort(), ['1.0', '2.0']);
    assert.deepEqual(((await list({ include: 'sha256-*', exclude: '*.sig' })).body['Tags'] as string[]), [fallbackTag(app.digest)]);
  });

  it('refuses patterns outside the glob grammar', async () => {
    for (const bad of ['(a|b)', 'a/b', '', 'x'.repeat(129)]) assert.equal((await list({ include: bad })).status, 400, bad);
  });
});

describe('additionalTags on a registry destination', () => {
  it('one copy writes every tag (manifests last); a second is up to date; bad tags are refused', async () => {
    const body = { source: `docker://${reg.host}/team/app:1.0`, destination: `docker://${dst.host}/rel/app:1.2.3`, additionalTags: ['1.2', '1', 'latest'], sourceTlsVerify: false, destinationTlsVerify: false };
    const { res, op } = await submit(svc, 'copies', body, { headers: { 'idempotency-key': 'release-1.2.3' } });
    assert.equal(res.status, 202, JSON.stringify(op));
    const done = await waitForOperation(svc, op.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(await tagsOf(dst, 'rel/app'), ['1', '1.2', '1.2.3', 'latest']);
    for (const t of ['1.2.3', '1.2', '1', 'latest']) assert.equal(await rawDigest(`docker://${dst.host}/rel/app:${t}`), app.digest);
    const replay = await submit(svc, 'copies', body, { headers: { 'idempotency-key': 'release-1.2.3' } });
    assert.equal(replay.op.id, op.id);
    const again = await submit(svc, 'copies', body);
    const second = (await waitForOperation(svc, again.op.id)) as Operation;
    assert.equal(second.state, 'succeeded');
    assert.equal(second.progress['bytesDone'], 0);
    for (const bad of [['has space'], ['other/repo:tag'], ['-dash']]) {
      const r = await submit(svc, 'copies', { ...body, additionalTags: bad });
      assert.equal(r.res.status, 400, JSON.stringify(bad));
    }
  });

  it('a missing additional tag is written even when the main tag is up to date', async () => {
    const body = { source: `docker://${reg.host}/team/app:1.0`, destination: `docker://${dst.host}/rel/app:1.2.3`, additionalTags: ['stable'], sourceTlsVerify: false, destinationTlsVerify: false };
    const { op } = await submit(svc, 'copies', body);
    const done = await waitForOperation(svc, op.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(await rawDigest(`docker://${dst.host}/rel/app:stable`), app.digest);
  });
});

describe('any OCI artifact', () => {
  it('GET /v1/images/descriptor describes a Helm-chart-like artifact that skopeo inspect refuses', async () => {
    const s = await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/charts/app:1.0.0`]);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /unsupported image-specific operation on artifact/);
    const inspect = await get('/v1/images/inspect', { image: `docker://${reg.host}/charts/app:1.0.0`, tlsVerify: 'false' });
    assert.equal(inspect.status, 400, JSON.stringify(inspect.body));
    assert.match(inspect.body.detail!, /unsupported image-specific operation on artifact.*descriptor/);
    const r = await get('/v1/images/descriptor', { image: `docker://${reg.host}/charts/app:1.0.0`, tlsVerify: 'false' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body['kind'], 'artifact');
    assert.equal(r.body['digest'], chart.digest);
    assert.equal(r.body['size'], chart.size);
    const config = Buffer.from(JSON.stringify({ name: 'app', version: '1.0.0', apiVersion: 'v2' }));
    assert.deepEqual(r.body['config'], { mediaType: HELM_CONFIG, digest: sha256Digest(config), size: config.length });
    assert.deepEqual(r.body['layers'], [{ mediaType: HELM_CONTENT, digest: chart.layers[0]!.digest, size: chart.layers[0]!.bytes.length }]);
    assert.deepEqual(r.body['platforms'], []);
  });

  it('describes an index (platforms) and an image (its platform) and a referrer (subject, artifactType)', async () => {
    const idx = await get('/v1/images/descriptor', { image: `docker://${reg.host}/team/multi:latest`, tlsVerify: 'false' });
    assert.equal(idx.body['kind'], 'index');
    assert.deepEqual(idx.body['platforms'], [
      { os: 'linux', architecture: 'amd64', digest: multi.images[0]!.digest, size: multi.images[0]!.size },
      { os: 'linux', architecture: 'arm64', variant: 'v8', digest: multi.images[1]!.digest, size: multi.images[1]!.size },
    ]);
    const img = await get('/v1/images/descriptor', { image: `docker://${reg.host}/team/app:1.0`, tlsVerify: 'false' });
    assert.equal(img.body['kind'], 'image');
    assert.deepEqual(img.body['platforms'], [{ os: 'linux', architecture: 'amd64', digest: app.digest, size: app.size }]);
    const sbom = await pushArtifact(reg, 'team/app', { artifactType: SPDX, layers: [{ mediaType: SPDX, bytes: Buffer.from('{}\n') }], subject: { mediaType: app.mediaType, digest: app.digest, size: app.size } });
    const ref = await get('/v1/images/descriptor', { image: `docker://${reg.host}/team/app@${sbom.digest}`, tlsVerify: 'false' });
    assert.equal(ref.body['kind'], 'artifact');
    assert.equal(ref.body['artifactType'], SPDX);
    assert.deepEqual(ref.body['subject'], { mediaType: app.mediaType, digest: app.digest, size: app.size });
  });

  it('copies move the artifact unchanged (registry and oci:), with no conversion and no decompression', async () => {
    const { op } = await submit(svc, 'copies', { source: `docker://${reg.host}/charts/app:1.0.0`, destination: `docker://${dst.host}/charts/app:1.0.0`, sourceTlsVerify: false, destinationTlsVerify: false });
    const done = (await waitForOperation(svc, op.id)) as Operation<{ digest: string }>;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.result!.digest, chart.digest);
    assert.equal(await rawDigest(`docker://${dst.host}/charts/app:1.0.0`), chart.digest);
    const blob = await clientFor(dst).request('GET', `/v2/charts/app/blobs/${chart.layers[0]!.digest}`);
    assert.deepEqual(blob.body, chart.layers[0]!.bytes);

    const toLayout = await submit(svc, 'copies', { source: `docker://${reg.host}/charts/app:1.0.0`, destination: 'oci:charts:app', sourceTlsVerify: false });
    const laid = (await waitForOperation(svc, toLayout.op.id)) as Operation<{ digest: string }>;
    assert.equal(laid.state, 'succeeded', JSON.stringify(laid.error));
    assert.equal(laid.result!.digest, chart.digest);
    assert.deepEqual(readFileSync(join(storageRoot, 'charts/blobs/sha256', chart.layers[0]!.digest.slice(7))), chart.layers[0]!.bytes);
    const described = await get('/v1/images/descriptor', { image: 'oci:charts:app' });
    assert.equal(described.body['digest'], chart.digest);

    for (const [why, body] of [
      ['format conversion', { destination: `docker://${dst.host}/charts/v2s2:1`, format: 'v2s2' }],
      ['recompression', { destination: `docker://${dst.host}/charts/zstd:1`, compression: { format: 'zstd' } }],
      ['a docker-archive (Docker manifests only)', { destination: 'docker-archive:chart.tar:charts/app:1' }],
    ] as const) {
      const r = await submit(svc, 'copies', { source: `docker://${reg.host}/charts/app:1.0.0`, sourceTlsVerify: false, destinationTlsVerify: false, ...body });
      const failed = (await waitForOperation(svc, r.op.id)) as Operation;
      assert.equal(failed.state, 'failed', why);
      assert.equal(failed.error!.code, 'OPERATION_NOT_SUPPORTED', `${why}: ${JSON.stringify(failed.error)}`);
      assert.match(failed.error!.detail, /artifact/, why);
    }
  });
});

describe('through the generated client', () => {
  it('every new endpoint answers its typed schema', async () => {
    const image = `docker://${reg.host}/team/multi:latest`;
    const digest = await svc.api.GET('/v1/images/digest', { params: { query: { image, tlsVerify: false } } });
    assert.equal(digest.data?.digest, multi.index.digest);
    const descriptor = await svc.api.GET('/v1/images/descriptor', { params: { query: { image, tlsVerify: false } } });
    assert.equal(descriptor.data?.platforms.length, 2);
    const referrers = await svc.api.GET('/v1/images/referrers', { params: { query: { image: `docker://${reg.host}/team/app:1.0`, tlsVerify: false } } });
    assert.equal(referrers.data?.foundBy, 'tag-schema');
    assert.ok(referrers.data?.referrers.some((r) => r.tag?.endsWith('.sig')));
    const repositories = await svc.api.GET('/v1/repositories', { params: { query: { registry: reg.host, tlsVerify: false, pageSize: 1 } } });
    assert.equal(repositories.data?.repositories.length, 1);
    assert.ok(repositories.data?.nextPageToken);
    const tags = await svc.api.GET('/v1/images/tags', { params: { query: { repository: `docker://${reg.host}/team/app`, tlsVerify: false, include: ['1.*'], excludeDigestTags: true } } });
    assert.deepEqual(tags.data?.Tags.sort(), ['1.0', '1.0-rc1']);
    await pushTags(reg, 'team/app', app, ['via-client']);
    const deleted = await svc.api.DELETE('/v1/tags', { params: { query: { image: `docker://${reg.host}/team/app:via-client`, tlsVerify: false } } });
    assert.equal(deleted.data?.digest, app.digest);
    const problem = await svc.api.GET('/v1/images/digest', { params: { query: { image: 'not a reference' } } });
    assert.equal(problem.response.status, 400);
  });

  it('a sync below its rateLimitFloor waits for the registry\'s window instead of pulling, then finishes', async () => {
    // The source announces 2 pulls left in a 2-second window on its tag list: below a floor of 10,
    // the sync waits for the window (phase waiting-for-rate-limit) before it pulls, then copies.
    proxy.addRule({ method: 'GET', path: /^\/v2\/team\/app\/tags\/list/, times: 1, action: { kind: 'headers', headers: { 'RateLimit-Limit': '100;w=2', 'RateLimit-Remaining': '2;w=2' } } });
    proxy.addRule({ method: 'GET', path: /^\/v2\/team\/app\/manifests\//, times: Infinity, action: { kind: 'headers', headers: { 'RateLimit-Limit': '100;w=2', 'RateLimit-Remaining': '90;w=2' } } });
    try {
      const { res, op } = await submit(svc, 'syncs', { source: `${proxy.host}/team/app`, sourceType: 'docker', destination: `${dst.host}/rl`, destinationType: 'docker', rateLimitFloor: 10, keepGoing: true, sourceTlsVerify: false, destinationTlsVerify: false });
      assert.equal(res.status, 202, JSON.stringify(op));
      const done = await waitForOperation(svc, op.id);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      // Outcome, not timing: the first pull comes after the announced window (a lower bound that load only lengthens).
      const listed = proxy.requestsTo(/^\/v2\/team\/app\/tags\/list/, 'GET')[0]!;
      const firstPull = proxy.requestsTo(/^\/v2\/team\/app\/manifests\//, 'GET')[0]!;
      assert.ok(firstPull.at - listed.at >= 1500, `the first pull waited for the 2 s window (${firstPull.at - listed.at} ms)`);
    } finally {
      proxy.clearRules();
    }
  });

  it('a sync moves an artifact unchanged', async () => {
    const { res, op } = await submit<{ images: { state: string; digest?: string }[] }>(svc, 'syncs', { source: `${reg.host}/charts/app`, sourceType: 'docker', destination: `${dst.host}/synced-charts`, destinationType: 'docker', sourceTlsVerify: false, destinationTlsVerify: false });
    assert.equal(res.status, 202, JSON.stringify(op));
    const done = await waitForOperation<{ images: { state: string; digest?: string }[] }>(svc, op.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.result!.images[0]!.digest, chart.digest);
    assert.equal(await rawDigest(`docker://${dst.host}/synced-charts/app:1.0.0`), chart.digest);
  });
});
