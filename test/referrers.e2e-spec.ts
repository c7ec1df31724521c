/**
 * Referrers travel with the image: signatures and SBOMs made here as OCI 1.1 artifacts with a
 * `subject` (and a cosign-style `sha256-<hex>.sig` digest tag) on a multi-arch image, listed,
 * copied and synced through the HTTP API, then listed at the destination with the same digests
 * (and read back with skopeo, byte for byte).
 *
 * The CNCF registry packaged here (docker-registry 2.8) has no referrers API. Two paths are
 * tested: the registry as it is (referrers found and written through the fallback
 * `sha256-<hex>` tag index), and the same registry behind the fault proxy with an EMULATION of
 * the OCI 1.1 referrers API (test/support/referrers-emulation.ts: `GET /v2/<name>/referrers/
 * <digest>` answered from the registry's storage, `OCI-Subject` on manifest PUTs).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Descriptor, type PushedArtifact, SIGNATURE, SIMPLESIGNING, SPDX, fallbackTag, pushArtifact, pushCosignSignature, pushFallbackIndex } from './support/artifacts';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pushImage, pushMultiArch, sha256Digest, type PushedImage, type PushedManifest } from './support/images';
import { clientFor } from './support/registry-client';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { type Operation, submit, waitForOperation } from './support/operations';

interface CopiedReferrer {
  digest: string;
  subject: string;
  artifactType?: string;
  tag?: string;
  state: 'copied' | 'present';
}
interface CopyResult {
  digest: string;
  referrers?: { copied: CopiedReferrer[]; recorded: { subject: string; by: string }[]; notCopied: { subject: string; reason: string }[] };
}
interface Listed {
  image: string;
  digest: string;
  foundBy: string;
  referrers: (Descriptor & { tag?: string })[];
}

let src: TestRegistry;
let dst: TestRegistry;
let apiDst: TestRegistry;
let srcApi: FaultProxy;
let dstApi: FaultProxy;
let svc: SkiffService;
let storageRoot: string;
let index: PushedManifest;
let arm64: PushedImage;
let sbom: PushedArtifact;
let sbomSignature: PushedArtifact;
let instanceSignature: PushedArtifact;
let cosignSig: PushedArtifact;

const plainTls = { sourceTlsVerify: false, destinationTlsVerify: false };

async function listReferrers(image: string, artifactType?: string): Promise<{ status: number; body: Listed & { code?: string } }> {
  const q = new URLSearchParams({ image, tlsVerify: 'false', ...(artifactType ? { artifactType } : {}) });
  const res = await fetch(`${svc.url}/v1/images/referrers?${q}`);
  return { status: res.status, body: (await res.json()) as Listed & { code?: string } };
}

async function copy(body: Record<string, unknown>): Promise<Operation<CopyResult>> {
  const { res, op } = await submit<CopyResult>(svc, 'copies', { ...plainTls, ...body });
  assert.equal(res.status, 202, JSON.stringify(op));
  return waitForOperation<CopyResult>(svc, op.id);
}

async function tags(reg: TestRegistry, repo: string): Promise<string[]> {
  const res = await clientFor(reg).request('GET', `/v2/${repo}/tags/list`);
  return ((JSON.parse(res.body.toString('utf8')) as { tags?: string[] }).tags ?? []).sort();
}

async function rawDigest(ref: string): Promise<string> {
  const r = await skopeo(['inspect', '--raw', '--tls-verify=false', ref]);
  assert.equal(r.code, 0, r.stderr);
  return sha256Digest(r.stdoutBytes);
}

const digests = (list: { digest: string }[]) => list.map((d) => d.digest).sort();

before(async () => {
  [src, dst, apiDst] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' })]);
  [srcApi, dstApi] = await Promise.all([
    startFaultProxy(src.url, { referrers: { storageDir: src.storageDir } }),
    startFaultProxy(apiDst.url, { referrers: { storageDir: apiDst.storageDir } }),
  ]);
  const pushed = await pushMultiArch(src, 'team/app', '1.0', {
    format: 'oci',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  });
  index = pushed.index;
  arm64 = pushed.images[1]!;
  const spdx = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'app', packages: [{ name: 'busybox', versionInfo: '1.36' }] }));
  sbom = await pushArtifact(src, 'team/app', {
    artifactType: SPDX,
    layers: [{ mediaType: SPDX, bytes: spdx }],
    subject: { mediaType: index.mediaType, digest: index.digest, size: index.size },
    annotations: { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' },
  });
  sbomSignature = await pushArtifact(src, 'team/app', {
    artifactType: SIGNATURE,
    layers: [{ mediaType: SIGNATURE, bytes: Buffer.from(`signature of ${sbom.digest}`) }],
    subject: { mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.size },
  });
  instanceSignature = await pushArtifact(src, 'team/app', {
    artifactType: SIGNATURE,
    layers: [{ mediaType: SIGNATURE, bytes: Buffer.from(`signature of ${arm64.digest}`) }],
    subject: { mediaType: arm64.mediaType, digest: arm64.digest, size: arm64.size },
  });
  cosignSig = await pushCosignSignature(src, 'team/app', index.digest);
  // What a client writes on a registry without the referrers API: the fallback tag indexes.
  await pushFallbackIndex(src, 'team/app', index.digest, [sbom.descriptor]);
  await pushFallbackIndex(src, 'team/app', sbom.digest, [sbomSignature.descriptor]);
  await pushFallbackIndex(src, 'team/app', arm64.digest, [instanceSignature.descriptor]);
  storageRoot = makeTmpDirSync('skiff-referrers-root-');
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: storageRoot });
});

after(async () => {
  await svc?.stop();
  await Promise.all([srcApi?.close(), dstApi?.close()]);
  await stopAll();
});

describe('listing referrers', () => {
  it('lists the same referrers through the fallback tag index and through the (emulated) referrers API, plus the cosign digest tag', async () => {
    const direct = await listReferrers(`docker://${src.host}/team/app:1.0`);
    assert.equal(direct.status, 200, JSON.stringify(direct.body));
    assert.equal(direct.body.digest, index.digest);
    assert.equal(direct.body.foundBy, 'tag-schema');
    const viaApi = await listReferrers(`docker://${srcApi.host}/team/app:1.0`);
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
    assert.equal(viaApi.body.foundBy, 'referrers-api');
    for (const listed of [direct.body, viaApi.body]) {
      assert.deepEqual(digests(listed.referrers), [sbom.digest, cosignSig.digest].sort());
      const s = listed.referrers.find((r) => r.digest === sbom.digest)!;
      assert.equal(s.artifactType, SPDX);
      assert.equal(s.size, sbom.size);
      assert.equal(s.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.deepEqual(s.annotations, { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' });
      const c = listed.referrers.find((r) => r.digest === cosignSig.digest)!;
      assert.equal(c.tag, `${fallbackTag(index.digest)}.sig`);
      assert.equal(c.artifactType, SIMPLESIGNING);
    }
  });

  it('filters by artifactType, and lists referrers of an instance and of a referrer', async () => {
    const onlySbom = await listReferrers(`docker://${srcApi.host}/team/app:1.0`, SPDX);
    assert.deepEqual(digests(onlySbom.body.referrers), [sbom.digest]);
    const onlyCosign = await listReferrers(`docker://${src.host}/team/app:1.0`, SIMPLESIGNING);
    assert.deepEqual(digests(onlyCosign.body.referrers), [cosignSig.digest]);
    const ofInstance = await listReferrers(`docker://${src.host}/team/app@${arm64.digest}`);
    assert.deepEqual(digests(ofInstance.body.referrers), [instanceSignature.digest]);
    const ofSbom = await listReferrers(`docker://${srcApi.host}/team/app@${sbom.digest}`);
    assert.deepEqual(digests(ofSbom.body.referrers), [sbomSignature.digest]);
    const none = await listReferrers(`docker://${src.host}/team/app@${sbomSignature.digest}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body.referrers, []);
  });

  it('answers problems for bad input', async () => {
    assert.equal((await listReferrers(`docker://${src.host}/team/app:1.0`, 'not a type')).status, 400);
    const missing = await listReferrers(`docker://${src.host}/team/app:nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'IMAGE_NOT_FOUND');
    assert.equal((await listReferrers('dir:somewhere')).status, 400);
  });
});

describe('copying referrers', () => {
  it('registry → registry without a referrers API: everything comes along, recursively, digests unchanged, fallback tag indexes written', async () => {
    const op = await copy({ source: `docker://${src.host}/team/app:1.0`, destination: `docker://${dst.host}/mirror/app:1.0`, multiArch: 'all', referrers: 'all' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const r = op.result!.referrers!;
    assert.deepEqual(digests(r.copied), [sbom.digest, sbomSignature.digest, instanceSignature.digest, cosignSig.digest].sort());
    assert.ok(r.copied.every((c) => c.state === 'copied'));
    assert.deepEqual(r.recorded.map((x) => x.by), ['tag-schema', 'tag-schema', 'tag-schema']);
    assert.equal(r.copied.find((c) => c.digest === sbomSignature.digest)!.subject, sbom.digest);
    assert.equal(r.copied.find((c) => c.digest === instanceSignature.digest)!.subject, arm64.digest);

    const listed = await listReferrers(`docker://${dst.host}/mirror/app:1.0`);
    assert.equal(listed.body.foundBy, 'tag-schema');
    assert.deepEqual(digests(listed.body.referrers), [sbom.digest, cosignSig.digest].sort());
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/mirror/app@${sbom.digest}`)).body.referrers), [sbomSignature.digest]);
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/mirror/app@${arm64.digest}`)).body.referrers), [instanceSignature.digest]);
    // skopeo reads every referrer at the destination with the source's digest (what cosign verify checks).
    for (const a of [sbom, sbomSignature, instanceSignature]) assert.equal(await rawDigest(`docker://${dst.host}/mirror/app@${a.digest}`), a.digest);
    assert.equal(await rawDigest(`docker://${dst.host}/mirror/app:${fallbackTag(index.digest)}.sig`), cosignSig.digest);
    assert.deepEqual(await tags(dst, 'mirror/app'), ['1.0', fallbackTag(arm64.digest), fallbackTag(index.digest), `${fallbackTag(index.digest)}.sig`, fallbackTag(sbom.digest)].sort());
  });

  it('a second copy finds every referrer present and writes nothing', async () => {
    const proxy = await startFaultProxy(dst.url);
    try {
      const op = await copy({ source: `docker://${src.host}/team/app:1.0`, destination: `docker://${proxy.host}/mirror/app:1.0`, multiArch: 'all', referrers: 'all' });
      assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      assert.ok(op.result!.referrers!.copied.every((c) => c.state === 'present'), JSON.stringify(op.result!.referrers));
      assert.equal(op.progress['bytesDone'], 0);
      const writes = proxy.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD');
      assert.deepEqual(writes, []);
    } finally {
      await proxy.close();
    }
  });

  it('a destination with the (emulated) referrers API records them itself: no fallback tag is written', async () => {
    const op = await copy({ source: `docker://${srcApi.host}/team/app:1.0`, destination: `docker://${dstApi.host}/mirror/app:1.0`, multiArch: 'all', referrers: 'all' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.ok(op.result!.referrers!.recorded.every((x) => x.by === 'referrers-api'), JSON.stringify(op.result!.referrers!.recorded));
    assert.deepEqual(digests(op.result!.referrers!.copied), [sbom.digest, sbomSignature.digest, instanceSignature.digest, cosignSig.digest].sort());
    assert.deepEqual(await tags(apiDst, 'mirror/app'), ['1.0', `${fallbackTag(index.digest)}.sig`].sort());
    const listed = await listReferrers(`docker://${dstApi.host}/mirror/app:1.0`);
    assert.equal(listed.body.foundBy, 'referrers-api');
    assert.deepEqual(digests(listed.body.referrers), [sbom.digest, cosignSig.digest].sort());
  });

  it('artifactTypes keeps only referrers of those types, at every depth', async () => {
    const op = await copy({ source: `docker://${src.host}/team/app:1.0`, destination: `docker://${dst.host}/sboms/app:1.0`, multiArch: 'all', referrers: 'all', artifactTypes: [SPDX] });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(digests(op.result!.referrers!.copied), [sbom.digest]);
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/sboms/app:1.0`)).body.referrers), [sbom.digest]);
  });

  it('multiArch=system brings the chosen instance and its referrers, not the index’s, and says so', async () => {
    const op = await copy({ source: `docker://${src.host}/team/app:1.0`, destination: `docker://${dst.host}/arm/app:1.0`, platform: { os: 'linux', architecture: 'arm64' }, referrers: 'all' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.result!.digest, arm64.digest);
    assert.deepEqual(digests(op.result!.referrers!.copied), [instanceSignature.digest]);
  });

  it('registry → oci: the layout holds the referrers as index.json entries; skopeo still reads the image', async () => {
    const op = await copy({ source: `docker://${src.host}/team/app:1.0`, destination: 'oci:ref-layout:app', multiArch: 'all', referrers: 'all' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.ok(op.result!.referrers!.recorded.every((x) => x.by === 'layout'));
    const listed = await listReferrers('oci:ref-layout:app');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(listed.body.foundBy, 'layout');
    assert.equal(listed.body.digest, index.digest);
    assert.deepEqual(digests(listed.body.referrers), [sbom.digest, cosignSig.digest].sort());
    const indexJson = JSON.parse(readFileSync(join(storageRoot, 'ref-layout', 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const entries = indexJson.manifests.map((m) => m.digest);
    for (const a of [sbom, sbomSignature, instanceSignature, cosignSig]) assert.ok(entries.includes(a.digest), `${a.digest} in index.json`);
    assert.equal(await rawDigest(`oci:${join(storageRoot, 'ref-layout')}:app`), index.digest);
  });

  it('oci: → registry brings the layout’s referrers back', async () => {
    const op = await copy({ source: 'oci:ref-layout:app', destination: `docker://${dst.host}/from-layout/app:1.0`, multiArch: 'all', referrers: 'all' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(digests(op.result!.referrers!.copied), [sbom.digest, sbomSignature.digest, instanceSignature.digest, cosignSig.digest].sort());
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/from-layout/app:1.0`)).body.referrers), [sbom.digest, cosignSig.digest].sort());
  });

  it('refuses referrers at submit time where they cannot go, and artifactTypes without referrers', async () => {
    const toDir = await submit(svc, 'copies', { ...plainTls, source: `docker://${src.host}/team/app:1.0`, destination: 'dir:nope', referrers: 'all' });
    assert.equal(toDir.res.status, 400);
    assert.match(toDir.op.detail!, /referrers/);
    const noReferrers = await submit(svc, 'copies', { ...plainTls, source: `docker://${src.host}/team/app:1.0`, destination: `docker://${dst.host}/x/y:1`, artifactTypes: [SPDX] });
    assert.equal(noReferrers.res.status, 400);
    const badType = await submit(svc, 'copies', { ...plainTls, source: `docker://${src.host}/team/app:1.0`, destination: `docker://${dst.host}/x/y:1`, referrers: 'all', artifactTypes: ['nope'] });
    assert.equal(badType.res.status, 400);
  });
});

describe('stale and hostile referrer listings', () => {
  // distribution 2.8 refuses to store an index naming manifests it does not hold: the stale and
  // hostile fallback indexes are served by the fault proxy instead.
  let proxy: FaultProxy;
  let image: PushedImage;
  let real: PushedArtifact;
  before(async () => {
    proxy = await startFaultProxy(src.url);
    image = await pushImage(src, 'team/stale', '1', { layers: [makeLayer({ 'etc/stale': 'x\n' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    real = await pushArtifact(src, 'team/stale', { artifactType: SPDX, layers: [{ mediaType: SPDX, bytes: Buffer.from('{"stale":false}') }], subject: { mediaType: image.mediaType, digest: image.digest, size: image.size } });
    await pushFallbackIndex(src, 'team/stale', image.digest, [real.descriptor]);
  });
  after(() => proxy.close());
  const serveIndex = (manifests: unknown[]) =>
    proxy.addRule({
      method: 'GET',
      path: new RegExp(`/v2/team/stale/manifests/${fallbackTag(image.digest)}$`),
      times: Infinity,
      action: { kind: 'replace', body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }), contentType: 'application/vnd.oci.image.index.v1+json' },
    });

  it('a referrer the fallback index lists but the source does not hold is skipped and said so', async () => {
    proxy.clearRules();
    serveIndex([{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(Buffer.from('deleted long ago')), size: 300, artifactType: SPDX }, real.descriptor]);
    const op = await copy({ source: `docker://${proxy.host}/team/stale:1`, destination: `docker://${dst.host}/stale/app:1`, referrers: 'all' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(digests(op.result!.referrers!.copied), [real.digest]);
    assert.equal(op.result!.referrers!.notCopied.length, 1);
    assert.match(op.result!.referrers!.notCopied[0]!.reason, /stale/);
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/stale/app:1`)).body.referrers), [real.digest]);
  });

  it('a fallback index with an invalid descriptor fails the copy clearly, after the image was copied; nothing reaches a URL', async () => {
    proxy.clearRules();
    serveIndex([{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../../v2/_catalog', size: 1 }]);
    const before = proxy.requests.length;
    const op = await copy({ source: `docker://${proxy.host}/team/stale:1`, destination: `docker://${dst.host}/hostile/app:1`, referrers: 'all' });
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'UPSTREAM_PROTOCOL_ERROR');
    assert.match(op.error!.detail, /the image was copied.*referrers.*invalid digest/);
    assert.equal(await rawDigest(`docker://${dst.host}/hostile/app:1`), image.digest);
    assert.ok(!proxy.requests.slice(before).some((r) => r.path.includes('..') || r.path.includes('_catalog')));
  });
});

describe('syncing referrers', () => {
  it('a sync brings each image’s referrers along', async () => {
    const { res, op } = await submit<{ images: { state: string; referrers?: number; digest?: string }[] }>(svc, 'syncs', {
      ...plainTls,
      source: `${src.host}/team/app:1.0`,
      sourceType: 'docker',
      destination: `${dst.host}/synced`,
      destinationType: 'docker',
      all: true,
      referrers: 'all',
    });
    assert.equal(res.status, 202, JSON.stringify(op));
    const done = await waitForOperation<{ images: { state: string; referrers?: number; digest?: string }[] }>(svc, op.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.result!.images[0]!.referrers, 4);
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/synced/app:1.0`)).body.referrers), [sbom.digest, cosignSig.digest].sort());
    assert.deepEqual(digests((await listReferrers(`docker://${dst.host}/synced/app@${sbom.digest}`)).body.referrers), [sbomSignature.digest]);
  });
});

describe('the fallback tag index under two concurrent writers', () => {
  it('two copies adding different referrers of one image to one destination at the same moment keep both', async () => {
    // One image in two source repositories, each with its own signature.
    const image = await pushImage(src, 'team/w1', '1', { layers: [makeLayer({ 'etc/w': 'shared\n' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    await pushImage(src, 'team/w2', '1', { layers: [makeLayer({ 'etc/w': 'shared\n' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const sig1 = await pushArtifact(src, 'team/w1', { artifactType: SIGNATURE, layers: [{ mediaType: SIGNATURE, bytes: Buffer.from('writer one') }], subject });
    const sig2 = await pushArtifact(src, 'team/w2', { artifactType: SIGNATURE, layers: [{ mediaType: SIGNATURE, bytes: Buffer.from('writer two') }], subject });
    await pushFallbackIndex(src, 'team/w1', image.digest, [sig1.descriptor]);
    await pushFallbackIndex(src, 'team/w2', image.digest, [sig2.descriptor]);
    // Both writers' first reads of the destination's fallback tag are held until both arrived,
    // so both read "absent" and both write: a plain read-modify-write would lose one entry.
    const proxy = await startFaultProxy(dst.url);
    try {
      const tagPath = new RegExp(`/v2/shared/app/manifests/${fallbackTag(image.digest)}$`);
      proxy.addRule({ method: 'GET', path: tagPath, times: 2, action: { kind: 'gather', count: 2 } });
      const ops = await Promise.all(
        ['team/w1', 'team/w2'].map(async (repo) => {
          const { res, op } = await submit<CopyResult>(svc, 'copies', { ...plainTls, source: `docker://${src.host}/${repo}:1`, destination: `docker://${proxy.host}/shared/app:1`, referrers: 'all' });
          assert.equal(res.status, 202, JSON.stringify(op));
          return op.id;
        }),
      );
      const done = await Promise.all(ops.map((id) => waitForOperation<CopyResult>(svc, id)));
      for (const op of done) assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      const puts = proxy.requestsTo(tagPath, 'PUT');
      const firstPut = proxy.requests.findIndex((r) => r.method === 'PUT' && tagPath.test(r.path));
      const readsBeforeWrite = proxy.requests.slice(0, firstPut).filter((r) => r.method === 'GET' && tagPath.test(r.path));
      assert.deepEqual(readsBeforeWrite.map((r) => r.status), [404, 404], `both writers read "absent" before either wrote: ${JSON.stringify(proxy.requestsTo(tagPath))}`);
      // Both wrote an index holding only their own entry; the one overwritten wrote again.
      assert.ok(puts.length >= 3, `the lost entry was written again: ${JSON.stringify(proxy.requestsTo(tagPath))}`);
      const listed = await listReferrers(`docker://${dst.host}/shared/app:1`);
      assert.equal(listed.body.foundBy, 'tag-schema');
      assert.deepEqual(digests(listed.body.referrers), [sig1.digest, sig2.digest].sort());
    } finally {
      await proxy.close();
    }
  });
});
