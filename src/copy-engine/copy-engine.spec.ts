import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaType } from '../image-spec/media-types';
import { CopyEngine } from './copy-engine';
import type { TransferProgress } from './transfer-progress';
import { HostLimiter, InFlightBlobs } from './host-limiter';
import { buildImage, MemoryDestination, MemorySource } from './testing/in-memory-transports';

/** The engine against in-memory transports: call order, verification, failure, cancel. */
const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });
const code = (expected: string) => (e: { code?: string }) => e.code === expected;

test('blobs first, the manifest last; a second copy reuses every blob', async () => {
  const img = buildImage();
  const dest = new MemoryDestination();
  const result = await engine().copy(new MemorySource(img), dest, {});
  assert.equal(result.digest, img.top.digest);
  assert.equal(dest.events.length, 4);
  assert.equal(dest.events.at(-1), `manifest ${MediaType.dockerV2S2}`);
  for (const [digest, bytes] of img.blobs) assert.ok(dest.blob(digest)!.equals(bytes));
  let last: Record<string, unknown> = {};
  await engine().copy(new MemorySource(img), dest, {}, { onProgress: (p) => (last = p) });
  assert.equal(last['blobsSkipped'], 3);
});

test('a destination that already has the image under its reference gets nothing but reports every blob skipped', async () => {
  const img = buildImage();
  const dest = new MemoryDestination();
  await engine().copy(new MemorySource(img), dest, {});
  const events = dest.events.length;
  const source = new MemorySource(img);
  let last: TransferProgress | undefined;
  const again = await engine().copy(source, dest, {}, { onProgress: (p) => (last = p) });
  assert.equal(again.digest, img.top.digest);
  assert.equal(dest.events.length, events, 'nothing written');
  assert.equal(source.reads.size, 0, 'no blob read');
  assert.equal(last?.blobsSkipped, 3);
  assert.equal(last?.bytesSkipped, [...img.blobs.values()].reduce((n, b) => n + b.length, 0));
});

test('blobs the destination holds are not transferred again; progress counts them skipped', async () => {
  const img = buildImage();
  const dest = new MemoryDestination();
  dest.repo.blobs.set(img.layers[0]!.digest, img.blobs.get(img.layers[0]!.digest)!);
  const source = new MemorySource(img);
  let last: TransferProgress | undefined;
  await engine().copy(source, dest, {}, { onProgress: (p) => (last = p) });
  assert.ok(dest.events.includes(`present ${img.layers[0]!.digest}`));
  assert.equal(source.reads.get(img.layers[0]!.digest), undefined);
  assert.equal(last?.blobsSkipped, 1);
  assert.equal(last?.blobsDone, 2);
  assert.equal(last?.bytesDone, img.config.size + img.layers[1]!.size);
  assert.equal(last?.phase, 'done');
});

test('a blob whose bytes do not match its digest fails the copy and no manifest is written', async () => {
  const img = buildImage();
  const layer = img.layers[1]!;
  const original = img.blobs.get(layer.digest)!;
  const tampered = Buffer.from(original);
  tampered[tampered.length - 1] ^= 0xff;
  const dest = new MemoryDestination();
  const source = new MemorySource(img, { tampered: new Map([[layer.digest, tampered]]) });
  await assert.rejects(engine().copy(source, dest, { retryTimes: 0 }), code('DIGEST_MISMATCH'));
  assert.ok(!dest.events.some((e) => e.startsWith('manifest')));
  assert.equal(dest.blob(layer.digest), undefined, 'the mismatching blob is not published');
  assert.equal(dest.committed, undefined);
});

test('a digest mismatch is not retried, and a source sending more bytes than announced fails the same way', async () => {
  const img = buildImage();
  const layer = img.layers[0]!;
  const longer = Buffer.concat([img.blobs.get(layer.digest)!, Buffer.from('trailing')]);
  const source = new MemorySource(img, { tampered: new Map([[layer.digest, longer]]) });
  const dest = new MemoryDestination();
  await assert.rejects(engine().copy(source, dest, { retryTimes: 3 }), (e: { code?: string; message?: string }) => e.code === 'DIGEST_MISMATCH' && /larger than/.test(e.message ?? ''));
  assert.equal(source.reads.get(layer.digest), 1);
  assert.equal(dest.blob(layer.digest), undefined);
  assert.equal(dest.committed, undefined);
});

test('cancelling stops the transfers and writes no manifest', async () => {
  const dest = new MemoryDestination();
  const ac = new AbortController();
  const slow = { chunk: () => new Promise<void>((r) => setTimeout(r, 20)) };
  const copy = engine().copy(new MemorySource(buildImage(), { hooks: slow }), dest, {}, { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(copy, code('ABORTED'));
  assert.ok(!dest.events.some((e) => e.startsWith('manifest')));
});

test('cancelling mid-blob publishes nothing of that blob and never writes the manifest', async () => {
  const img = buildImage({ layers: ['a'.repeat(64), 'b'.repeat(64)] });
  const stalled = img.layers[1]!.digest;
  let reached!: () => void;
  const midBlob = new Promise<void>((r) => (reached = r));
  const hooks = {
    chunk: (digest: string, _attempt: number, sent: number) => {
      if (digest !== stalled || sent < 8) return;
      reached();
      return new Promise<void>(() => undefined);
    },
  };
  const dest = new MemoryDestination();
  const ac = new AbortController();
  const copy = engine().copy(new MemorySource(img, { hooks }), dest, {}, { signal: ac.signal });
  await midBlob;
  ac.abort();
  await assert.rejects(copy, code('ABORTED'));
  assert.equal(dest.blob(stalled), undefined);
  assert.ok(dest.events.includes(`aborted ${stalled}`), `the upload of the stalled blob was abandoned: ${dest.events.join(', ')}`);
  assert.equal(dest.committed, undefined);
  assert.ok(!dest.events.some((e) => e.startsWith('manifest') || e.startsWith('instance')));
});

test('a copy cancelled before it starts transfers nothing', async () => {
  const source = new MemorySource(buildImage());
  const dest = new MemoryDestination();
  await assert.rejects(engine().copy(source, dest, {}, { signal: AbortSignal.abort() }), code('ABORTED'));
  assert.equal(source.reads.size, 0);
  assert.deepEqual(dest.events, []);
});

test('format=oci converts the manifest; preserveDigests refuses the combination', async () => {
  const dest = new MemoryDestination();
  const result = await engine().copy(new MemorySource(buildImage()), dest, { format: 'oci' });
  assert.equal(result.mediaType, MediaType.ociManifest);
  assert.equal(dest.events.at(-1), `manifest ${MediaType.ociManifest}`);
  await assert.rejects(engine().copy(new MemorySource(buildImage()), new MemoryDestination(), { format: 'oci', preserveDigests: true }), code('INVALID_ARGUMENT'));
});

test('schema1 images are refused before anything is copied', async () => {
  const layer = 'sha256:' + 'a'.repeat(64);
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'latest', architecture: 'amd64', fsLayers: [{ blobSum: layer }], history: [{ v1Compatibility: JSON.stringify({ id: 'a'.repeat(64) }) }] }),
  );
  const img = buildImage();
  const schema1 = { ...img, top: { bytes, mediaType: MediaType.dockerSchema1, digest: 'sha256:' + '0'.repeat(64) } };
  const dest = new MemoryDestination();
  await assert.rejects(engine().copy(new MemorySource(schema1), dest, {}), code('OPERATION_NOT_SUPPORTED'));
  assert.deepEqual(dest.events, []);
});
