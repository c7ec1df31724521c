import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ustarHeader } from '../archive/tar-writer';
import { specStorage } from '../testing/spec-storage';
import { OciArchiveTransport } from './oci-archive.transport';

const storage = specStorage('skiff-oci-archive-transport-unit');
let transport: OciArchiveTransport;
before(async () => {
  await storage.ready;
  transport = new OciArchiveTransport({ local: storage.local });
});
const ctx = { credentials: async () => undefined };

describe('oci-archive: source', () => {
  it('a zstd, bzip2 or xz-compressed archive is ARCHIVE_INVALID naming its compression; a gzip one that is no tar is refused as such', async () => {
    const magics: Record<string, number[]> = { zstd: [0x28, 0xb5, 0x2f, 0xfd], bzip2: [0x42, 0x5a, 0x68, 0x39], xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] };
    for (const [kind, magic] of Object.entries(magics)) {
      writeFileSync(join(storage.root, `a.tar.${kind}`), Buffer.concat([Buffer.from(magic), Buffer.alloc(2000, 0x55)]));
      await assert.rejects(
        transport.openSource({ transport: 'oci-archive', path: `a.tar.${kind}` }, ctx),
        (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && e.message === `oci-archive:a.tar.${kind} is ${kind}-compressed; skiff reads oci-archive files plain or gzip-compressed`,
        kind,
      );
    }
    // a plain tar whose first entry's name starts like bzip2's magic is read as the tar it is
    writeFileSync(join(storage.root, 'bzh.tar'), Buffer.concat([ustarHeader({ name: 'BZh9', size: 0, type: 'file' }), Buffer.alloc(1024)]));
    await assert.rejects(transport.openSource({ transport: 'oci-archive', path: 'bzh.tar' }, ctx), (e: { code?: string; message: string }) => e.code === 'LAYOUT_INVALID' && /has no index\.json/.test(e.message));
    writeFileSync(join(storage.root, 'a.tar.gz'), gzipSync(Buffer.alloc(2000, 0x55)));
    await assert.rejects(transport.openSource({ transport: 'oci-archive', path: 'a.tar.gz' }, ctx), (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && /not a valid gzip-compressed tar archive/.test(e.message));
  });
});
