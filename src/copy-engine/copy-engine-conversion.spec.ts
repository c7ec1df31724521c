import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { digestOf } from '../image-spec/digest';
import { type ImageManifest, parseManifest } from '../image-spec/manifest';
import { MediaType } from '../image-spec/media-types';
import { CopyEngine } from './copy-engine';
import { HostLimiter, InFlightBlobs } from './host-limiter';
import { buildImage, DOCKER_ARCHIVE_LIKE, MemoryDestination, MemorySource, OCI_LAYOUT_LIKE } from './testing/in-memory-transports';

/** Manifest conversion (OCI ↔ v2s2) and layer recompression against in-memory transports. */
const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });
const code = (expected: string) => (e: { code?: string }) => e.code === expected;
const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

function committedImage(dest: MemoryDestination): ImageManifest {
  const m = parseManifest(dest.committed!.bytes, dest.committed!.mediaType);
  assert.equal(m.kind, 'image');
  return m as ImageManifest;
}

function configOf(dest: MemoryDestination, manifest: ImageManifest): Record<string, unknown> {
  return JSON.parse(dest.blob(manifest.config.digest)!.toString('utf8')) as Record<string, unknown>;
}

describe('copy engine: manifest conversion', () => {
  it('v2s2 → OCI rewrites the config as an OCI config and leaves the Docker one behind', async () => {
    const img = buildImage({ format: 'v2s2' });
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(img), dest, { format: 'oci' });
    const m = committedImage(dest);
    assert.equal(result.mediaType, MediaType.ociManifest);
    assert.equal(m.config.mediaType, MediaType.ociConfig);
    assert.notEqual(m.config.digest, img.config.digest);
    assert.equal(dest.blob(img.config.digest), undefined, 'the Docker config is not copied');
    const config = configOf(dest, m);
    assert.equal(config['architecture'], 'amd64');
    assert.deepEqual((config['rootfs'] as { diff_ids: string[] }).diff_ids, img.layerContents.map((c) => digestOf(c)));
    assert.deepEqual(
      m.layers.map((l) => [l.mediaType, l.digest]),
      img.layers.map((l) => [MediaType.ociLayerGzip, l.digest]),
      'layers keep their bytes, with OCI media types',
    );
    assert.equal(result.digest, digestOf(dest.committed!.bytes));
  });

  it('OCI → v2s2 keeps the config bytes under the Docker config type', async () => {
    const img = buildImage({ format: 'oci' });
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(img), dest, { format: 'v2s2' });
    const m = committedImage(dest);
    assert.equal(result.mediaType, MediaType.dockerV2S2);
    assert.deepEqual(m.config, { ...img.config, mediaType: MediaType.dockerConfig });
    assert.ok(dest.blob(img.config.digest)!.equals(img.blobs.get(img.config.digest)!));
    assert.ok(m.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip));
  });

  it('refuses OCI → v2s2 for zstd layers (v2s2 has no zstd type) and writes no manifest', async () => {
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(new MemorySource(buildImage({ format: 'oci', compression: 'zstd' })), dest, { format: 'v2s2' }), code('INVALID_ARGUMENT'));
    assert.equal(dest.committed, undefined);
  });

  it('a destination storing OCI only gets a Docker image converted without being asked', async () => {
    const dest = new MemoryDestination(OCI_LAYOUT_LIKE);
    const result = await engine().copy(new MemorySource(buildImage({ format: 'v2s2' })), dest, {});
    assert.equal(result.mediaType, MediaType.ociManifest);
    assert.equal(committedImage(dest).config.mediaType, MediaType.ociConfig);
  });

  it('falls back to the next manifest type when the destination refuses the first', async () => {
    const img = buildImage({ format: 'oci' });
    const dest = new MemoryDestination({ rejectManifestTypes: [MediaType.ociManifest] });
    const result = await engine().copy(new MemorySource(img), dest, {});
    assert.equal(result.mediaType, MediaType.dockerV2S2);
    assert.equal(dest.committed?.mediaType, MediaType.dockerV2S2);
  });

  it('does not fall back when the format was asked for, or the digests must be preserved', async () => {
    const refusing = { rejectManifestTypes: [MediaType.ociManifest] };
    await assert.rejects(engine().copy(new MemorySource(buildImage({ format: 'oci' })), new MemoryDestination(refusing), { format: 'oci' }), code('UPSTREAM_REFUSED'));
    await assert.rejects(engine().copy(new MemorySource(buildImage({ format: 'oci' })), new MemoryDestination(refusing), { preserveDigests: true }), code('UPSTREAM_REFUSED'));
  });

  it('preserveDigests refuses a destination that cannot store the manifest type unchanged', async () => {
    const dest = new MemoryDestination(OCI_LAYOUT_LIKE);
    await assert.rejects(engine().copy(new MemorySource(buildImage({ format: 'v2s2' })), dest, { preserveDigests: true }), code('INVALID_ARGUMENT'));
    assert.deepEqual(dest.events, []);
  });

  it('copies an image unchanged (same manifest bytes) when no conversion is needed', async () => {
    const img = buildImage({ format: 'oci' });
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(img), dest, { preserveDigests: true });
    assert.equal(result.digest, img.top.digest);
    assert.ok(dest.committed!.bytes.equals(img.top.bytes));
  });
});

describe('copy engine: recompression', () => {
  it('gzip → zstd recompresses every layer and writes an OCI manifest with zstd layers', async () => {
    const img = buildImage({ format: 'v2s2', compression: 'gzip' });
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(img), dest, { compression: { format: 'zstd' } });
    const m = committedImage(dest);
    assert.equal(result.mediaType, MediaType.ociManifest);
    assert.ok(m.layers.every((l) => l.mediaType === MediaType.ociLayerZstd));
    m.layers.forEach((l, i) => {
      const stored = dest.blob(l.digest)!;
      assert.equal(l.digest, digestOf(stored));
      assert.equal(l.size, stored.length);
      assert.ok(zstdDecompressSync(stored).equals(img.layerContents[i]!), `layer ${i} holds the same content`);
    });
    assert.deepEqual((configOf(dest, m)['rootfs'] as { diff_ids: string[] }).diff_ids, img.layerContents.map((c) => digestOf(c)));
  });

  it('zstd → gzip recompresses to gzip layers', async () => {
    const img = buildImage({ format: 'oci', compression: 'zstd' });
    const dest = new MemoryDestination();
    await engine().copy(new MemorySource(img), dest, { compression: { format: 'gzip', level: 9 } });
    const m = committedImage(dest);
    assert.equal(m.mediaType, MediaType.ociManifest);
    m.layers.forEach((l, i) => {
      assert.equal(l.mediaType, MediaType.ociLayerGzip);
      assert.ok(gunzipSync(dest.blob(l.digest)!).equals(img.layerContents[i]!));
    });
  });

  // containers/image recompresses only into another algorithm (skopeo --dest-compress-format gzip
  // on gzip layers changes nothing, whatever the level).
  it('keeps layers already compressed with the requested algorithm, and so the manifest digest', async () => {
    for (const [compression, format] of [['gzip', 'v2s2'], ['zstd', 'oci']] as const) {
      const img = buildImage({ format, compression });
      const dest = new MemoryDestination();
      const result = await engine().copy(new MemorySource(img), dest, { compression: { format: compression, level: 9 } });
      assert.equal(result.digest, img.top.digest, compression);
    }
  });

  it('compresses plain layers with the requested algorithm', async () => {
    const img = buildImage({ format: 'oci', compression: 'none' });
    const dest = new MemoryDestination();
    await engine().copy(new MemorySource(img), dest, { compression: { format: 'zstd' } });
    assert.ok(committedImage(dest).layers.every((l) => l.mediaType === MediaType.ociLayerZstd));
  });

  it('decompresses layers for a docker-archive-like destination, as plain tar in a v2s2 manifest', async () => {
    const img = buildImage({ format: 'oci', compression: 'gzip' });
    const dest = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    const result = await engine().copy(new MemorySource(img), dest, {});
    const m = committedImage(dest);
    assert.equal(result.mediaType, MediaType.dockerV2S2);
    assert.deepEqual(
      m.layers.map((l) => [l.mediaType, l.digest, l.size]),
      img.layerContents.map((c) => [DOCKER_LAYER_TAR, digestOf(c), c.length]),
    );
    for (const c of img.layerContents) assert.ok(dest.blob(digestOf(c))!.equals(c));
  });

  // skopeo 1.9.3 refuses this too ("zstd compression is not supported for docker images"):
  // the manifest is converted from the source's layer types.
  it('refuses an OCI image with zstd layers for a docker-archive-like destination', async () => {
    const dest = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    await assert.rejects(engine().copy(new MemorySource(buildImage({ format: 'oci', compression: 'zstd' })), dest, {}), code('INVALID_ARGUMENT'));
    assert.equal(dest.committed, undefined);
  });

  it('compresses plain layers for a registry-like destination', async () => {
    const img = buildImage({ format: 'v2s2', compression: 'none' });
    const dest = new MemoryDestination();
    await engine().copy(new MemorySource(img), dest, {});
    const m = committedImage(dest);
    m.layers.forEach((l, i) => {
      assert.equal(l.mediaType, MediaType.dockerLayerGzip);
      assert.ok(gunzipSync(dest.blob(l.digest)!).equals(img.layerContents[i]!));
    });
  });

  // The layers' types were those of the first type tried (OCI) in the v2s2 manifest written after it.
  it('gives compressed layers the media types of the manifest type written, also after a refused first type', async () => {
    const img = buildImage({ format: 'oci', compression: 'none' });
    const dest = new MemoryDestination({ rejectManifestTypes: [MediaType.ociManifest] });
    await engine().copy(new MemorySource(img), dest, {});
    const m = committedImage(dest);
    assert.equal(m.mediaType, MediaType.dockerV2S2);
    assert.deepEqual(
      m.layers.map((l) => l.mediaType),
      img.layers.map(() => MediaType.dockerLayerGzip),
    );
  });

  it('keeps layers as they are for a destination that preserves them', async () => {
    const img = buildImage({ format: 'v2s2', compression: 'none' });
    const dest = new MemoryDestination({ layerCompression: 'preserve' });
    const result = await engine().copy(new MemorySource(img), dest, {});
    assert.equal(result.digest, img.top.digest);
  });

  it('recompression counts each transformed layer once as done', async () => {
    const img = buildImage({ format: 'v2s2', compression: 'gzip' });
    let last: Record<string, unknown> = {};
    await engine().copy(new MemorySource(img), new MemoryDestination(), { compression: { format: 'zstd' } }, { onProgress: (p) => (last = p) });
    // the Docker config is rewritten for the OCI manifest, so only the layers are transferred
    assert.equal(last['blobsTotal'], img.layers.length);
    assert.equal(last['blobsDone'], img.layers.length);
  });

  // skopeo --preserve-digests cannot modify blobs: a plain layer goes to a registry or an OCI layout as it is.
  it('preserveDigests keeps plain layers plain where the destination would compress them', async () => {
    const img = buildImage({ format: 'oci', compression: 'none' });
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(img), dest, { preserveDigests: true });
    assert.equal(result.digest, img.top.digest);
    const m = committedImage(dest);
    m.layers.forEach((l, i) => assert.ok(dest.blob(l.digest)!.equals(img.layerContents[i]!)));
  });

  it('preserveDigests refuses layers the destination would store with another compression', async () => {
    const dest = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    await assert.rejects(engine().copy(new MemorySource(buildImage()), dest, { preserveDigests: true }), code('INVALID_ARGUMENT'));
    assert.deepEqual(dest.events, []);
  });
});
