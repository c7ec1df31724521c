import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { unflushedDirectoryWarnings } from '../../storage/testing/failing-directory-sync';
import type { ImageDestination } from '../transport';
import { specStorage } from '../testing/spec-storage';
import { putVerifiedBlob } from '../../copy-engine/testing/verified-put';
import { DockerArchiveTransport } from './docker-archive.transport';

const storage = specStorage('skiff-docker-archive-unit');
const root = storage.root;
let transport: DockerArchiveTransport;
before(async () => {
  await storage.ready;
  transport = new DockerArchiveTransport({ local: storage.local, limits: { maxEntries: 1000, maxEntrySize: 1 << 30, maxTotalSize: 1 << 30 } });
});
const ctx = { credentials: async () => undefined };
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';

const put = (dest: ImageDestination, bytes: Buffer, claimed = { digest: sha(bytes), size: bytes.length }) => putVerifiedBlob(dest, bytes, claimed);

describe('docker-archive: destination', () => {
  it('a commit whose directory cannot be flushed after the archive is in place resolves, and says so in a warning', async () => {
    const layer = Buffer.from('layer bytes '.repeat(100));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: V2S2,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: sha(layer), size: layer.length }],
      }),
    );
    const dest = await transport.openDestination({ transport: 'docker-archive', path: 'unflushed.tar' }, ctx);
    try {
      await put(dest, config);
      await put(dest, layer);
      const { warnings } = await unflushedDirectoryWarnings(() => dest.putManifest(manifest, V2S2, {}), { onlyIn: [root] });
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, new RegExp(`published in ${root}, but the directory could not be flushed \\(EIO`));
    } finally {
      await dest.close();
    }
    assert.ok(statSync(join(root, 'unflushed.tar')).size > layer.length, 'the archive is in place');
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.skiff-tmp')), []);
  });
});
