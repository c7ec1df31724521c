import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest, type IndexManifest, type ImageManifest } from '../image-spec/manifest';
import { MediaType } from '../image-spec/media-types';
import { CopyEngine } from './copy-engine';
import { HostLimiter, InFlightBlobs } from './host-limiter';
import { buildImage, buildIndex, DOCKER_ARCHIVE_LIKE, MemoryDestination, MemoryRegistry, MemorySource, OCI_LAYOUT_LIKE } from './testing/in-memory-transports';

/** multiArch system / all / index-only against in-memory transports. */
const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });
const code = (expected: string) => (e: { code?: string }) => e.code === expected;

const amd64 = buildImage({ platform: { os: 'linux', architecture: 'amd64' } });
const arm64 = buildImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
const armv7 = buildImage({ platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
const list = buildIndex([amd64, arm64, armv7], { format: 'v2s2' });
const ociIndex = buildIndex(
  [buildImage({ format: 'oci', platform: { os: 'linux', architecture: 'amd64' } }), buildImage({ format: 'oci', platform: { os: 'linux', architecture: 'arm64' } })],
  { format: 'oci' },
);

function holdsImage(dest: MemoryDestination, img: { config: { digest: string }; layers: readonly { digest: string }[] }): boolean {
  return [img.config, ...img.layers].every((d) => dest.blob(d.digest) !== undefined);
}

describe('copy engine: multiArch=system', () => {
  it('copies only the instance for the chosen platform, under the destination reference', async () => {
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(list), dest, { platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(result.digest, arm64.top.digest);
    assert.equal(result.mediaType, MediaType.dockerV2S2);
    assert.deepEqual(result.manifests, []);
    assert.equal(dest.committed?.digest, arm64.top.digest);
    assert.ok(holdsImage(dest, arm64));
    assert.ok(![...amd64.blobs.keys(), ...armv7.blobs.keys()].some((d) => dest.blob(d)), 'no blob of another instance');
    assert.ok(!dest.events.some((e) => e.startsWith('instance')));
  });

  it('matches the variant, as containers/image chooses', async () => {
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(list), dest, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    assert.equal(result.digest, armv7.top.digest);
  });

  it('fails with PLATFORM_NOT_FOUND when no instance matches, writing nothing', async () => {
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(new MemorySource(list), dest, { platform: { os: 'linux', architecture: 's390x' } }), code('PLATFORM_NOT_FOUND'));
    assert.deepEqual(dest.events, []);
  });

  it('copies the chosen instance into a destination that stores one image only', async () => {
    const dest = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    const result = await engine().copy(new MemorySource(list), dest, { multiArch: 'system', platform: { architecture: 'amd64', os: 'linux' } });
    assert.equal(dest.committed?.mediaType, MediaType.dockerV2S2);
    assert.equal(result.digest, dest.committed?.digest);
  });
});

describe('copy engine: multiArch=all', () => {
  it('copies every instance, instances before the index, and keeps the index unchanged', async () => {
    const dest = new MemoryDestination();
    let last: Record<string, unknown> = {};
    const result = await engine().copy(new MemorySource(list), dest, { multiArch: 'all' }, { onProgress: (p) => (last = p) });
    assert.equal(result.digest, list.top.digest);
    assert.equal(result.mediaType, MediaType.dockerManifestList);
    assert.deepEqual(
      result.manifests.map((m) => [m.digest, m.platform?.architecture]),
      [amd64, arm64, armv7].map((i) => [i.top.digest, i.platform.architecture]),
    );
    assert.equal(dest.events.at(-1), `manifest ${MediaType.dockerManifestList}`);
    assert.equal(dest.events.filter((e) => e.startsWith('instance')).length, 3);
    assert.ok(dest.committed!.bytes.equals(list.top.bytes));
    for (const img of [amd64, arm64, armv7]) assert.ok(holdsImage(dest, img));
    assert.equal(last['imagesTotal'], 3);
    assert.equal(last['imagesDone'], 3);
  });

  it('converts a manifest list and its instances for an OCI layout, which stores OCI only', async () => {
    const dest = new MemoryDestination(OCI_LAYOUT_LIKE);
    const result = await engine().copy(new MemorySource(list), dest, { multiArch: 'all' });
    assert.equal(result.mediaType, MediaType.ociIndex);
    assert.ok(result.manifests.every((m) => m.mediaType === MediaType.ociManifest));
    const index = parseManifest(dest.committed!.bytes, MediaType.ociIndex) as IndexManifest;
    assert.deepEqual(
      index.manifests.map((d) => d.digest),
      result.manifests.map((m) => m.digest),
    );
    assert.deepEqual(
      index.manifests.map((d) => d.platform),
      [amd64, arm64, armv7].map((i) => i.platform),
    );
    for (const d of index.manifests) {
      const instance = parseManifest(dest.repo.manifests.get(d.digest)!.bytes, MediaType.ociManifest) as ImageManifest;
      assert.equal(instance.config.mediaType, MediaType.ociConfig);
      assert.ok(dest.blob(instance.config.digest), 'the rewritten config is stored');
    }
  });

  it('refuses a destination that cannot store several images, before copying anything', async () => {
    const dest = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    await assert.rejects(engine().copy(new MemorySource(list), dest, { multiArch: 'all' }), code('OPERATION_NOT_SUPPORTED'));
    assert.deepEqual(dest.events, []);
  });

  it('with format converts the index and every instance', async () => {
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(ociIndex), dest, { multiArch: 'all', format: 'v2s2' });
    assert.equal(result.mediaType, MediaType.dockerManifestList);
    assert.ok(result.manifests.every((m) => m.mediaType === MediaType.dockerV2S2));
    assert.equal(dest.committed?.digest, result.digest);
  });

  it('with preserveDigests refuses to change the index', async () => {
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(new MemorySource(ociIndex), dest, { multiArch: 'all', format: 'v2s2', preserveDigests: true }), code('INVALID_ARGUMENT'));
    assert.equal(dest.committed, undefined);
  });

  // A failing instance stops the others; their aborts must not hide the failure (the copy was
  // reported cancelled, ABORTED, before).
  it('stops the other instances when one fails, reports that failure, and writes no index', async () => {
    const failing = arm64.layers[0]!.digest;
    const hooks = {
      open: (digest: string) => {
        if (digest === failing) throw Object.assign(new Error('denied'), { code: 'EACCES' });
      },
    };
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(new MemorySource(list, { hooks }), dest, { multiArch: 'all' }), code('UPSTREAM_PROTOCOL_ERROR'));
    assert.equal(dest.committed, undefined);
    assert.ok(!dest.events.some((e) => e.startsWith('manifest')));
  });
});

describe('copy engine: multiArch=index-only', () => {
  it('writes only the index when the destination has the instances', async () => {
    const registry = new MemoryRegistry();
    for (const img of [amd64, arm64, armv7]) registry.push('dst/app', img);
    const dest = new MemoryDestination({ registry });
    const source = new MemorySource(list);
    const result = await engine().copy(source, dest, { multiArch: 'index-only' });
    assert.equal(result.digest, list.top.digest);
    assert.deepEqual(dest.events, [`manifest ${MediaType.dockerManifestList}`]);
    assert.equal(source.reads.size, 0);
  });

  it('answers IMAGE_NOT_FOUND, saying to copy the instances first, when the destination lacks them', async () => {
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(new MemorySource(list), dest, { multiArch: 'index-only' }), (e: { code?: string; message?: string }) => {
      return e.code === 'IMAGE_NOT_FOUND' && /multiArch=all first/.test(e.message ?? '');
    });
    assert.equal(dest.committed, undefined);
  });

  it('of a single image copies that image', async () => {
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(amd64), dest, { multiArch: 'index-only' });
    assert.equal(result.digest, amd64.top.digest);
    assert.ok(holdsImage(dest, amd64));
  });
});
