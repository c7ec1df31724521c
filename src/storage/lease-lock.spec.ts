import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withFileLock } from './lease-lock';
import { StorageOwner } from './storage-owner';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-lease-lock-')));
const owners: StorageOwner[] = [];
const start = async (opts: { replica?: string; leaseMs?: number } = {}) => {
  const o = await StorageOwner.start({ storageRoot: root, leaseMs: opts.leaseMs ?? 30_000, replica: opts.replica });
  owners.push(o);
  return o;
};
after(async () => {
  for (const o of owners) await o.stop();
  rmSync(root, { recursive: true, force: true });
});
const past = (path: string, ms: number) => utimesSync(path, new Date(Date.now() - ms), new Date(Date.now() - ms));
const conflict = (e: { code?: string }) => e.code === 'STORAGE_CONFLICT';

/** `owner` takes the lock and holds it until `release()`; resolves once it holds it. */
async function hold(lock: string, owner: StorageOwner): Promise<{ holding: Promise<void>; release: () => void }> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let taken!: () => void;
  const isHeld = new Promise<void>((r) => (taken = r));
  const holding = withFileLock(
    lock,
    owner,
    () => {
      taken();
      return held;
    },
    { what: lock },
  );
  await isHeld;
  return { holding, release };
}

describe('withFileLock (locks shared by replicas)', () => {
  let a: StorageOwner;
  let b: StorageOwner;
  before(async () => {
    a = await start();
    b = await start();
  });

  it('writes the owner into the lock while it is held and removes it afterwards', async () => {
    const lock = join(root, 'l1');
    await withFileLock(lock, a, async () => {
      const content = JSON.parse(readFileSync(lock, 'utf8')) as { owner: string; host: string; leaseMs: number };
      assert.equal(content.owner, a.id);
      assert.equal(content.host, hostname());
      assert.equal(a.holds(lock), true);
    }, { what: 'l1' });
    assert.equal(existsSync(lock), false);
    assert.equal(a.holds(lock), false);
  });

  it('a lock held by a live replica is waited for, and given up on with STORAGE_CONFLICT naming the holder', async () => {
    const lock = join(root, 'l2');
    const { holding, release } = await hold(lock, a);
    await assert.rejects(withFileLock(lock, b, async () => 'never', { what: 'the layout oci:x', timeoutMs: 300 }), (e: { code?: string; message?: string }) => {
      assert.ok(conflict(e));
      assert.match(e.message!, new RegExp(`^the layout oci:x is locked by another writer \\(held by skiff replica ${a.id}\\)`));
      return true;
    });
    release();
    await holding;
    assert.equal(await withFileLock(lock, b, async () => 'after', { what: 'l2' }), 'after');
  });

  it('the heartbeat keeps a held lock fresh past its lease period', async () => {
    const short = await start({ leaseMs: 300 });
    const waiter = await start({ leaseMs: 300 });
    const lock = join(root, 'l3');
    const { holding, release } = await hold(lock, short);
    // waiting over 3 lease periods: the lock is renewed throughout, never lapsed, so the waiter gives up
    await assert.rejects(withFileLock(lock, waiter, async () => 'never', { what: 'l3', timeoutMs: 1_000 }), conflict);
    release();
    await holding;
    // without renewal, the same waiter takes a lock over after a lease period
    writeFileSync(lock, JSON.stringify({ owner: short.id, leaseMs: 300 }));
    past(lock, 400);
    assert.equal(await withFileLock(lock, waiter, async () => 'taken', { what: 'l3', timeoutMs: 1_000 }), 'taken');
  });

  it('a lock whose heartbeat lapsed (its holder was killed) is taken over', async () => {
    const lock = join(root, 'l4');
    writeFileSync(lock, JSON.stringify({ owner: 'deadbeef-00000001', host: 'gone-host', pid: 1, leaseMs: 30_000, token: 'x' }));
    past(lock, 31_000);
    assert.equal(await withFileLock(lock, b, async () => 'taken', { what: 'l4', timeoutMs: 1_000 }), 'taken');
    assert.equal(existsSync(lock), false);
  });

  it('a lock left by an earlier incarnation of this replica is taken over at once, even with a fresh heartbeat', async () => {
    const again = await start({ replica: a.replica });
    const lock = join(root, 'l5');
    writeFileSync(lock, JSON.stringify({ owner: `${a.replica}-0000abcd`, host: hostname(), pid: 1, leaseMs: 30_000, token: 'x' }));
    assert.equal(await withFileLock(lock, again, async () => 'mine', { what: 'l5', timeoutMs: 300 }), 'mine');
  });

  it('an empty lock (written on a full disk) counts by its heartbeat alone', async () => {
    const lock = join(root, 'l6');
    writeFileSync(lock, '');
    await assert.rejects(withFileLock(lock, b, async () => 'never', { what: 'l6', timeoutMs: 200 }), conflict);
    past(lock, 31_000);
    assert.equal(await withFileLock(lock, b, async () => 'taken', { what: 'l6' }), 'taken');
  });

  it('a lock announcing a longer lease than ours is judged by the longer one', async () => {
    const lock = join(root, 'l7');
    writeFileSync(lock, JSON.stringify({ owner: 'deadbeef-00000002', leaseMs: 120_000 }));
    past(lock, 60_000);
    await assert.rejects(withFileLock(lock, b, async () => 'never', { what: 'l7', timeoutMs: 200 }), conflict);
  });

  it('cancelling while waiting is ABORTED', async () => {
    const lock = join(root, 'l8');
    writeFileSync(lock, JSON.stringify({ owner: a.id }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(withFileLock(lock, b, async () => 'never', { what: 'l8', signal: ac.signal }), (e: { code?: string }) => e.code === 'ABORTED');
  });
});
