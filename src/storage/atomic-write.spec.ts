import assert from 'node:assert/strict';
import fs = require('node:fs');
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { syncDirectory, writeFileAtomic, writeFileAtomicSync } from './atomic-write';
import { withFailingDirectorySync } from './testing/failing-directory-sync';

const dir = mkdtempSync(join(tmpdir(), 'skiff-atomic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('writeFileAtomic leaves the final file only, with the bytes and mode asked for', async () => {
    const path = join(dir, 'index.json');
    await writeFileAtomic(path, '{"schemaVersion":2}', { mode: 0o600 });
    assert.equal(readFileSync(path, 'utf8'), '{"schemaVersion":2}');
    assert.deepEqual(readdirSync(dir), ['index.json']);
  });

  it('writeFileAtomic resolves once the file is published, reporting a directory that could not be flushed instead of failing', async () => {
    const sub = join(dir, 'published');
    mkdirSync(sub);
    const path = join(sub, 'index.json');
    writeFileSync(path, 'old');
    const reports: { dir: string; code: unknown }[] = [];
    const { directorySyncs } = await withFailingDirectorySync(() =>
      writeFileAtomic(path, 'new', { onUnflushedDirectory: (d, e) => reports.push({ dir: d, code: (e as NodeJS.ErrnoException).code }) }),
    );
    assert.equal(directorySyncs, 1);
    assert.equal(readFileSync(path, 'utf8'), 'new', 'the file is in place: the caller must not take the write for failed');
    assert.deepEqual(reports, [{ dir: sub, code: 'EIO' }]);
    assert.deepEqual(readdirSync(sub), ['index.json']);
  });

  it('writeFileAtomic rejects only when the file was not published, leaving no temp file', async () => {
    const sub = join(dir, 'unpublished');
    mkdirSync(join(sub, 'index.json'), { recursive: true });
    await assert.rejects(writeFileAtomic(join(sub, 'index.json'), 'x'), (e: NodeJS.ErrnoException) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(e.code ?? ''));
    assert.deepEqual(readdirSync(sub), ['index.json']);
  });

  it('writeFileAtomicSync: temp file, fsync, rename, directory fsync; a directory that cannot be flushed is reported, not thrown', async () => {
    const sub = join(dir, 'sync-write');
    mkdirSync(sub);
    const path = join(sub, 'storage-replica-id');
    const ok = await withFailingDirectorySync(() => writeFileAtomicSync(path, 'abc\n', { mode: 0o600 }), { fail: false });
    assert.equal(ok.directorySyncs, 1, 'the directory is flushed after the rename');
    assert.equal(readFileSync(path, 'utf8'), 'abc\n');
    assert.equal(fs.statSync(path).mode & 0o777, 0o600);
    const reports: string[] = [];
    await withFailingDirectorySync(() => writeFileAtomicSync(path, 'def\n', { onUnflushedDirectory: (d) => reports.push(d) }));
    assert.equal(readFileSync(path, 'utf8'), 'def\n');
    assert.deepEqual(reports, [sub]);
    assert.deepEqual(readdirSync(sub), ['storage-replica-id']);
    assert.throws(() => writeFileAtomicSync(join(sub, 'missing', 'x'), 'y'), { code: 'ENOENT' });
  });

  it('syncDirectory flushes a directory, and a missing one is an error, not a silent success', async () => {
    await syncDirectory(dir);
    await assert.rejects(syncDirectory(join(dir, 'missing')), { code: 'ENOENT' });
  });
});
