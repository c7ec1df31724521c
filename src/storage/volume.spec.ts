import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { InsufficientStorageError } from './storage-errors';
import { StorageVolume, formatBytes } from './volume';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-volume-')));
after(() => rmSync(root, { recursive: true, force: true }));
const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

describe('StorageVolume', () => {
  const vol = new StorageVolume('storage root', root);

  it('turns ENOSPC, EDQUOT, EFBIG and EROFS into INSUFFICIENT_STORAGE naming the volume by its role, never a server path', async () => {
    for (const [code, words] of [
      ['ENOSPC', /no space left on the storage root's volume \(ENOSPC\); 5\.0 MiB \(5242880 bytes\) needed, .* free$/],
      ['EDQUOT', /the disk quota on the storage root's volume is used up \(EDQUOT\); 5\.0 MiB/],
      ['EFBIG', /the file is too large for the storage root's volume \(EFBIG\)/],
      ['EROFS', /the storage root's volume is read-only \(EROFS\)$/],
    ] as const) {
      const e = await vol.explain(errno(code), { what: 'oci:layouts/app: blob sha256:ab', dir: root, needed: 5 * 1024 * 1024 });
      assert.ok(e instanceof InsufficientStorageError, code);
      assert.equal(e.code, 'INSUFFICIENT_STORAGE');
      assert.match(e.message, /^oci:layouts\/app: blob sha256:ab: /);
      assert.match(e.message, words);
      assert.equal(e.message.includes(root), false, 'no server path in the message');
    }
  });

  it('leaves other errors as they are', async () => {
    const other = errno('EACCES');
    assert.equal(await vol.explain(other, { what: 'x', dir: root }), other);
    const plain = new Error('boom');
    assert.equal(await vol.explain(plain, { what: 'x', dir: root }), plain);
  });

  it('ensureRoom refuses a size beyond the free space, early, and lets a small one through', async () => {
    await vol.ensureRoom({ what: 'dir:small', dir: root, needed: 1 });
    await assert.rejects(vol.ensureRoom({ what: 'dir:huge', dir: root, needed: Number.MAX_SAFE_INTEGER }), (e: unknown) => {
      assert.ok(e instanceof InsufficientStorageError);
      assert.match(e.message, /^dir:huge: not enough space on the storage root's volume; .* needed, .* free$/);
      return true;
    });
  });

  it('reports headroom from statfs', async () => {
    const h = await vol.headroom();
    assert.ok(h.totalBytes > 0 && h.freeBytes >= 0 && h.freeBytes <= h.totalBytes);
  });

  it("a write stream over writeStreamFs fails with the 507 itself (/dev/full answers ENOSPC)", async () => {
    const out = createWriteStream('/dev/full', { flags: 'w', fs: vol.writeStreamFs({ what: 'oci:x: blob sha256:cd', dir: root, needed: 10 }) });
    await assert.rejects(pipeline(Readable.from([Buffer.alloc(1024)]), out), (e: unknown) => {
      assert.ok(e instanceof InsufficientStorageError, String(e));
      assert.match(e.message, /^oci:x: blob sha256:cd: no space left on the storage root's volume \(ENOSPC\); 10 bytes needed/);
      return true;
    });
    assert.ok(out.errored instanceof InsufficientStorageError, 'the stream itself carries the 507');
  });

  it('formats sizes for people, with the exact count', () => {
    assert.equal(formatBytes(512), '512 bytes');
    assert.equal(formatBytes(1536), '1.5 KiB (1536 bytes)');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB (3221225472 bytes)');
  });
});
