import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirInUseError, lockDataDir, replicaIdOf, resetTempDir, storageReplicaOf, sweepDataDir } from './data-dir';
import { withFailingDirectorySync } from './testing/failing-directory-sync';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'skiff-datadir-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A child that stays alive until killed; `argv` decides what its /proc cmdline says. */
function child(argv: string[]) {
  const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise((r) => p.once('exit', r));
  return {
    pid: p.pid!,
    stop: () => {
      p.kill('SIGKILL');
      return exited;
    },
  };
}

describe('lockDataDir', () => {
  it('writes our pid and removes it on release', () => {
    const d = fresh();
    const release = lockDataDir(d);
    assert.equal(readFileSync(join(d, 'skiff.pid'), 'utf8'), `${process.pid}\n`);
    release();
    assert.equal(existsSync(join(d, 'skiff.pid')), false);
  });

  it('refuses a data directory a live Node.js process holds', async () => {
    const d = fresh();
    const other = child([process.execPath, '-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(join(d, 'skiff.pid'), `${other.pid}\n`);
      assert.throws(() => lockDataDir(d), (e: unknown) => e instanceof DataDirInUseError && e.pid === other.pid && /in use by process/.test(e.message));
    } finally {
      await other.stop();
    }
  });

  it('takes over a pid file whose process is gone, runs something else, or is this process', async () => {
    const gone = child([process.execPath, '-e', '']);
    await gone.stop();
    const sleeper = child(['sleep', '60']);
    try {
      for (const pid of [gone.pid, sleeper.pid, process.pid, 'garbage']) {
        const d = fresh();
        writeFileSync(join(d, 'skiff.pid'), `${pid}\n`);
        const release = lockDataDir(d);
        assert.equal(readFileSync(join(d, 'skiff.pid'), 'utf8'), `${process.pid}\n`, `a pid file naming ${pid} is taken over`);
        release();
      }
    } finally {
      await sleeper.stop();
    }
  });
});

describe('resetTempDir', () => {
  it('empties $DATA/tmp and refuses a storage root inside it', () => {
    const d = fresh();
    mkdirSync(join(d, 'tmp', 'staging-123'), { recursive: true });
    writeFileSync(join(d, 'tmp', 'staging-123', 'layer'), 'x');
    assert.equal(resetTempDir(d, join(d, 'images')), join(d, 'tmp'));
    assert.deepEqual(existsSync(join(d, 'tmp', 'staging-123')), false);
    assert.equal(existsSync(join(d, 'tmp')), true);
    assert.throws(() => resetTempDir(d, join(d, 'tmp', 'images')), /must not be inside/);
    assert.throws(() => resetTempDir(d, join(d, 'tmp')), /must not be inside/);
  });

  it('refuses a data directory inside or equal to the storage root (callers would reach auth.json, skiff.db)', () => {
    const d = fresh();
    assert.throws(() => resetTempDir(d, d), /SKIFF_DATA_DIR .* must not be inside SKIFF_STORAGE_ROOT/);
    assert.throws(() => resetTempDir(join(d, 'skiff'), d), /SKIFF_DATA_DIR .* must not be inside SKIFF_STORAGE_ROOT/);
    assert.equal(resetTempDir(join(d, 'data'), join(d, 'images')), join(d, 'data', 'tmp'));
  });
});

describe('sweepDataDir', () => {
  it('removes the temp files of interrupted atomic writes, and nothing else', () => {
    const d = fresh();
    const mine = ['.skiff-tmp-00000000-0123abcd-0123456789ab-auth.json', '.auth.json.skiff-0123456789abcdef.tmp'];
    const theirs = ['auth.json', 'skiff.db', '.skiff-tmp-notes', 'auth.json.tmp', '.auth.json.swp'];
    for (const n of [...mine, ...theirs]) writeFileSync(join(d, n), 'x');
    assert.deepEqual(sweepDataDir(d).sort(), [...mine].sort());
    assert.deepEqual(readdirSync(d).sort(), [...theirs].sort());
  });
});

describe('resetTempDir keeps the directory (it may be a mount point)', () => {
  it('empties tmp/ without removing it', () => {
    const d = fresh();
    mkdirSync(join(d, 'tmp'));
    const ino = statSync(join(d, 'tmp')).ino;
    writeFileSync(join(d, 'tmp', 'x'), 'x');
    resetTempDir(d, join(d, 'images'));
    assert.equal(statSync(join(d, 'tmp')).ino, ino);
    assert.deepEqual(readdirSync(join(d, 'tmp')), []);
  });
});

describe('replicaIdOf', () => {
  it('creates an id once and reads the same one at every later start', () => {
    const d = fresh();
    const id = replicaIdOf(d);
    assert.match(id, /^[0-9a-f]{8}$/);
    assert.equal(readFileSync(join(d, 'storage-replica-id'), 'utf8'), `${id}\n`);
    assert.equal(replicaIdOf(d), id);
    assert.deepEqual(readdirSync(d), ['storage-replica-id'], 'no temp file left');
  });

  it('replaces an unreadable id, and says so when it cannot keep one', () => {
    const d = fresh();
    writeFileSync(join(d, 'storage-replica-id'), 'not an id');
    const id = replicaIdOf(d);
    assert.match(id, /^[0-9a-f]{8}$/);
    assert.equal(replicaIdOf(d), id);
    const warnings: string[] = [];
    const gone = join(d, 'no-such-dir');
    assert.match(replicaIdOf(gone, (m) => warnings.push(m)), /^[0-9a-f]{8}$/);
    assert.match(warnings.join('\n'), /cannot keep the replica id/);
  });

  it('flushes the data directory after putting the id in place; a failed flush keeps the id and says so', async () => {
    const d = fresh();
    const { directorySyncs } = await withFailingDirectorySync(() => replicaIdOf(d), { fail: false });
    assert.equal(directorySyncs, 1);
    const e = fresh();
    const warnings: string[] = [];
    const { result: id } = await withFailingDirectorySync(() => replicaIdOf(e, (m) => warnings.push(m)));
    assert.equal(readFileSync(join(e, 'storage-replica-id'), 'utf8'), `${id}\n`);
    assert.match(warnings.join('\n'), /kept the replica id in storage-replica-id, but the data directory could not be flushed \(EIO/);
    assert.equal(replicaIdOf(e), id, 'the id kept is the one used');
  });
});

describe('storageReplicaOf: one replica identity', () => {
  it('derives the storage id from SKIFF_REPLICA_ID when it is set, whatever the data directory, and writes nothing', () => {
    const [a, b] = [fresh(), fresh()];
    const id = storageReplicaOf({ dataDir: a, configured: 'skiff-0' });
    assert.match(id, /^[0-9a-f]{8}$/);
    assert.equal(storageReplicaOf({ dataDir: b, configured: 'skiff-0' }), id, 'a fresh data directory: the same replica');
    assert.notEqual(storageReplicaOf({ dataDir: a, configured: 'skiff-1' }), id);
    assert.deepEqual(readdirSync(a), []);
  });

  it('without SKIFF_REPLICA_ID, keeps the id of the data directory', () => {
    const d = fresh();
    const id = storageReplicaOf({ dataDir: d });
    assert.equal(readFileSync(join(d, 'storage-replica-id'), 'utf8'), `${id}\n`);
    assert.equal(storageReplicaOf({ dataDir: d }), id);
  });
});
