import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { before, describe, it } from 'node:test';
import { VerifyingStream } from '../../copy-engine/verifying-stream';
import type { ImageDestination } from '../transport';
import { specStorage } from '../testing/spec-storage';
import { putVerifiedBlob } from '../../copy-engine/testing/verified-put';
import { LOCK_FILE_NAME, withLayoutLock } from './layout-lock';
import { OciTransport } from './oci.transport';
import { withFailingDirectorySync } from '../../storage/testing/failing-directory-sync';

const storage = specStorage('skiff-oci-unit');
const root = storage.root;
let transport: OciTransport;
const ctx = { credentials: async () => undefined };
before(async () => {
  await storage.ready;
  transport = new OciTransport(storage.local);
});
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const put = (dest: ImageDestination, bytes: Buffer, claimed = { digest: sha(bytes), size: bytes.length }) => putVerifiedBlob(dest, bytes, claimed);

interface Img {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
}
function image(seed: string, sharedLayer?: Buffer): Img {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const layer = sharedLayer ?? Buffer.from(`layer of ${seed}`.repeat(100));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return { config, layer, manifest };
}

async function write(path: string, tag: string, img: Img): Promise<void> {
  const dest = await transport.openDestination({ transport: 'oci', path, image: tag }, ctx);
  try {
    await Promise.all([put(dest, img.config), put(dest, img.layer)]);
    await dest.putManifest(img.manifest, 'application/vnd.oci.image.manifest.v1+json', {});
  } finally {
    await dest.close();
  }
}

const blobs = (path: string) => readdirSync(join(root, path, 'blobs/sha256')).sort();
const names = (path: string) =>
  (JSON.parse(readFileSync(join(root, path, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] }).manifests.map(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'],
  );

describe('OCI layout destination', () => {
  it('a blob whose stream fails verification is never visible, and no temp file stays', async () => {
    const dest = await transport.openDestination({ transport: 'oci', path: 'bad', image: 'x' }, ctx);
    const bytes = Buffer.from('not what was announced');
    await assert.rejects(put(dest, bytes, { digest: sha('other'), size: bytes.length }), (e: { code?: string }) => e.code === 'DIGEST_MISMATCH');
    assert.deepEqual(readdirSync(join(root, 'bad/blobs/sha256')), []);
    assert.deepEqual(readdirSync(join(root, 'bad')).filter((n) => n.startsWith('.skiff-tmp-') && !n.endsWith('-writer')), []);
    await dest.close();
    assert.equal(existsSync(join(root, 'bad')), false, 'the layout it created and left empty is removed');
  });

  it('close() without a commit removes the blobs it created but keeps what index.json references', async () => {
    const one = image('one');
    await write('keep', 'one', one);
    const before = blobs('keep');
    const dest = await transport.openDestination({ transport: 'oci', path: 'keep', image: 'two' }, ctx);
    const two = image('two', one.layer);
    await put(dest, two.config);
    await put(dest, two.layer);
    assert.equal(await dest.tryReuseBlob({ digest: sha(one.layer), size: one.layer.length }, {}), 'present');
    await dest.close();
    assert.deepEqual(blobs('keep'), before);
    assert.deepEqual(names('keep'), ['one']);
  });

  it('close() waits for a putBlob() still running, then removes what it wrote', async () => {
    const dest = await transport.openDestination({ transport: 'oci', path: 'slow', image: 'x' }, ctx);
    const chunks = [Buffer.from('a'.repeat(1000)), Buffer.from('b'.repeat(1000))];
    const bytes = Buffer.concat(chunks);
    const slow = Readable.from(
      (async function* () {
        for (const c of chunks) {
          await new Promise((r) => setTimeout(r, 50));
          yield c;
        }
      })(),
    );
    const claimed = { digest: sha(bytes), size: bytes.length };
    const verified = pipeline([slow, new VerifyingStream(claimed)], () => undefined) as unknown as Readable;
    const writing = dest.putBlob(verified, { known: claimed, final: () => claimed }, {});
    await dest.close();
    await writing;
    assert.equal(existsSync(join(root, 'slow')), false);
  });

  it('refuses to publish a reference whose blobs are missing, leaving index.json as it was', async () => {
    const img = image('missing');
    const dest = await transport.openDestination({ transport: 'oci', path: 'partial', image: 'x' }, ctx);
    await put(dest, img.config);
    await assert.rejects(dest.putManifest(img.manifest, 'application/vnd.oci.image.manifest.v1+json', {}), (e: { code?: string }) => e.code === 'LAYOUT_INVALID');
    await dest.close();
    assert.equal(existsSync(join(root, 'partial/index.json')), false);
  });

  it('does not name blobs in index.json whose names a directory flush could not make durable: the commit fails, index.json and the layout stay as they were', async () => {
    await write('flush', 'a', image('flush-a'));
    const before = { index: readFileSync(join(root, 'flush/index.json'), 'utf8'), blobs: blobs('flush') };
    await assert.rejects(withFailingDirectorySync(() => write('flush', 'b', image('flush-b')), { fail: true, onlyIn: [join(root, 'flush/blobs/sha256')] }), /EIO/);
    assert.equal(readFileSync(join(root, 'flush/index.json'), 'utf8'), before.index);
    assert.deepEqual(blobs('flush'), before.blobs, "the failed copy's blobs and manifest are removed");
  });

  it('refuses Docker manifests (the engine converts them)', async () => {
    const dest = await transport.openDestination({ transport: 'oci', path: 'docker', image: 'x' }, ctx);
    await assert.rejects(dest.putManifest(Buffer.from('{}'), 'application/vnd.docker.distribution.manifest.v2+json', {}), (e: { code?: string }) => e.code === 'OPERATION_NOT_SUPPORTED');
    await dest.close();
  });

  it('concurrent commits into one layout keep every tag', async () => {
    const shared = Buffer.from('shared layer'.repeat(1000));
    await Promise.all(Array.from({ length: 12 }, (_, i) => write('busy', `t${i}`, image(`busy${i}`, shared))));
    assert.deepEqual(names('busy').sort(), Array.from({ length: 12 }, (_, i) => `t${i}`).sort());
    assert.equal(blobs('busy').length, 1 + 12 * 2);
  });

  it('delete removes the entry and the blobs only it used', async () => {
    const shared = Buffer.from('shared'.repeat(500));
    const a = image('a', shared);
    const b = image('b', shared);
    await write('gc', 'a', a);
    await write('gc', 'b', b);
    const digest = await transport.deleteImage({ transport: 'oci', path: 'gc', image: 'a' }, ctx);
    assert.equal(digest, sha(a.manifest));
    assert.deepEqual(names('gc'), ['b']);
    assert.deepEqual(blobs('gc'), [b.config, b.manifest, shared].map((x) => sha(x).slice(7)).sort());
    await assert.rejects(transport.deleteImage({ transport: 'oci', path: 'gc', image: 'a' }, ctx), (e: { code?: string }) => e.code === 'IMAGE_NOT_FOUND');
  });

  it('refuses @N as a destination and a file as a layout', async () => {
    await assert.rejects(transport.openDestination({ transport: 'oci', path: 'x', sourceIndex: 0 }, ctx), (e: { code?: string }) => e.code === 'INVALID_REFERENCE');
    writeFileSync(join(root, 'afile'), 'x');
    await assert.rejects(transport.openDestination({ transport: 'oci', path: 'afile', image: 'x' }, ctx), (e: { code?: string }) => e.code === 'STORAGE_CONFLICT');
  });
});

describe('layout lock', () => {
  it('breaks a lock an earlier version left for a dead process of this host, and times out on a live holder', async () => {
    const dir = join(root, 'locked');
    await write('locked', 'x', image('locked'));
    writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), token: 't', createdAt: '' }));
    assert.equal(await withLayoutLock(dir, storage.local.owner, async () => 'ran'), 'ran');
    assert.equal(existsSync(join(dir, LOCK_FILE_NAME)), false);
    // a fresh lock of another replica: its heartbeat is live, so it is waited for
    writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ owner: '0badcafe-00000001', host: 'another-host', token: 't' }));
    await assert.rejects(withLayoutLock(dir, storage.local.owner, async () => 'ran', { timeoutMs: 200 }), (e: { code?: string; message?: string }) => e.code === 'STORAGE_CONFLICT' && /0badcafe-00000001/.test(e.message ?? ''));
  });
});
