import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { VerifyingStream } from '../../copy-engine/verifying-stream';
import { LocalStorage } from '../../storage/local-storage';
import { unflushedDirectoryWarnings } from '../../storage/testing/failing-directory-sync';
import type { ImageDestination } from '../transport';
import { OciArchiveTransport } from './oci-archive.transport';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-oci-archive-unit-')));
const data = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-oci-archive-unit-data-')));
let local: LocalStorage;
let transport: OciArchiveTransport;
before(async () => {
  local = await LocalStorage.open({ storageRoot: root, dataDir: data, leaseMs: 30_000, minFreeBytes: 0 });
  transport = new OciArchiveTransport({ local });
});
after(async () => {
  await local.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
});
const ctx = { credentials: async () => undefined };
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function put(dest: ImageDestination, bytes: Buffer) {
  const claimed = { digest: sha(bytes), size: bytes.length };
  const verified = pipeline([Readable.from([bytes]), new VerifyingStream(claimed)], () => undefined) as unknown as Readable;
  return dest.putBlob(verified, { known: claimed, final: () => claimed }, {});
}

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
