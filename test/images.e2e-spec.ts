/**
 * inspect / list-tags / delete through the HTTP API (typed client generated from the
 * committed OpenAPI spec), against real registries, with skopeo as the oracle.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy } from './support/fault-proxy';
import { httpRequest } from './support/http';
import { makeLayer, pushImage, pushMultiArch, pushTags, type PushedImage } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { registryAuthHeader, startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo, skopeoInspect, skopeoListTags, comparableInspect } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { submit, waitForOperation } from './support/operations';

let plain: TestRegistry;
let basic: TestRegistry;
let token: TestRegistry;
let svc: SkiffService;
let single: PushedImage;
let ociImage: PushedImage;
const ref = (reg: TestRegistry, rest: string) => `docker://${reg.host}/${rest}`;

/** GET an images path with a query, returning the raw answer (for bytes and headers). */
async function getRaw(path: string, query: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${path}?${new URLSearchParams(query)}`, { headers });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}
const inspectRaw = (query: Record<string, string>, headers: Record<string, string> = {}) => getRaw('/v1/images/inspect', query, headers);

before(async () => {
  [plain, basic, token] = await Promise.all([
    startRegistry({ mode: 'plain', deleteEnabled: true }),
    startRegistry({ mode: 'basic' }),
    startRegistry({ mode: 'token' }),
  ]);
  const layers = [makeLayer({ 'etc/os-release': 'ID=skiff\n' }), makeLayer({ 'app/run.sh': '#!/bin/sh\necho hi\n', 'app/data/': '' })];
  const config = { Env: ['PATH=/usr/bin:/bin', 'MODE=test'], Cmd: ['/app/run.sh'], Labels: { 'org.example.team': 'platform', maintainer: 'x <x@example.org>' } };
  single = await pushImage(plain, 'team/app', '1.0', { layers, config, os: 'linux', architecture: 'amd64', format: 'v2s2', created: '2024-03-04T05:06:07.123456789Z', dockerVersion: '24.0.7' });
  await pushImage(plain, 'team/app', '1.1', { layers: layers.slice(0, 1), os: 'linux', architecture: 'amd64', format: 'v2s2' });
  ociImage = await pushImage(plain, 'team/oci', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'oci', annotations: { 'org.opencontainers.image.title': 'x' } });
  await pushImage(plain, 'team/nolabels', 'v1', { layers: layers.slice(1), os: 'linux', architecture: 'amd64', format: 'v2s2', created: '2024-01-01T10:00:00+02:00' });
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'linux', architecture: 'arm', variant: 'v6' },
  ];
  await pushMultiArch(plain, 'team/multi', 'latest', { format: 'oci', platforms, config: { Env: ['A=1'] } });
  await pushMultiArch(plain, 'team/multi-docker', 'latest', { format: 'v2s2', platforms });
  const many = await pushImage(plain, 'team/many', 'latest', { layers, config, os: 'linux', architecture: 'amd64', format: 'v2s2' });
  await pushTags(plain, 'team/many', many, Array.from({ length: 130 }, (_, i) => `t${String(i).padStart(3, '0')}`), { via: 'storage' });
  await pushImage(basic, 'secure/app', 'v1', { layers, config, os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushImage(token, 'tok/app', 'v1', { layers, config, os: 'linux', architecture: 'amd64', format: 'v2s2' });

  const cfgDir = makeTmpDirSync('skiff-regconf-');
  const regConf = join(cfgDir, 'registries.yaml');
  writeFileSync(regConf, `registries:\n  - location: "${basic.host}"\n    ca: ${basic.caFile}\n  - location: "${token.host}"\n    ca: ${token.caFile}\n`);
  svc = await startSkiff({ SKIFF_REGISTRIES_CONFIG: regConf, SKIFF_TAGS_PAGE_SIZE: '50' });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('inspect matches skopeo', () => {
  for (const [label, repo] of [
    ['docker v2s2 image', 'team/app:1.0'],
    ['OCI image with annotations', 'team/oci:v1'],
    ['image without labels, created with an offset', 'team/nolabels:v1'],
    ['OCI index (server platform)', 'team/multi:latest'],
    ['docker manifest list (server platform)', 'team/multi-docker:latest'],
  ] as const) {
    it(label, async () => {
      const image = ref(plain, repo);
      const { data, response } = await svc.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false } } });
      assert.equal(response.status, 200);
      const expected = (await skopeoInspect(image, { tlsVerify: false })) as unknown as Record<string, unknown>;
      assert.deepEqual(comparableInspect(data as Record<string, unknown>), expected);
    });
  }

  it('LayersData carries digests, sizes, media types, and null annotations when the layers have none', async () => {
    const { data } = await svc.api.GET('/v1/images/inspect', { params: { query: { image: ref(plain, 'team/oci:v1'), tlsVerify: false } } });
    const out = data as { LayersData: { MIMEType: string; Digest: string; Size: number; Annotations: unknown }[] };
    assert.deepEqual(
      out.LayersData.map((l) => [l.Digest, l.Size, l.MIMEType, l.Annotations]),
      ociImage.layers.map((l) => [l.digest, l.size, 'application/vnd.oci.image.layer.v1.tar+gzip', null]),
    );
  });

  for (const [arch, variant] of [
    ['arm64', 'v8'],
    ['arm', 'v7'],
    ['arm', 'v6'],
    ['arm', undefined],
  ] as const) {
    it(`picks the ${arch}${variant ?? ''} instance like skopeo --override-arch/--override-variant`, async () => {
      const image = ref(plain, 'team/multi:latest');
      const query: Record<string, string | boolean> = { image, tlsVerify: false, arch };
      if (variant) query['variant'] = variant;
      const { data } = await svc.api.GET('/v1/images/inspect', { params: { query: query as never } });
      const expected = (await skopeoInspect(image, { tlsVerify: false, overrideArch: arch, overrideVariant: variant })) as unknown as Record<string, unknown>;
      assert.deepEqual(comparableInspect(data as Record<string, unknown>), expected);
      const cfgOurs = await svc.api.GET('/v1/images/config', { params: { query: query as never } });
      const cfgTheirs = await skopeoInspect(image, { tlsVerify: false, overrideArch: arch, overrideVariant: variant, config: true });
      assert.deepEqual(cfgOurs.data, cfgTheirs);
      // skopeo 1.9 computes Variant but does not print it: the chosen instance's config is the oracle
      assert.equal((data as { Variant?: string }).Variant, (cfgTheirs as { variant?: string }).variant);
      if (variant) assert.equal((data as { Variant?: string }).Variant, variant);
    });
  }

  it('GET /v1/images/manifest answers the bytes skopeo --raw prints, with media type, digest, ETag and pass-through headers', async () => {
    for (const repo of ['team/app:1.0', 'team/oci:v1', 'team/multi:latest', 'team/multi-docker:latest']) {
      const image = ref(plain, repo);
      const { res, bytes } = await getRaw('/v1/images/manifest', { image, tlsVerify: 'false' });
      assert.equal(res.status, 200);
      const theirs = (await skopeoInspect(image, { tlsVerify: false, raw: true })) as Buffer;
      assert.ok(bytes.equals(theirs), repo);
      const mt = JSON.parse(bytes.toString()).mediaType as string;
      assert.equal(res.headers.get('content-type'), mt);
      const digest = res.headers.get('docker-content-digest') ?? '';
      assert.equal(digest, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      assert.equal(res.headers.get('etag'), `"${digest}"`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none'");
      // the same ETag back: 304 without a body; another one: the bytes again
      const again = await getRaw('/v1/images/manifest', { image, tlsVerify: 'false' }, { 'if-none-match': `W/"sha256:${'0'.repeat(64)}", "${digest}"` });
      assert.equal(again.res.status, 304);
      assert.equal(again.bytes.length, 0);
      assert.equal(again.res.headers.get('etag'), `"${digest}"`);
      const changed = await getRaw('/v1/images/manifest', { image, tlsVerify: 'false' }, { 'if-none-match': `"sha256:${'0'.repeat(64)}"` });
      assert.equal(changed.res.status, 200);
      assert.ok(changed.bytes.equals(theirs));
    }
  });

  it('GET /v1/images/manifest with os/arch/variant answers the instance skopeo --override-arch chooses', async () => {
    const image = ref(plain, 'team/multi:latest');
    const index = JSON.parse((await getRaw('/v1/images/manifest', { image, tlsVerify: 'false' })).bytes.toString()) as { manifests: { digest: string; platform: { architecture: string; variant?: string } }[] };
    const arm64 = index.manifests.find((m) => m.platform.architecture === 'arm64')!;
    const { res, bytes } = await getRaw('/v1/images/manifest', { image, tlsVerify: 'false', arch: 'arm64' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), arm64.digest);
    assert.ok(bytes.equals((await skopeoInspect(`${image.replace(/:latest$/, '')}@${arm64.digest}`, { tlsVerify: false, raw: true })) as Buffer));
    const inspected = await svc.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false, arch: 'arm64', noTags: true } } });
    assert.equal(inspected.data?.Architecture, 'arm64');
  });

  it('GET /v1/images/config equals skopeo --config (typed, weak ETag); GET /v1/images/blobs/{digest} equals skopeo --config --raw', async () => {
    const image = ref(plain, 'team/app:1.0');
    const { data, response } = await svc.api.GET('/v1/images/config', { params: { query: { image, tlsVerify: false } } });
    assert.deepEqual(data, await skopeoInspect(image, { tlsVerify: false, config: true }));
    assert.equal(data?.architecture, 'amd64');
    const etag = response.headers.get('etag');
    assert.equal(etag, `W/"${single.configDigest}"`);
    const cached = await getRaw('/v1/images/config', { image, tlsVerify: 'false' }, { 'if-none-match': etag! });
    assert.equal(cached.res.status, 304);
    const repository = ref(plain, 'team/app');
    const { res, bytes } = await getRaw(`/v1/images/blobs/${single.configDigest}`, { repository, tlsVerify: 'false' });
    assert.equal(res.status, 200);
    const theirs = (await skopeoInspect(image, { tlsVerify: false, config: true, raw: true })) as Buffer;
    assert.ok(bytes.equals(theirs));
    assert.ok(bytes.equals(single.configBytes));
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('docker-content-digest'), single.configDigest);
    assert.equal(res.headers.get('etag'), `"${single.configDigest}"`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await getRaw(`/v1/images/blobs/${single.configDigest}`, { repository, tlsVerify: 'false' }, { 'if-none-match': `"${single.configDigest}"` })).res.status, 304);
    // a layer streams too; an unknown digest is a 404; a tag in the repository is a 400
    const layer = single.layers[0]!;
    const layerBytes = await getRaw(`/v1/images/blobs/${layer.digest}`, { repository, tlsVerify: 'false' });
    assert.equal(layerBytes.res.status, 200);
    assert.equal(`sha256:${createHash('sha256').update(layerBytes.bytes).digest('hex')}`, layer.digest);
    const missing = await getRaw(`/v1/images/blobs/sha256:${'1'.repeat(64)}`, { repository, tlsVerify: 'false' });
    assert.equal(missing.res.status, 404, missing.bytes.toString());
    const tagged = await getRaw(`/v1/images/blobs/${layer.digest}`, { repository: image, tlsVerify: 'false' });
    assert.equal(tagged.res.status, 400);
    const badDigest = await getRaw('/v1/images/blobs/sha256:nothex', { repository, tlsVerify: 'false' });
    assert.equal(badDigest.res.status, 400);
  });

  it('the old raw, config and format parameters of inspect are a 400 naming what replaced them', async () => {
    const image = ref(plain, 'team/app:1.0');
    for (const [param, replacement] of [
      ['raw', '/v1/images/manifest'],
      ['config', '/v1/images/config'],
      ['format', '/v1/images/inspect/text'],
    ] as const) {
      const { res, bytes } = await inspectRaw({ image, tlsVerify: 'false', [param]: param === 'format' ? '{{.Digest}}' : 'true' });
      assert.equal(res.status, 400, param);
      const problem = JSON.parse(bytes.toString()) as { code: string; detail: string; errors: { field: string }[] };
      assert.equal(problem.code, 'INVALID_ARGUMENT');
      assert.ok(problem.detail.includes(replacement), problem.detail);
      assert.deepEqual(problem.errors.map((e) => e.field), [param]);
    }
  });

  it('noTags leaves RepoTags empty; format renders Go templates like skopeo', async () => {
    const image = ref(plain, 'team/app:1.0');
    const { data } = await svc.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false, noTags: true } } });
    assert.deepEqual((data as { RepoTags: string[] }).RepoTags, []);
    for (const format of ['{{.Digest}}', '{{.Name}} {{.Architecture}}/{{.Os}}', '{{index .Labels "org.example.team"}}', '{{range .RepoTags}}[{{.}}]{{end}}', '{{.Labels}}', '{{len .Layers}} {{.Created}}']) {
      const { res, bytes } = await getRaw('/v1/images/inspect/text', { image, format, tlsVerify: 'false' });
      assert.equal(res.status, 200, format);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const r = await skopeo(['inspect', '--tls-verify=false', '--format', format, image]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(bytes.toString(), r.stdout, format);
    }
    // skopeo 1.9 has no `json` function (newer skopeo has); ours prints what Go's json does.
    const json = await getRaw('/v1/images/inspect/text', { image, format: '{{json .Env}}', tlsVerify: 'false' });
    assert.equal(json.bytes.toString(), JSON.stringify(['PATH=/usr/bin:/bin', 'MODE=test']) + '\n');
    const bad = await getRaw('/v1/images/inspect/text', { image, format: '{{template "x"}}', tlsVerify: 'false' });
    assert.equal(bad.res.status, 400);
    assert.equal((JSON.parse(bad.bytes.toString()) as { code: string }).code, 'INVALID_TEMPLATE');
    // a template is checked before anything is read: an image that does not exist is not even looked up
    const early = await getRaw('/v1/images/inspect/text', { image: ref(plain, 'team/absent:1'), format: '{{define "x"}}y{{end}}', tlsVerify: 'false' });
    assert.equal(early.res.status, 400);
  });
});

describe('list-tags', () => {
  it('follows pagination and equals skopeo list-tags', async () => {
    const repository = ref(plain, 'team/many');
    const { data, response } = await svc.api.GET('/v1/images/tags', { params: { query: { repository, tlsVerify: false } } });
    assert.equal(response.status, 200);
    const expected = await skopeoListTags(repository, { tlsVerify: false });
    assert.equal(expected.Tags.length, 131);
    assert.deepEqual(data, expected);
  });

  it('names a registry lists that are not valid tags are listed and in RepoTags, as skopeo shows them; a sync of that repository fails, as skopeo\'s', async () => {
    const odd = await pushImage(plain, 'team/oddtags', 'v1', { layers: [makeLayer({ f: 'odd' })], os: 'linux', architecture: 'amd64', format: 'v2s2' });
    // written into the registry's storage: its API refuses such tags on push, but lists what it stores
    await pushTags(plain, 'team/oddtags', odd, ['odd:tag', '-dash', 'x'.repeat(130)], { via: 'storage' });
    const repository = `docker://${plain.host}/team/oddtags`;
    const tags = await svc.api.GET('/v1/images/tags', { params: { query: { repository, tlsVerify: false } } });
    assert.equal(tags.response.status, 200, JSON.stringify(tags.error));
    assert.deepEqual(tags.data, await skopeoListTags(repository, { tlsVerify: false }));
    const image = `${repository}:v1`;
    const mine = await svc.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false } } });
    assert.equal(mine.response.status, 200, JSON.stringify(mine.error));
    assert.deepEqual(comparableInspect(mine.data as Record<string, unknown>), await skopeoInspect(image, { tlsVerify: false }));
    const theirs = await skopeo(['sync', '--src-tls-verify=false', '--src', 'docker', '--dest', 'dir', `${plain.host}/team/oddtags`, makeTmpDirSync('skiff-oddsync-')]);
    assert.notEqual(theirs.code, 0);
    assert.match(theirs.stderr, /odd:tag\\?": invalid tag format/);
    const { res, op } = await submit(svc, 'syncs', { source: `${plain.host}/team/oddtags`, sourceType: 'docker', destination: 'oddsync', destinationType: 'dir', sourceTlsVerify: false });
    assert.ok(res.status === 200 || res.status === 202, JSON.stringify(op));
    const done = op.state === 'failed' || op.state === 'succeeded' ? op : await waitForOperation(svc, op.id);
    assert.equal(done.state, 'failed', JSON.stringify(done));
    assert.equal(done.error?.code, 'UPSTREAM_PROTOCOL_ERROR');
    assert.match(String(done.error?.detail), /"odd:tag", which is not a valid tag/);
  });

  it('refuses a tag in the repository reference', async () => {
    const { error, response } = await svc.api.GET('/v1/images/tags', { params: { query: { repository: ref(plain, 'team/many:t001'), tlsVerify: false } } });
    assert.equal(response.status, 400);
    assert.equal((error as { code: string }).code, 'INVALID_REFERENCE');
  });
});

describe('delete', () => {
  it('resolves a tag to its digest, deletes it, and 404s afterwards', async () => {
    const img = await pushImage(plain, 'team/doomed', 'gone', { layers: [makeLayer({ x: 'doomed' })], os: 'linux', architecture: 'amd64', format: 'v2s2' });
    const image = ref(plain, 'team/doomed:gone');
    const { data, response } = await svc.api.DELETE('/v1/images', { params: { query: { image, tlsVerify: false } } });
    assert.equal(response.status, 200);
    assert.deepEqual(data, { image, digest: img.digest });
    const r = await skopeo(['inspect', '--tls-verify=false', image]);
    assert.notEqual(r.code, 0);
    const again = await svc.api.DELETE('/v1/images', { params: { query: { image, tlsVerify: false } } });
    assert.equal(again.response.status, 404);
    assert.equal((again.error as { code: string }).code, 'IMAGE_NOT_FOUND');
  });

  it('passes on a registry that does not allow deletes as a clear problem', async () => {
    const res = await svc.api.DELETE('/v1/images', { params: { query: { image: ref(basic, 'secure/app:v1') } }, headers: { 'X-Registry-Auth': registryAuthHeader({ username: basic.username!, password: basic.password! }) } });
    assert.equal(res.response.status, 409);
    const p = res.error as { code: string; upstreamStatus: number; upstreamCode: string; registry: string };
    assert.equal(p.code, 'UPSTREAM_UNSUPPORTED');
    assert.equal(p.upstreamStatus, 405);
    assert.equal(p.registry, basic.host);
  });
});

describe('authenticated registries', () => {
  it('basic auth over TLS with X-Registry-Auth equals skopeo --creds', async () => {
    const image = ref(basic, 'secure/app:v1');
    const { data, response } = await svc.api.GET('/v1/images/inspect', {
      params: { query: { image } },
      headers: { 'X-Registry-Auth': registryAuthHeader({ username: basic.username!, password: basic.password! }) },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(comparableInspect(data as Record<string, unknown>), await skopeoInspect(image, { registry: basic }));
  });

  it('wrong or missing credentials give 403 problems, never 401', async () => {
    const image = ref(basic, 'secure/app:v1');
    const wrong = await svc.api.GET('/v1/images/inspect', { params: { query: { image } }, headers: { 'X-Registry-Auth': registryAuthHeader({ username: basic.username!, password: 'nope' }) } });
    assert.equal(wrong.response.status, 403);
    assert.equal(wrong.response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal((wrong.error as { code: string }).code, 'INVALID_CREDENTIALS');
    const none = await svc.api.GET('/v1/images/inspect', { params: { query: { image } } });
    assert.equal(none.response.status, 403);
    assert.equal((none.error as { code: string }).code, 'REGISTRY_DENIED');
  });

  it("a token registry's refusals carry what skopeo's message says: the challenge's DENIED, the body's errors, the token server's own error", async () => {
    const image = ref(token, 'tok/app:v1');
    // anonymous: the token server grants nothing, the registry answers 401 error="insufficient_scope"
    const theirsAnon = await skopeo(['inspect', '--cert-dir', token.certDir!, image]);
    assert.notEqual(theirsAnon.code, 0);
    assert.match(theirsAnon.stderr, /denied: requested access to the resource is denied\\nunauthorized: authentication required/);
    const anon = await svc.api.GET('/v1/images/inspect', { params: { query: { image } } });
    assert.equal(anon.response.status, 403);
    const a = anon.error as { code: string; detail: string; upstreamCode: string };
    assert.equal(a.code, 'REGISTRY_DENIED');
    assert.equal(a.upstreamCode, 'DENIED');
    assert.match(a.detail, /tok\/app: registry .* answered DENIED: requested access to the resource is denied; UNAUTHORIZED: authentication required$/);
    // wrong password: the token server refuses it with its own error
    const theirsWrong = await skopeo(['inspect', '--cert-dir', token.certDir!, '--creds', `${token.username}:nope`, image]);
    assert.match(theirsWrong.stderr, /invalid username\/password: unauthorized: invalid username or password/);
    const wrong = await svc.api.GET('/v1/images/inspect', { params: { query: { image } }, headers: { 'X-Registry-Auth': registryAuthHeader({ username: token.username!, password: 'nope' }) } });
    assert.equal(wrong.response.status, 403);
    const w = wrong.error as { code: string; detail: string };
    assert.equal(w.code, 'INVALID_CREDENTIALS');
    assert.match(w.detail, /rejected by its auth server \(HTTP 401: UNAUTHORIZED: invalid username or password\)/);
  });

  it('credentials never travel over unverified TLS (tlsVerify=false) unless the registry is marked insecure', async () => {
    const basicAuth = registryAuthHeader({ username: basic.username!, password: basic.password! });
    const refused = await svc.api.GET('/v1/images/inspect', { params: { query: { image: ref(basic, 'secure/app:v1'), tlsVerify: false } }, headers: { 'X-Registry-Auth': basicAuth } });
    assert.equal(refused.response.status, 403);
    assert.equal((refused.error as { code: string }).code, 'REGISTRY_DENIED');
    assert.match((refused.error as { detail: string }).detail, /refusing to send credentials for .* over unverified TLS; mark the registry insecure/);

    // the token realm is not sent the password either
    const tokenRequests = token.tokenRequests!.length;
    const tokenAuth = registryAuthHeader({ username: token.username!, password: token.password! });
    const toRealm = await svc.api.GET('/v1/images/inspect', { params: { query: { image: ref(token, 'tok/app:v1'), tlsVerify: false, noTags: true } }, headers: { 'X-Registry-Auth': tokenAuth } });
    assert.equal(toRealm.response.status, 403);
    assert.equal((toRealm.error as { code: string }).code, 'REGISTRY_DENIED');
    assert.equal(token.tokenRequests!.length, tokenRequests, 'no token request was made');

    const conf = join(makeTmpDirSync('skiff-insecure-conf-'), 'registries.yaml');
    writeFileSync(conf, `registries:\n  - location: "${basic.host}"\n    insecure: true\n`);
    const trusting = await startSkiff({ SKIFF_REGISTRIES_CONFIG: conf });
    try {
      const allowed = await trusting.api.GET('/v1/images/inspect', { params: { query: { image: ref(basic, 'secure/app:v1') } }, headers: { 'X-Registry-Auth': basicAuth } });
      assert.equal(allowed.response.status, 200, JSON.stringify(allowed.error));
      assert.deepEqual(comparableInspect(allowed.data as Record<string, unknown>), await skopeoInspect(ref(basic, 'secure/app:v1'), { registry: basic }));
    } finally {
      await trusting.stop();
    }
  });

  it('bearer-token auth with scoped tokens equals skopeo', async () => {
    const image = ref(token, 'tok/app:v1');
    const auth = registryAuthHeader({ username: token.username!, password: token.password! });
    const { data, response } = await svc.api.GET('/v1/images/inspect', { params: { query: { image } }, headers: { 'X-Registry-Auth': auth } });
    assert.equal(response.status, 200);
    assert.deepEqual(comparableInspect(data as Record<string, unknown>), await skopeoInspect(image, { registry: token }));
    const scopes = token.tokenRequests!.flatMap((r) => r.rawScopes);
    assert.ok(scopes.includes('repository:tok/app:pull'), scopes.join(' '));
    const before = token.tokenRequests!.length;
    await svc.api.GET('/v1/images/inspect', { params: { query: { image, noTags: true } }, headers: { 'X-Registry-Auth': auth } });
    assert.equal(token.tokenRequests!.length, before, 'the cached token is reused');
  });

  it('an identity token (OAuth2 refresh grant) and a raw registry token work; a wrong identity token is refused', async () => {
    const image = ref(token, 'tok/app:v1');
    const expected = comparableInspect((await skopeoInspect(image, { registry: token })) as unknown as Record<string, unknown>);
    const viaIdentity = await svc.api.GET('/v1/images/inspect', { params: { query: { image } }, headers: { 'X-Registry-Auth': registryAuthHeader({ identitytoken: `identity-${token.password!}` }) } });
    assert.equal(viaIdentity.response.status, 200);
    assert.deepEqual(comparableInspect(viaIdentity.data as Record<string, unknown>), expected);
    assert.ok(token.tokenRequests!.some((r) => r.method === 'POST' && r.subject === token.username), 'the refresh grant was used');
    const wrong = await svc.api.GET('/v1/images/inspect', { params: { query: { image, noTags: true } }, headers: { 'X-Registry-Auth': registryAuthHeader({ identitytoken: 'identity-wrong' }) } });
    assert.equal(wrong.response.status, 403);
    assert.equal((wrong.error as { code: string }).code, 'INVALID_CREDENTIALS');
    const scope = encodeURIComponent('repository:tok/app:pull');
    const issued = await httpRequest(`${token.tokenRealm}?service=${encodeURIComponent(token.tokenService!)}&scope=${scope}`, {
      ca: readFileSync(token.caFile!),
      headers: { authorization: 'Basic ' + Buffer.from(`${token.username}:${token.password}`).toString('base64') },
    });
    const registrytoken = (JSON.parse(issued.body.toString()) as { token: string }).token;
    const viaToken = await svc.api.GET('/v1/images/inspect', { params: { query: { image, noTags: true } }, headers: { 'X-Registry-Auth': registryAuthHeader({ registrytoken }) } });
    assert.equal(viaToken.response.status, 200);
    assert.equal((viaToken.data as { Digest: string }).Digest, expected['Digest']);
  });

  it('login checks and stores credentials, list never shows secrets, logout forgets', async () => {
    const bad = await svc.api.PUT('/v1/credentials/{registry}', { params: { path: { registry: token.host } }, body: { username: token.username!, password: 'wrong' } });
    assert.equal(bad.response.status, 403);
    const ok = await svc.api.PUT('/v1/credentials/{registry}', { params: { path: { registry: token.host } }, body: { username: token.username!, password: token.password! } });
    assert.equal(ok.response.status, 200);
    assert.deepEqual(ok.data, { registry: token.host, username: token.username, source: 'stored' });
    const image = ref(token, 'tok/app:v1');
    const withStored = await svc.api.GET('/v1/images/inspect', { params: { query: { image, noTags: true } } });
    assert.equal(withStored.response.status, 200);
    const list = await svc.api.GET('/v1/credentials');
    assert.deepEqual(list.data, [{ registry: token.host, username: token.username, source: 'stored' }]);
    assert.ok(!JSON.stringify(list.data).includes(token.password!));
    const out = await svc.api.DELETE('/v1/credentials/{registry}', { params: { path: { registry: token.host } } });
    assert.equal(out.response.status, 204);
    const again = await svc.api.DELETE('/v1/credentials/{registry}', { params: { path: { registry: token.host } } });
    assert.equal(again.response.status, 404);
    const denied = await svc.api.GET('/v1/images/inspect', { params: { query: { image, noTags: true } } });
    assert.equal(denied.response.status, 403);
  });

  it('never logs a secret', () => {
    const log = svc.log();
    for (const secret of [basic.password!, token.password!, registryAuthHeader({ username: basic.username!, password: basic.password! })]) {
      assert.ok(!log.includes(secret), 'a secret appeared in the service log');
    }
  });
});

describe('bad input gets a clear problem', () => {
  const cases: [string, string, number, string][] = [
    ['malformed reference', 'docker://UPPER/Case', 400, 'INVALID_REFERENCE'],
    ['missing transport', 'busybox:latest', 400, 'INVALID_REFERENCE'],
    ['unknown transport', 'ftp:foo', 400, 'INVALID_REFERENCE'],
    ['path escaping the storage root', 'oci:../../etc:latest', 400, 'PATH_ESCAPES_STORAGE_ROOT'],
    ['absolute path', 'dir:/etc', 400, 'PATH_ESCAPES_STORAGE_ROOT'],
    ['no OCI layout at that path', 'oci:layouts/app:latest', 404, 'IMAGE_NOT_FOUND'],
    ['registry that is down', 'docker://127.0.0.1:1/nothing:latest', 503, 'UPSTREAM_UNAVAILABLE'],
  ];
  for (const [label, image, status, code] of cases) {
    it(label, async () => {
      const { response, error } = await svc.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false } } });
      assert.equal(response.status, status);
      const p = error as { type: string; title: string; status: number; detail: string; instance: string; code: string };
      assert.equal(p.status, status);
      assert.equal(p.code, code);
      assert.equal(p.instance, '/v1/images/inspect');
      assert.ok(p.title && p.detail && p.type.startsWith('urn:skiff:problem:'));
    });
  }

  it('image not found and missing parameters', async () => {
    const nf = await svc.api.GET('/v1/images/inspect', { params: { query: { image: ref(plain, 'team/app:nope'), tlsVerify: false } } });
    assert.equal(nf.response.status, 404);
    assert.equal((nf.error as { upstreamCode: string }).upstreamCode, 'MANIFEST_UNKNOWN');
    const missing = await fetch(`${svc.url}/v1/images/inspect`);
    assert.equal(missing.status, 400);
    const p = (await missing.json()) as { errors: { field: string }[] };
    assert.equal(p.errors[0]!.field, 'image');
    const badBool = await fetch(`${svc.url}/v1/images/inspect?image=docker://x/y&raw=maybe`);
    assert.equal(badBool.status, 400);
    const badHeader = await fetch(`${svc.url}/v1/images/inspect?image=docker://x/y`, { headers: { 'X-Registry-Auth': '%%%' } });
    assert.equal(badHeader.status, 400);
  });

  it('TLS without a trusted CA fails clearly', async () => {
    const { response, error } = await svc.api.GET('/v1/images/inspect', { params: { query: { image: `docker://localhost:${basic.port}/secure/app:v1` } } });
    assert.equal(response.status, 502);
    assert.equal((error as { code: string }).code, 'UPSTREAM_TLS_ERROR');
  });
});

describe('schema1 manifests', () => {
  it('inspect of an unsigned schema1 image (served by a proxy) equals skopeo', async () => {
    await pushImage(plain, 'legacy/app', 'v1', { layers: [makeLayer({ a: 'a' })], os: 'linux', architecture: 'amd64', format: 'v2s2' });
    await pushImage(plain, 'legacy/app', 'v2', { layers: [makeLayer({ b: 'b' })], os: 'linux', architecture: 'amd64', format: 'v2s2' });
    const id = (n: number) => createHash('sha256').update(`layer ${n}`).digest('hex');
    const v1 = (o: Record<string, unknown>) => ({ v1Compatibility: JSON.stringify(o) });
    const schema1 = JSON.stringify(
      {
        schemaVersion: 1,
        name: 'legacy/app',
        tag: 'v1',
        architecture: 'amd64',
        fsLayers: [{ blobSum: `sha256:${id(11)}` }, { blobSum: `sha256:${id(10)}` }],
        history: [
          v1({ id: id(1), parent: id(0), created: '2020-01-02T03:04:05.123456789Z', docker_version: '1.13.1', architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin', 'LEGACY=1'], Labels: { z: '1', a: '2' } } }),
          v1({ id: id(0), created: '2019-12-31T00:00:00Z', container_config: { Cmd: ['/bin/sh'] } }),
        ],
      },
      null,
      3,
    );
    const proxy = await startFaultProxy(plain.url);
    try {
      proxy.addRule({ method: 'GET', path: /^\/v2\/legacy\/app\/manifests\/v1$/, times: Infinity, action: { kind: 'replace', body: schema1, contentType: 'application/vnd.docker.distribution.manifest.v1+json' } });
      const image = `docker://${proxy.host}/legacy/app:v1`;
      const { data, response, error } = await svc.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false } } });
      assert.equal(response.status, 200, JSON.stringify(error));
      const theirs = await skopeoInspect(image, { tlsVerify: false });
      assert.deepEqual(comparableInspect(data as Record<string, unknown>), theirs as unknown as Record<string, unknown>);
      assert.deepEqual((data as { Layers: string[] }).Layers, [`sha256:${id(10)}`, `sha256:${id(11)}`]);
      const raw = await getRaw('/v1/images/manifest', { image, tlsVerify: 'false' });
      assert.deepEqual(raw.bytes, Buffer.from(schema1));
    } finally {
      await proxy.close();
    }
  });
});
