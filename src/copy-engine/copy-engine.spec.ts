import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseImageReference } from '../image-spec/image-reference';
import { MediaType } from '../image-spec/media-types';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBlob } from '../transports/transport';
import { CopyEngine } from './copy-engine';
import { HostLimiter, InFlightBlobs } from './host-limiter';

/** The engine against in-memory transports: call order, verification, failure, cancel. */
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const blob = (s: string) => Buffer.from(s);

function image(opts: { tamper?: boolean } = {}) {
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layers = [blob('layer-one'), blob('layer-two')];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerV2S2,
      config: { mediaType: MediaType.dockerConfig, size: config.length, digest: sha(config) },
      layers: layers.map((l) => ({ mediaType: MediaType.dockerLayerGzip, size: l.length, digest: sha(l) })),
    }),
  );
  const blobs = new Map([config, ...layers].map((b) => [sha(b), b]));
  if (opts.tamper) blobs.set(sha(layers[1]!), blob('layer-tw0'));
  return { manifest, blobs };
}

class MemorySource implements ImageSource {
  readonly reference = parseImageReference('docker://registry.test/src/app:1');
  constructor(private readonly img: { manifest: Buffer; blobs: Map<string, Buffer> }, private readonly slow = false) {}
  async getManifest(): Promise<ManifestBlob> {
    return { bytes: this.img.manifest, mediaType: MediaType.dockerV2S2, digest: sha(this.img.manifest) };
  }
  async getBlob(d: { digest: string }, opts: { signal?: AbortSignal } = {}) {
    const bytes = this.img.blobs.get(d.digest)!;
    const slow = this.slow;
    const stream = Readable.from(
      (async function* () {
        for (let i = 0; i < bytes.length; i++) {
          if (slow) await new Promise((r) => setTimeout(r, 20));
          if (opts.signal?.aborted) throw new Error('aborted');
          yield bytes.subarray(i, i + 1);
        }
      })(),
    );
    return { stream, size: bytes.length };
  }
  async readBlob(d: { digest: string }): Promise<Buffer> {
    return this.img.blobs.get(d.digest)!;
  }
  async close(): Promise<void> {}
}

class MemoryDestination implements ImageDestination {
  readonly reference = parseImageReference('docker://registry.test/dst/app:1');
  readonly hostKey = 'mem';
  readonly blobScope = `mem:${Math.random()}`;
  readonly layerCompression = 'preserve' as const;
  readonly events: string[] = [];
  readonly stored = new Map<string, Buffer>();
  supportedManifestTypes() {
    return [MediaType.dockerV2S2, MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifestList];
  }
  async tryReuseBlob(b: BlobInfo) {
    return this.stored.has(b.digest) ? ('present' as const) : undefined;
  }
  async putBlob(stream: Readable, b: { known?: BlobInfo; final: () => BlobInfo }) {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const info = b.known ?? b.final();
    this.stored.set(info.digest, Buffer.concat(chunks));
    this.events.push(`blob ${info.digest.slice(7, 15)}`);
    return info;
  }
  async putManifest(_bytes: Buffer, mediaType: string, opts: { instanceDigest?: string }) {
    this.events.push(opts.instanceDigest ? 'instance' : `manifest ${mediaType}`);
  }
  async close(): Promise<void> {}
}

const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });

test('blobs first, the manifest last; a second copy reuses every blob', async () => {
  const img = image();
  const dest = new MemoryDestination();
  const result = await engine().copy(new MemorySource(img), dest, {});
  assert.equal(result.digest, sha(img.manifest));
  assert.equal(dest.events.length, 4);
  assert.equal(dest.events.at(-1), `manifest ${MediaType.dockerV2S2}`);
  for (const [digest, bytes] of img.blobs) assert.ok(dest.stored.get(digest)!.equals(bytes));
  let last: Record<string, unknown> = {};
  await engine().copy(new MemorySource(img), dest, {}, { onProgress: (p) => (last = p) });
  assert.equal(last['blobsSkipped'], 3);
});

test('a blob whose bytes do not match its digest fails the copy and no manifest is written', async () => {
  const dest = new MemoryDestination();
  await assert.rejects(engine().copy(new MemorySource(image({ tamper: true })), dest, { retryTimes: 0 }), (e: { code?: string }) => e.code === 'DIGEST_MISMATCH');
  assert.ok(!dest.events.some((e) => e.startsWith('manifest')));
});

test('cancelling stops the transfers and writes no manifest', async () => {
  const dest = new MemoryDestination();
  const ac = new AbortController();
  const copy = engine().copy(new MemorySource(image(), true), dest, {}, { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(copy, (e: { code?: string }) => e.code === 'ABORTED');
  assert.ok(!dest.events.some((e) => e.startsWith('manifest')));
});

test('format=oci converts the manifest; preserveDigests refuses the combination', async () => {
  const dest = new MemoryDestination();
  const result = await engine().copy(new MemorySource(image()), dest, { format: 'oci' });
  assert.equal(result.mediaType, MediaType.ociManifest);
  assert.equal(dest.events.at(-1), `manifest ${MediaType.ociManifest}`);
  await assert.rejects(engine().copy(new MemorySource(image()), new MemoryDestination(), { format: 'oci', preserveDigests: true }), (e: { code?: string }) => e.code === 'INVALID_ARGUMENT');
});
