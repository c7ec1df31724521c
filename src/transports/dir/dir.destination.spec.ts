import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { unflushedDirectoryWarnings, withFailingDirectorySync } from '../../storage/testing/failing-directory-sync';
import type { ImageDestination } from '../transport';
import { specStorage } from '../testing/spec-storage';
import { putVerifiedBlob } from '../../copy-engine/testing/verified-put';
import { DIR_VERSION_CONTENT } from './dir-format';
import { DirTransport } from './dir.transport';

const storage = specStorage('skiff-dir-unit');
const root = storage.root;
let transport: DirTransport;
before(async () => {
  await storage.ready;
  transport = new DirTransport(storage.local);
});
const ctx = { credentials: async () => undefined };
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';

const put = (dest: ImageDestination, bytes: Buffer, claimed = { digest: sha(bytes), size: bytes.length }) => putVerifiedBlob(dest, bytes, claimed);

function image(seed: string) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`layer ${seed}`.repeat(50));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: V2S2,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return { config, layer, manifest };
}

async function write(path: string, img: ReturnType<typeof image>, opts: { failBeforeCommit?: boolean } = {}): Promise<void> {
  const dest = await transport.openDestination({ transport: 'dir', path }, ctx);
  try {
    await put(dest, img.config);
    await put(dest, img.layer);
    if (opts.failBeforeCommit) return;
    await dest.putManifest(img.manifest, V2S2, {});
  } finally {
    await dest.close();
  }
}

const listing = (dir: string) => readdirSync(join(root, dir)).sort();
/** Hidden entries in the storage root other than the replicas' lease directory (.skiff). */
const hidden = () => readdirSync(root).filter((n) => n.startsWith('.') && n !== '.skiff');

describe('dir: destination', () => {
  it("writes skopeo's layout: version, hex-named blobs, manifest.json", async () => {
    const img = image('a');
    await write('a', img);
    assert.deepEqual(listing('a'), [sha(img.config).slice(7), sha(img.layer).slice(7), 'manifest.json', 'version'].sort());
    assert.equal(readFileSync(join(root, 'a/version'), 'utf8'), DIR_VERSION_CONTENT);
    assert.deepEqual(readFileSync(join(root, 'a/manifest.json')), img.manifest);
    assert.deepEqual(hidden(), []);
  });

  it('a copy that fails leaves an existing image untouched and creates nothing new', async () => {
    const before = listing('a');
    await write('a', image('b'), { failBeforeCommit: true });
    assert.deepEqual(listing('a'), before);
    await write('fresh', image('c'), { failBeforeCommit: true });
    assert.equal(existsSync(join(root, 'fresh')), false);
    assert.deepEqual(hidden(), []);
  });

  it('replaces an earlier dir: image and an empty directory', async () => {
    const b = image('b');
    await write('a', b);
    assert.deepEqual(readFileSync(join(root, 'a/manifest.json')), b.manifest);
    assert.ok(!listing('a').includes(sha(image('a').config).slice(7)), 'nothing of the old image stays');
    mkdirSync(join(root, 'empty'));
    await write('empty', b);
    assert.equal(listing('empty').length, 4);
    assert.deepEqual(hidden(), []);
  });

  it('a commit whose directory cannot be flushed after the swap resolves (new image in place, the old one removed), and says so in a warning', async () => {
    const d = image('d');
    // first a new image (renamed into place), then one replacing it (the old one set aside first)
    for (const step of ['new', 'replacing']) {
      const { warnings } = await unflushedDirectoryWarnings(() => write('unflushed', d), { onlyIn: [root] });
      assert.ok(
        warnings.some((w) => w.includes(`published in ${root}, but the directory could not be flushed (EIO`)),
        `${step}: the image's directory is named in a warning: ${warnings.join('\n')}`,
      );
      assert.deepEqual(readFileSync(join(root, 'unflushed/manifest.json')), d.manifest, step);
      assert.deepEqual(hidden(), [], `${step}: no staging directory, no old image set aside`);
    }
  });

  it('a staged image whose directory cannot be flushed is not swapped into place: the copy fails, the old image stays', async () => {
    const before = listing('unflushed');
    await assert.rejects(withFailingDirectorySync(() => write('unflushed', image('e'))), /EIO/);
    assert.deepEqual(listing('unflushed'), before, 'the image there before is untouched');
    await assert.rejects(withFailingDirectorySync(() => write('never', image('e'))), /EIO/);
    assert.equal(existsSync(join(root, 'never')), false);
    assert.deepEqual(hidden(), [], 'the staging directory is removed');
  });

  it('refuses a non-empty directory that is not a dir: image, a file, and the storage root', async () => {
    mkdirSync(join(root, 'important'));
    writeFileSync(join(root, 'important/data.txt'), 'keep me');
    writeFileSync(join(root, 'file'), 'x');
    for (const path of ['important', 'file', '.']) {
      await assert.rejects(transport.openDestination({ transport: 'dir', path }, ctx), (e: { code?: string }) => e.code === 'STORAGE_CONFLICT', path);
    }
    assert.equal(readFileSync(join(root, 'important/data.txt'), 'utf8'), 'keep me');
  });

  it('reads back what it wrote, verifying instance manifests by digest', async () => {
    const src = await transport.openSource({ transport: 'dir', path: 'a' }, ctx);
    const top = await src.getManifest();
    assert.equal(top.mediaType, V2S2);
    assert.equal(top.digest, sha(top.bytes));
    await assert.rejects(src.getManifest({ instanceDigest: sha('nope') }), (e: { code?: string }) => e.code === 'LAYOUT_INVALID');
    await assert.rejects(transport.openSource({ transport: 'dir', path: 'missing' }, ctx).then((s) => s.getManifest()), (e: { code?: string }) => e.code === 'IMAGE_NOT_FOUND');
    await src.close();
  });
});
