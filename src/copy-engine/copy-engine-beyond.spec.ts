import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../image-spec/digest';
import { parseManifest } from '../image-spec/manifest';
import { MediaType } from '../image-spec/media-types';
import type { ManifestBlob } from '../transports/transport';
import { CopyEngine } from './copy-engine';
import { HostLimiter, InFlightBlobs } from './host-limiter';
import type { ReferrersStep } from './referrers-step';
import { type BuiltImage, buildImage, buildIndex, DOCKER_ARCHIVE_LIKE, MemoryDestination, MemorySource, OCI_LAYOUT_LIKE } from './testing/in-memory-transports';

/** multiArch filtered / sparse, artifacts and the referrers step, against in-memory transports. */
const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });
const code = (expected: string) => (e: { code?: string }) => e.code === expected;

const amd64 = buildImage({ format: 'oci', platform: { os: 'linux', architecture: 'amd64' } });
const arm64 = buildImage({ format: 'oci', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
const armv7 = buildImage({ format: 'oci', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
const index = buildIndex([amd64, arm64, armv7], { format: 'oci' });
const list = buildIndex([buildImage({ platform: { os: 'linux', architecture: 'amd64' } }), buildImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })], { format: 'v2s2' });

/** A Helm-chart-like artifact: a non-image config, a layer of a type no one decompresses. */
function artifact(opts: { subject?: ManifestBlob } = {}): BuiltImage {
  const config = Buffer.from('{"name":"chart","version":"1.0.0"}');
  const layer = gzipSync(Buffer.from('chart content'));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
      ...(opts.subject ? { subject: { mediaType: opts.subject.mediaType, digest: opts.subject.digest, size: opts.subject.bytes.length } } : {}),
    }),
  );
  const top = { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) };
  return { top, manifests: new Map([[top.digest, top]]), blobs: new Map([[digestOf(config), config], [digestOf(layer), layer]]) };
}

describe('copy engine: multiArch=filtered', () => {
  it('writes the chosen instances, then a new index holding only them; the source digest is reported', async () => {
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(index), dest, { multiArch: 'filtered', platforms: [{ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }] });
    assert.equal(result.sourceDigest, index.top.digest);
    assert.notEqual(result.digest, index.top.digest);
    assert.deepEqual(result.manifests.map((m) => m.digest), [amd64.top.digest, arm64.top.digest]);
    const written = parseManifest(dest.committed!.bytes, dest.committed!.mediaType);
    assert.equal(written.kind, 'index');
    assert.deepEqual(written.kind === 'index' && written.manifests.map((m) => m.digest), [amd64.top.digest, arm64.top.digest]);
    assert.equal(dest.events.filter((e) => e.startsWith('instance')).length, 2);
    assert.equal(dest.events.at(-1), `manifest ${MediaType.ociIndex}`);
    assert.ok(![...armv7.blobs.keys()].some((d) => dest.blob(d) && !amd64.blobs.has(d) && !arm64.blobs.has(d)));
  });

  it('with a format conversion, converts the instances and the index', async () => {
    const dest = new MemoryDestination();
    const result = await engine().copy(new MemorySource(list), dest, { multiArch: 'filtered', platforms: [{ os: 'linux', architecture: 'arm64' }], format: 'oci' });
    assert.equal(result.mediaType, MediaType.ociIndex);
    assert.equal(result.manifests[0]!.mediaType, MediaType.ociManifest);
  });

  it('is up to date when the destination holds the filtered index', async () => {
    const dest = new MemoryDestination();
    const opts = { multiArch: 'filtered' as const, platforms: [{ os: 'linux', architecture: 'arm', variant: 'v7' }] };
    const first = await engine().copy(new MemorySource(index), dest, opts);
    const events = dest.events.length;
    const second = await engine().copy(new MemorySource(index), dest, opts);
    assert.equal(second.digest, first.digest);
    assert.equal(dest.events.length, events, 'nothing written the second time');
  });

  it('refuses preserveDigests and a platform that is not there', async () => {
    await assert.rejects(engine().copy(new MemorySource(index), new MemoryDestination(), { multiArch: 'filtered', platforms: [{ os: 'linux', architecture: 'amd64' }], preserveDigests: true }), code('INVALID_ARGUMENT'));
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(new MemorySource(index), dest, { multiArch: 'filtered', platforms: [{ os: 'windows', architecture: 'amd64' }] }), code('PLATFORM_NOT_FOUND'));
    assert.deepEqual(dest.events, []);
    await assert.rejects(engine().copy(new MemorySource(index), new MemoryDestination(), { multiArch: 'filtered' }), code('INVALID_ARGUMENT'));
  });
});

describe('copy engine: multiArch=sparse', () => {
  it('writes the chosen instances and the source index unchanged where the destination takes it', async () => {
    const dest = new MemoryDestination({ ...OCI_LAYOUT_LIKE });
    // OCI_LAYOUT_LIKE is a strict destination: an index with missing instances is refused.
    await assert.rejects(engine().copy(new MemorySource(index), dest, { multiArch: 'sparse', platforms: [{ os: 'linux', architecture: 'amd64' }] }), (e: { code?: string; message: string }) => e.code === 'UPSTREAM_UNSUPPORTED' && /sparse/.test(e.message));
    assert.equal(dest.committed, undefined);
    assert.ok(dest.events.includes(`instance ${amd64.top.digest} ${MediaType.ociManifest}`));
  });

  it('refuses conversions that would change the index', async () => {
    await assert.rejects(engine().copy(new MemorySource(list), new MemoryDestination(), { multiArch: 'sparse', platforms: [{ os: 'linux', architecture: 'amd64' }], format: 'oci' }), code('INVALID_ARGUMENT'));
    await assert.rejects(engine().copy(new MemorySource(index), new MemoryDestination(), { multiArch: 'sparse', platforms: [{ os: 'linux', architecture: 'amd64' }], compression: { format: 'zstd' } }), code('INVALID_ARGUMENT'));
    await assert.rejects(engine().copy(new MemorySource(list), new MemoryDestination(OCI_LAYOUT_LIKE), { multiArch: 'sparse', platforms: [{ os: 'linux', architecture: 'amd64' }] }), code('OPERATION_NOT_SUPPORTED'));
  });
});

describe('copy engine: artifacts', () => {
  it('moves an artifact unchanged: non-image config, a layer type it never decompresses', async () => {
    const chart = artifact();
    const dest = new MemoryDestination(OCI_LAYOUT_LIKE);
    const result = await engine().copy(new MemorySource(chart), dest, {});
    assert.equal(result.digest, chart.top.digest);
    for (const [d, b] of chart.blobs) assert.deepEqual(dest.blob(d), b);
  });

  it('refuses to convert, recompress, or store it where only Docker manifests go', async () => {
    const chart = artifact();
    await assert.rejects(engine().copy(new MemorySource(chart), new MemoryDestination(), { format: 'v2s2' }), code('OPERATION_NOT_SUPPORTED'));
    await assert.rejects(engine().copy(new MemorySource(chart), new MemoryDestination(), { compression: { format: 'zstd' } }), code('OPERATION_NOT_SUPPORTED'));
    await assert.rejects(engine().copy(new MemorySource(chart), new MemoryDestination(DOCKER_ARCHIVE_LIKE), {}), code('OPERATION_NOT_SUPPORTED'));
  });

  it('converts an image that only declares an artifactType (an image config) as skopeo does: v2s2 drops it, OCI keeps it', async () => {
    const img = buildImage({ format: 'oci' });
    const declared = JSON.parse(img.top.bytes.toString('utf8')) as Record<string, unknown>;
    declared['artifactType'] = 'application/vnd.example+type';
    const bytes = Buffer.from(JSON.stringify(declared));
    const top = { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) };
    const source = () => new MemorySource({ top, manifests: new Map([[top.digest, top]]), blobs: img.blobs });
    const plain = new MemoryDestination();
    await engine().copy(new MemorySource(img), plain, { format: 'v2s2' });
    const dest = new MemoryDestination();
    const result = await engine().copy(source(), dest, { format: 'v2s2' });
    assert.equal(result.mediaType, MediaType.dockerV2S2);
    assert.deepEqual(dest.committed!.bytes, plain.committed!.bytes);
    const recompressed = new MemoryDestination(OCI_LAYOUT_LIKE);
    await engine().copy(source(), recompressed, { compression: { format: 'zstd' } });
    const written = JSON.parse(recompressed.committed!.bytes.toString('utf8')) as Record<string, unknown>;
    assert.equal(written['artifactType'], 'application/vnd.example+type');
    assert.deepEqual(Object.keys(written).slice(0, 4), ['schemaVersion', 'mediaType', 'artifactType', 'config']);
  });

  it('takes an OCI manifest with a Docker config for an artifact, as containers/image does: copied unchanged, never converted to v2s2', async () => {
    const img = buildImage({ format: 'oci' });
    const doc = JSON.parse(img.top.bytes.toString('utf8')) as { config: Record<string, unknown> };
    doc.config['mediaType'] = MediaType.dockerConfig;
    const bytes = Buffer.from(JSON.stringify(doc));
    const top = { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) };
    const source = () => new MemorySource({ top, manifests: new Map([[top.digest, top]]), blobs: img.blobs });
    await assert.rejects(engine().copy(source(), new MemoryDestination(), { format: 'v2s2' }), code('OPERATION_NOT_SUPPORTED'));
    const result = await engine().copy(source(), new MemoryDestination(OCI_LAYOUT_LIKE), {});
    assert.equal(result.digest, top.digest);
  });

  it('never converts a manifest with a subject (its referrer link would be lost)', async () => {
    const img = buildImage({ format: 'oci' });
    const withSubject = JSON.parse(img.top.bytes.toString('utf8')) as Record<string, unknown>;
    withSubject['subject'] = { mediaType: MediaType.ociManifest, digest: amd64.top.digest, size: amd64.top.bytes.length };
    const bytes = Buffer.from(JSON.stringify(withSubject));
    const top = { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) };
    const source = new MemorySource({ top, manifests: new Map([[top.digest, top]]), blobs: img.blobs });
    await assert.rejects(engine().copy(source, new MemoryDestination(), { format: 'v2s2' }), code('OPERATION_NOT_SUPPORTED'));
  });
});

describe('copy engine: the referrers step', () => {
  it('gets the digests written unchanged, after the manifests; notes those that changed', async () => {
    const calls: string[][] = [];
    const dest = new MemoryDestination();
    const step: ReferrersStep = {
      async copy(subjects, run) {
        calls.push([...subjects]);
        assert.ok(dest.committed, 'the image is committed before referrers are copied');
        run.progress({ imagesTotal: 1, imagesDone: 1 });
        return { copied: [], recorded: [], notCopied: [] };
      },
    };
    const all = await engine().copy(new MemorySource(index), dest, { multiArch: 'all', referrers: step });
    assert.deepEqual(calls[0]!.sort(), [index.top.digest, amd64.top.digest, arm64.top.digest, armv7.top.digest].sort());
    assert.deepEqual(all.referrers?.notCopied, []);
    const filtered = await engine().copy(new MemorySource(index), new MemoryDestination(), { multiArch: 'filtered', platforms: [{ os: 'linux', architecture: 'amd64' }], referrers: step });
    assert.deepEqual(calls[1], [amd64.top.digest]);
    assert.deepEqual(filtered.referrers?.notCopied.map((n) => n.subject), [index.top.digest]);
    const converted = await engine().copy(new MemorySource(list), new MemoryDestination(), { multiArch: 'all', format: 'oci', referrers: step });
    assert.deepEqual(calls[2], []);
    assert.equal(converted.referrers?.notCopied.length, 3);
  });
});
