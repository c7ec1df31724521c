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
import { DockerArchiveTransport } from './docker-archive.transport';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-docker-archive-unit-')));
const data = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-docker-archive-unit-data-')));
let local: LocalStorage;
let transport: DockerArchiveTransport;
before(async () => {
  local = await LocalStorage.open({ storageRoot: root, dataDir: data, leaseMs: 30_000, minFreeBytes: 0 });
  transport = new DockerArchiveTransport({ local, limits: { maxEntries: 1000, maxEntrySize: 1 << 30, maxTotalSize: 1 << 30 } });
});
after(async () => {
  await local.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
});
const ctx = { credentials: async () => undefined };
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';

function put(dest: ImageDestination, bytes: Buffer) {
  const claimed = { digest: sha(bytes), size: bytes.length };
  const verified = pipeline([Readable.from([bytes]), new VerifyingStream(claimed)], () => undefined) as unknown as Readable;
  return dest.putBlob(verified, { known: claimed, final: () => claimed }, {});
}

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
