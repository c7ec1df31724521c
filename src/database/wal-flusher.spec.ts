import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { WalFlusher } from './wal-flusher';

const dir = mkdtempSync(join(tmpdir(), 'skiff-wal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('WalFlusher', () => {
  it('commits made together share one fdatasync; a commit made while one runs waits for the next', async () => {
    const path = join(dir, 'a.db');
    const db = new DatabaseSync(path);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE t (x)');
    const wal = new WalFlusher(`${path}-wal`);
    const order: string[] = [];
    const first = Array.from({ length: 50 }, (_, i) => {
      db.prepare('INSERT INTO t VALUES (?)').run(i);
      return wal.flush().then(() => order.push('first'));
    });
    // 50 commits, one flush started for them (the first call) and at most one queued behind it.
    await Promise.all(first);
    assert.ok(wal.syncs <= 2, `50 concurrent commits took ${wal.syncs} fdatasyncs`);
    const before = wal.syncs;
    const running = wal.flush();
    assert.equal(wal.flush(), running, 'a flush not started yet covers a commit made meanwhile');
    await new Promise((resolve) => setImmediate(resolve));
    db.prepare('INSERT INTO t VALUES (?)').run(99);
    const later = wal.flush();
    assert.notEqual(later, running, 'a commit after a flush started waits for another one');
    await Promise.all([running, later]);
    assert.equal(wal.syncs, before + 2);
    await wal.close();
    db.close();
  });

  it('a failed fdatasync is for good: every later flush rejects, even though another fdatasync might succeed', async () => {
    // fdatasync of /dev/null fails (EINVAL) while opening it succeeds.
    const wal = new WalFlusher('/dev/null');
    await assert.rejects(wal.flush(), /fdatasync of \/dev\/null failed .*EINVAL/);
    assert.match(wal.failure?.message ?? '', /restart skiff/);
    await assert.rejects(wal.flush(), /fdatasync of \/dev\/null failed/);
    assert.equal(wal.syncs, 1, 'no fdatasync is tried after a failed one');
    await wal.close();
  });

  it('a WAL file that cannot be opened rejects its waiters; the file is opened again for the next flush', async () => {
    const path = join(dir, 'missing.db-wal');
    const wal = new WalFlusher(path);
    await assert.rejects(wal.flush(), /ENOENT/);
    writeFileSync(path, '');
    await wal.flush();
    assert.equal(wal.syncs, 1);
    await wal.close();
  });
});
