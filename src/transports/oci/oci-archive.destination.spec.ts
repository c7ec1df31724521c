import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { unflushedDirectoryWarnings } from '../../storage/testing/failing-directory-sync';
import type { ImageDestination } from '../transport';
import { specStorage } from '../testing/spec-storage';
import { putVerifiedBlob } from '../../copy-engine/testing/verified-put';
import { OciArchiveTransport } from './oci-archive.transport';

const storage = specStorage('skiff-oci-archive-unit');
const root = storage.root;
let transport: OciArchiveTransport;
before(async () => {
  await storage.ready;
  transport = new OciArchiveTransport({ local: storage.local });
});
const ctx = { credentials: async () => undefined };
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const put = (dest: ImageDestination, bytes: Buffer, claimed = { digest: sha(bytes), size: bytes.length }) => putVerifiedBlob(dest, bytes, claimed);

describe('oci-archive: destination', () => {
  it('a commit whose directory cannot be flushed after the archive is in place resolves, and says so in a warning', async () => {
    const layer = Buffer.from('layer bytes '.repeat(100));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
      }),
    );
    const dest = await transport.openDestination({ transport: 'oci-archive', path: 'unflushed.tar' }, ctx);
    try {
      await put(dest, config);
      await put(dest, layer);
      const { warnings } = await unflushedDirectoryWarnings(() => dest.putManifest(manifest, OCI_MANIFEST, {}), { onlyIn: [root] });
      assert.ok(
        warnings.some((w) => w.includes(`published in ${root}, but the directory could not be flushed (EIO`)),
        `the archive's directory is named in a warning: ${warnings.join('\n')}`,
      );
    } finally {
      await dest.close();
    }
    assert.ok(statSync(join(root, 'unflushed.tar')).size > layer.length, 'the archive is in place');
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.skiff-tmp')), []);
  });
});
