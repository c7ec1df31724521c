import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirInUseError, lockDataDir, resetTempDir } from './data-dir';

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
});
