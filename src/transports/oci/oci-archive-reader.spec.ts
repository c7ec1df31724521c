import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rename, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf } from '../../image-spec/digest';
import { MediaType } from '../../image-spec/media-types';
import { TarWriter } from '../archive/tar-writer';
import { OciArchiveReader } from './oci-archive-reader';

const dir = mkdtempSync(join(tmpdir(), 'skiff-oci-archive-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const layer = Buffer.alloc(300_000, 7);
const layerDigest = digestOf(layer);
const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const configDigest = digestOf(config);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
  }),
);
const manifestDigest = digestOf(manifest);
const blobName = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
const indexJson = (digest = manifestDigest, size = manifest.length) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest, size, annotations: { 'org.opencontainers.image.ref.name': 'a' } }] }));

/** An oci-archive as `build` writes it; the default is a complete image. */
async function archive(build?: (w: TarWriter) => Promise<void>): Promise<string> {
  const path = join(dir, `a${n++}.tar`);
  const fh = await open(path, 'wx');
  const w = TarWriter.toFile(fh);
  await (build ??
    (async (t: TarWriter) => {
      await t.addBytes('oci-layout', Buffer.from('{"imageLayoutVersion": "1.0.0"}'));
      await t.addBytes('index.json', indexJson());
      await t.addBytes(blobName(manifestDigest), manifest);
      await t.addBytes(blobName(configDigest), config);
      await t.addBytes(blobName(layerDigest), layer);
    }))(w);
  await w.close();
  await fh.close();
  return path;
}

async function openReader(path: string): Promise<OciArchiveReader> {
  return OciArchiveReader.open(await open(path, 'r'), { name: 'oci-archive:x.tar' });
}

async function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const layoutInvalid = (re: RegExp) => (e: { code?: string; message: string }) => e.code === 'LAYOUT_INVALID' && re.test(e.message);

test('reads index.json, verified manifests and blobs in place, through the archive’s own links', async () => {
  const path = await archive(async (w) => {
    await w.addBytes('index.json', indexJson());
    await w.addBytes(blobName(manifestDigest), manifest);
    await w.addBytes('elsewhere/config', config);
    await w.addSymlink(blobName(configDigest), '../../elsewhere/config');
    await w.addBytes(blobName(layerDigest), layer);
  });
  const r = await openReader(path);
  try {
    assert.equal((await r.readIndex())?.manifests[0]?.digest, manifestDigest);
    assert.deepEqual(await r.readVerifiedBlob(manifestDigest, manifest.length, 'm'), manifest);
    assert.deepEqual(await r.readVerifiedBlob(configDigest, -1, 'c'), config);
    const blob = await r.openBlob({ digest: layerDigest, size: layer.length }, 'l');
    assert.equal(blob.size, layer.length);
    assert.deepEqual(await drain(blob.stream), layer);
  } finally {
    await r.close();
  }
});

test('a blob path that is a symbolic link leaving the archive is refused at open, as extraction refuses it', async () => {
  const path = await archive(async (w) => {
    await w.addBytes('index.json', indexJson());
    await w.addSymlink(blobName(manifestDigest), '../../../../etc/passwd');
  });
  const fh = await open(path, 'r');
  await assert.rejects(OciArchiveReader.open(fh, { name: 'oci-archive:x.tar' }), (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && /leaves the archive/.test(e.message));
  await assert.rejects(fh.read(Buffer.alloc(1), 0, 1, 0), 'the handle was closed by the failed open');
});

test('sizes that lie, digests that do not match and missing blobs are LAYOUT_INVALID with the layout’s messages', async () => {
  const r = await openReader(await archive());
  try {
    await assert.rejects(r.openBlob({ digest: layerDigest, size: layer.length - 1 }, 'oci-archive:x.tar: blob l'), layoutInvalid(/^oci-archive:x\.tar: blob l has 300000 bytes, its descriptor says 299999$/));
    await assert.rejects(r.readVerifiedBlob(manifestDigest, manifest.length + 5, 'm'), layoutInvalid(/^m: the descriptor says \d+ bytes, the file has \d+$/));
    await assert.rejects(r.readVerifiedBlob(manifestDigest, manifest.length - 5, 'm'), layoutInvalid(/^m: the descriptor says \d+ bytes, the file has more$/));
    await assert.rejects(r.readVerifiedBlob(layerDigest, -1, 'big', 1000), layoutInvalid(/^big: larger than the 1000-byte limit$/));
    await assert.rejects(r.readVerifiedBlob(layerDigest, layer.length, 'big', 1000), layoutInvalid(/its descriptor announces 300000 bytes, more than the 1000-byte limit/));
    const other = digestOf(Buffer.from('not here'));
    await assert.rejects(r.readVerifiedBlob(other, 8, 'm'), layoutInvalid(new RegExp(`^m: blob ${other} is missing from the layout$`)));
    await assert.rejects(r.openBlob({ digest: other, size: 8 }, 'oci-archive:x.tar: blob b'), layoutInvalid(/^oci-archive:x\.tar: blob b is missing from the layout$/));
  } finally {
    await r.close();
  }
  const lying = await openReader(
    await archive(async (w) => {
      await w.addBytes('index.json', indexJson());
      await w.addBytes(blobName(manifestDigest), Buffer.alloc(manifest.length, 0x20));
    }),
  );
  try {
    await assert.rejects(lying.readVerifiedBlob(manifestDigest, manifest.length, 'm'), layoutInvalid(/^m: the content hashes to sha256:[0-9a-f]{64}, not /));
  } finally {
    await lying.close();
  }
});

test('an archive without index.json has none; one that is not a tar is ARCHIVE_INVALID', async () => {
  const r = await openReader(await archive(async (w) => w.addBytes('hello.txt', Buffer.from('hi'))));
  assert.equal(await r.readIndex(), undefined);
  await r.close();
  const path = join(dir, 'notar.tar');
  await writeFile(path, 'this is not a tar archive at all'.repeat(40));
  await assert.rejects(openReader(path), (e: { code?: string }) => e.code === 'ARCHIVE_INVALID');
});

test('keeps reading the archive it indexed when the path is replaced by rename; a truncated body is refused', async () => {
  const path = await archive();
  const r = await openReader(path);
  try {
    await rename(await archive(async (w) => w.addBytes('other', Buffer.from('x'))), path);
    assert.deepEqual(await r.readVerifiedBlob(manifestDigest, manifest.length, 'm'), manifest);
    assert.deepEqual(await drain((await r.openBlob({ digest: layerDigest, size: layer.length }, 'l')).stream), layer);
  } finally {
    await r.close();
  }
  await assert.rejects(r.readVerifiedBlob(manifestDigest, manifest.length, 'm'), 'nothing is read after close');

  const cut = await archive();
  const t = await openReader(cut);
  try {
    await truncate(cut, 2048);
    await assert.rejects(drain((await t.openBlob({ digest: layerDigest, size: layer.length }, 'l')).stream), (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && /truncated/.test(e.message));
  } finally {
    await t.close();
  }
});
