/**
 * Platform subsets (`platforms` with multiArch `filtered` or `sparse`) through POST /v1/copies
 * and /v1/syncs, against real registries, with skopeo 1.9.3's own instance choice as the
 * oracle: for every platform named, `skopeo copy --override-os/--override-arch/
 * --override-variant` (its --multi-arch system choice) must pick the instance skiff keeps.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushMultiArch, sha256Digest, type PushedImage, type PushedManifest } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { type Operation, submit, waitForOperation } from './support/operations';

interface CopyResult {
  digest: string;
  mediaType: string;
  sourceDigest?: string;
  manifests: { digest: string; platform?: { os: string; architecture: string; variant?: string } }[];
}

let src: TestRegistry;
let dst: TestRegistry;
let svc: SkiffService;
let storageRoot: string;
let oci: { index: PushedManifest; images: PushedImage[] };
let list: { index: PushedManifest; images: PushedImage[] };

const plainTls = { sourceTlsVerify: false, destinationTlsVerify: false };
const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'arm', variant: 'v6' },
  { os: 'linux', architecture: 'ppc64le' },
];

async function copy(body: Record<string, unknown>): Promise<Operation<CopyResult>> {
  const { res, op } = await submit<CopyResult>(svc, 'copies', { ...plainTls, ...body });
  assert.equal(res.status, 202, JSON.stringify(op));
  return waitForOperation<CopyResult>(svc, op.id);
}

/** The instance skopeo copies for `os/arch[/variant]` (its --multi-arch system choice), read back from a dir: copy. */
async function skopeoChoice(ref: string, spec: string): Promise<string> {
  const [os, arch, variant] = spec.split('/') as [string, string, string | undefined];
  const out = join(makeTmpDirSync('skiff-skopeo-choice-'), 'img');
  const r = await skopeo(['copy', '--src-tls-verify=false', '--override-os', os, '--override-arch', arch, ...(variant ? ['--override-variant', variant] : []), ref, `dir:${out}`]);
  assert.equal(r.code, 0, r.stderr);
  return sha256Digest(readFileSync(join(out, 'manifest.json')));
}

async function rawManifest(ref: string): Promise<Buffer> {
  const r = await skopeo(['inspect', '--raw', '--tls-verify=false', ref]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdoutBytes;
}

before(async () => {
  [src, dst] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' })]);
  oci = await pushMultiArch(src, 'team/multi', 'latest', { format: 'oci', platforms: PLATFORMS });
  list = await pushMultiArch(src, 'team/list', 'latest', { format: 'v2s2', platforms: PLATFORMS });
  storageRoot = makeTmpDirSync('skiff-platforms-root-');
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: storageRoot });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('multiArch=filtered', () => {
  for (const [name, source] of [['OCI index', () => oci], ['Docker manifest list', () => list]] as const) {
    it(`${name}: a new index with exactly skopeo's choices for each platform (new digest, said so), instances unchanged`, async () => {
      const image = source();
      const repo = name === 'OCI index' ? 'team/multi' : 'team/list';
      const specs = ['linux/amd64', 'linux/arm64', 'linux/arm'];
      const op = await copy({ source: `docker://${src.host}/${repo}:latest`, destination: `docker://${dst.host}/filtered/${repo}:latest`, multiArch: 'filtered', platforms: specs });
      assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      const r = op.result!;
      assert.equal(r.sourceDigest, image.index.digest);
      assert.notEqual(r.digest, image.index.digest);
      const oracle = new Set(await Promise.all(specs.map((s) => skopeoChoice(`docker://${src.host}/${repo}:latest`, s))));
      assert.deepEqual(new Set(r.manifests.map((m) => m.digest)), oracle);
      // linux/arm64 (no variant) is arm64/v8; linux/arm (no variant) is arm/v7, first in the compatibility order present.
      assert.deepEqual(r.manifests.map((m) => [m.platform?.architecture, m.platform?.variant ?? '']), [['amd64', ''], ['arm64', 'v8'], ['arm', 'v7']]);
      const written = await rawManifest(`docker://${dst.host}/filtered/${repo}:latest`);
      assert.equal(sha256Digest(written), r.digest);
      const doc = JSON.parse(written.toString('utf8')) as { mediaType: string; manifests: { digest: string }[] };
      assert.equal(doc.mediaType, image.index.mediaType);
      assert.deepEqual(doc.manifests.map((m) => m.digest), r.manifests.map((m) => m.digest));
      for (const m of r.manifests) assert.equal(sha256Digest(await rawManifest(`docker://${dst.host}/filtered/${repo}@${m.digest}`)), m.digest);
      // The dropped instances are not there.
      const dropped = image.images.filter((i) => !oracle.has(i.digest));
      assert.equal(dropped.length, 2);
      for (const d of dropped) assert.notEqual((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dst.host}/filtered/${repo}@${d.digest}`])).code, 0);
    });
  }

  it('a second identical copy is up to date (nothing transferred)', async () => {
    const body = { source: `docker://${src.host}/team/multi:latest`, destination: `docker://${dst.host}/again/multi:latest`, multiArch: 'filtered', platforms: ['linux/amd64', 'linux/ppc64le'] };
    const first = await copy(body);
    assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
    const second = await copy(body);
    assert.equal(second.state, 'succeeded', JSON.stringify(second.error));
    assert.equal(second.result!.digest, first.result!.digest);
    assert.equal(second.progress['bytesDone'], 0);
    assert.equal(second.progress['blobsDone'], 0);
  });

  it('naming every platform keeps the source index, digest and all', async () => {
    const op = await copy({ source: `docker://${src.host}/team/multi:latest`, destination: `docker://${dst.host}/every/multi:latest`, multiArch: 'filtered', platforms: PLATFORMS.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')) });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.result!.digest, oci.index.digest);
    assert.equal(op.result!.sourceDigest, undefined);
  });

  it('into an OCI layout', async () => {
    const op = await copy({ source: `docker://${src.host}/team/multi:latest`, destination: 'oci:filtered-layout:multi', multiArch: 'filtered', platforms: ['linux/arm/v6'] });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(op.result!.manifests.map((m) => m.digest), [await skopeoChoice(`docker://${src.host}/team/multi:latest`, 'linux/arm/v6')]);
    assert.equal(sha256Digest(await rawManifest(`oci:${join(storageRoot, 'filtered-layout')}:multi`)), op.result!.digest);
  });

  it('a platform the index does not have fails the copy (404 PLATFORM_NOT_FOUND), writing no tag', async () => {
    const op = await copy({ source: `docker://${src.host}/team/multi:latest`, destination: `docker://${dst.host}/none/multi:latest`, multiArch: 'filtered', platforms: ['linux/amd64', 'linux/s390x'] });
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'PLATFORM_NOT_FOUND');
    assert.match(op.error!.detail, /s390x/);
    assert.notEqual((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dst.host}/none/multi:latest`])).code, 0);
  });
});

describe('multiArch=sparse', () => {
  it('a registry that checks an index’s instances (CNCF distribution) refuses it: a clear failure, no tag', async () => {
    const op = await copy({ source: `docker://${src.host}/team/multi:latest`, destination: `docker://${dst.host}/sparse/multi:latest`, multiArch: 'sparse', platforms: ['linux/amd64'] });
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'UPSTREAM_UNSUPPORTED');
    assert.equal(op.error!.status, 409);
    assert.match(op.error!.detail, /multiArch=sparse.*refuses an index whose instances are not all present.*filtered/);
    assert.notEqual((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dst.host}/sparse/multi:latest`])).code, 0);
  });

  it('a dir: destination takes it: the source index unchanged (digest kept), only the chosen instances', async () => {
    const op = await copy({ source: `docker://${src.host}/team/multi:latest`, destination: 'dir:sparse-dir', multiArch: 'sparse', platforms: ['linux/arm64/v8', 'linux/ppc64le'] });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.result!.digest, oci.index.digest);
    const dir = join(storageRoot, 'sparse-dir');
    assert.equal(sha256Digest(readFileSync(join(dir, 'manifest.json'))), oci.index.digest);
    const instances = readdirSync(dir).filter((f) => f.endsWith('.manifest.json')).map((f) => `sha256:${f.split('.')[0]}`).sort();
    const expected = await Promise.all(['linux/arm64/v8', 'linux/ppc64le'].map((s) => skopeoChoice(`docker://${src.host}/team/multi:latest`, s)));
    assert.deepEqual(instances, expected.sort());
  });

  it('an OCI layout (complete images only) refuses it clearly', async () => {
    const op = await copy({ source: `docker://${src.host}/team/multi:latest`, destination: 'oci:sparse-layout:multi', multiArch: 'sparse', platforms: ['linux/amd64'] });
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'OPERATION_NOT_SUPPORTED');
    assert.match(op.error!.detail, /sparse/);
  });
});

describe('validation', () => {
  for (const [why, body] of [
    ['platforms without a subset mode', { multiArch: 'all', platforms: ['linux/amd64'] }],
    ['a subset mode without platforms', { multiArch: 'filtered' }],
    ['a malformed platform', { multiArch: 'filtered', platforms: ['linux'] }],
    ['an upper-case platform', { multiArch: 'sparse', platforms: ['Linux/AMD64'] }],
    ['filtered with preserveDigests', { multiArch: 'filtered', platforms: ['linux/amd64'], preserveDigests: true }],
  ] as const) {
    it(`refuses ${why} with 400`, async () => {
      const { res, op } = await submit(svc, 'copies', { ...plainTls, source: `docker://${src.host}/team/multi:latest`, destination: `docker://${dst.host}/v/x:1`, ...body });
      assert.equal(res.status, 400, JSON.stringify(op));
    });
  }
});

describe('syncs with platforms', () => {
  it('a sync writes filtered indexes', async () => {
    const { res, op } = await submit<{ images: { state: string; digest?: string; sourceDigest?: string }[] }>(svc, 'syncs', {
      ...plainTls,
      source: `${src.host}/team/multi`,
      sourceType: 'docker',
      destination: `${dst.host}/synced`,
      destinationType: 'docker',
      platforms: ['linux/arm64/v8'],
    });
    assert.equal(res.status, 202, JSON.stringify(op));
    const done = await waitForOperation<{ images: { state: string; digest?: string; sourceDigest?: string }[] }>(svc, op.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const image = done.result!.images[0]!;
    assert.equal(image.state, 'copied');
    assert.equal(image.sourceDigest, oci.index.digest);
    const doc = JSON.parse((await rawManifest(`docker://${dst.host}/synced/multi:latest`)).toString('utf8')) as { manifests: { digest: string }[] };
    assert.deepEqual(doc.manifests.map((m) => m.digest), [await skopeoChoice(`docker://${src.host}/team/multi:latest`, 'linux/arm64/v8')]);
    const dry = await submit<{ images: { state: string; digest?: string }[] }>(svc, 'syncs', {
      ...plainTls,
      source: `${src.host}/team/multi`,
      sourceType: 'docker',
      destination: `${dst.host}/synced`,
      destinationType: 'docker',
      platforms: ['linux/arm64/v8'],
      dryRun: true,
    });
    const planned = await waitForOperation<{ images: { state: string; digest?: string }[] }>(svc, dry.op.id);
    assert.equal(planned.result!.images[0]!.state, 'skipped');
    assert.equal(planned.result!.images[0]!.digest, image.digest);
  });

  it('refuses platforms with all, and multiArch without platforms', async () => {
    for (const body of [{ all: true, platforms: ['linux/amd64'] }, { multiArch: 'sparse' }]) {
      const { res } = await submit(svc, 'syncs', { ...plainTls, source: `${src.host}/team/multi`, sourceType: 'docker', destination: `${dst.host}/x`, destinationType: 'docker', ...body });
      assert.equal(res.status, 400);
    }
  });
});
