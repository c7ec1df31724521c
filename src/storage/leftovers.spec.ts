import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sweepDirectory, sweepTree } from './leftovers';
import { LEASE_DIR, StorageOwner } from './storage-owner';
import { tempName } from './temp-names';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-leftovers-')));
after(() => rmSync(base, { recursive: true, force: true }));
const old = (path: string, ms: number) => utimesSync(path, new Date(Date.now() - ms), new Date(Date.now() - ms));

/** Every path under `dir` (relative), directories with a trailing slash, links not followed. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.push(`${relative(dir, p)}/`);
        walk(p);
      } else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe('sweeping leftovers', () => {
  let root: string;
  let me: StorageOwner;
  let live: StorageOwner;
  const owners: StorageOwner[] = [];
  before(async () => {
    root = join(base, 'root');
    mkdirSync(root);
    me = await StorageOwner.start({ storageRoot: root, leaseMs: 30_000, replica: 'aaaaaaaa' });
    live = await StorageOwner.start({ storageRoot: root, leaseMs: 30_000, replica: 'bbbbbbbb' });
    owners.push(me, live);
  });
  after(async () => {
    for (const o of owners) await o.stop();
  });

  it('removes, file by file, what gone owners and earlier versions left, and nothing else', async () => {
    const dead = 'cccccccc-00000001'; // no lease at all
    const lapsed = 'dddddddd-00000002';
    mkdirSync(join(root, LEASE_DIR), { recursive: true });
    writeFileSync(join(root, LEASE_DIR, lapsed), JSON.stringify({ owner: lapsed, host: 'h', leaseMs: 30_000 }));
    old(join(root, LEASE_DIR, lapsed), 60_000);
    const myEarlier = `${me.replica}-0000beef`;
    writeFileSync(join(root, LEASE_DIR, myEarlier), JSON.stringify({ owner: myEarlier, host: hostname(), leaseMs: 30_000 }));

    const layout = join(root, 'layouts/app');
    mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), '{}');
    writeFileSync(join(layout, 'blobs/sha256', 'a'.repeat(64)), 'blob');
    // inside blobs/ nothing is ever looked at, even a name that looks like ours
    writeFileSync(join(layout, 'blobs/sha256', tempName(dead, 'x')), 'not looked at');

    const gone = [
      join(layout, tempName(dead, 'blob')),
      join(layout, tempName(lapsed, 'blob')),
      join(layout, tempName(myEarlier, 'writer')),
      join(root, tempName(dead, 'app.tar')),
      join(layout, '.index.json.skiff-0123456789abcdef.tmp'), // an earlier version's, untouched for two hours
    ];
    for (const p of gone) writeFileSync(p, 'leftover');
    old(gone[4]!, 2 * 60 * 60 * 1000);
    const staging = join(root, tempName(dead, 'image'));
    mkdirSync(staging);
    writeFileSync(join(staging, 'version'), 'Directory Transport Version: 1.1\n');
    writeFileSync(join(layout, 'index.json.lock'), JSON.stringify({ owner: dead, leaseMs: 30_000 }));
    old(join(layout, 'index.json.lock'), 60_000);

    const kept = [
      join(layout, tempName(live.id, 'blob')), // a live replica's copy in progress
      join(layout, tempName(me.id, 'blob')), // this process's own
      join(layout, '.skiff-tmp-notes.txt'), // a look-alike skiff did not make
      join(layout, '.index.json.skiff-fedcba9876543210.tmp'), // an earlier version's, still fresh
      join(root, 'app.tar.tmp'),
      join(root, '.app.tar.partial'),
    ];
    for (const p of kept) writeFileSync(p, 'keep');
    mkdirSync(join(root, 'other'));
    writeFileSync(join(root, 'other/index.json.lock'), JSON.stringify({ owner: live.id, leaseMs: 30_000 }));
    // a link out of the root is never followed
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, tempName(dead, 'x')), 'outside');
    symlinkSync(outside, join(root, 'link'));

    const before = listing(root);
    const result = await sweepTree(root, me);
    const removed = [...gone, staging, join(layout, 'index.json.lock')].map((p) => relative(root, p)).sort();
    assert.deepEqual(result.removed.map((p) => relative(root, p)).sort(), removed);
    assert.ok(result.bytes >= 'leftover'.length * gone.length);
    const expected = before.filter((p) => !removed.some((r) => p === r || p === `${r}/` || p.startsWith(`${r}/`)));
    assert.deepEqual(
      listing(root).filter((p) => !p.startsWith('.skiff/')),
      expected.filter((p) => !p.startsWith('.skiff/')),
    );
    for (const p of kept) assert.equal(existsSync(p), true, p);
    assert.equal(readdirSync(outside).length, 1, 'nothing is removed through a link');
    // the leases of gone owners go too; live ones stay
    assert.deepEqual(readdirSync(join(root, LEASE_DIR)).sort(), [live.id, me.id].sort());
  });

  it('a dir: image moved aside by a writer killed mid-swap is put back, not removed; once replaced, the aside goes', async () => {
    const dir = join(root, 'swaps');
    mkdirSync(dir);
    const dead = 'ffffffff-00000004';
    const interrupted = join(dir, tempName(dead, 'old-app'));
    mkdirSync(interrupted);
    writeFileSync(join(interrupted, 'manifest.json'), '{}');
    const replaced = join(dir, tempName(dead, 'old-web'));
    mkdirSync(replaced);
    mkdirSync(join(dir, 'web'));
    const r = await sweepDirectory(dir, me);
    assert.deepEqual(r.restored, [join(dir, 'app')]);
    assert.deepEqual(r.removed, [replaced]);
    assert.equal(readdirSync(join(dir, 'app')).join(), 'manifest.json');
    assert.deepEqual(readdirSync(dir).sort(), ['app', 'web']);
  });

  it('sweepDirectory looks at one directory only', async () => {
    const dir = join(root, 'one');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const top = join(dir, tempName('eeeeeeee-00000003', 'blob'));
    const below = join(dir, 'sub', tempName('eeeeeeee-00000003', 'blob'));
    writeFileSync(top, 'x');
    writeFileSync(below, 'x');
    const r = await sweepDirectory(dir, me);
    assert.deepEqual(r.removed, [top]);
    assert.equal(existsSync(below), true);
  });

  it('an earlier incarnation of this replica whose lease is live on another host (a copied data directory) is not swept', async () => {
    const twin = `${me.replica}-0000f00d`;
    writeFileSync(join(root, LEASE_DIR, twin), JSON.stringify({ owner: twin, host: 'another-host', leaseMs: 30_000 }));
    const file = join(root, tempName(twin, 'blob'));
    writeFileSync(file, 'x');
    assert.equal(await me.isGone(twin), false);
    await sweepDirectory(root, me);
    assert.equal(existsSync(file), true);
  });

  it('a live twin on this host (another process given the same SKIFF_REPLICA_ID) is not swept and is reported; a dead one or a restarted container is', async () => {
    const twin = `${me.replica}-0000cafe`;
    const file = join(root, tempName(twin, 'blob'));
    writeFileSync(file, 'x');
    // pid of this test process's parent: alive, and not this process
    writeFileSync(join(root, LEASE_DIR, twin), JSON.stringify({ owner: twin, host: hostname(), pid: process.ppid, leaseMs: 30_000 }));
    assert.equal(await me.isGone(twin), false);
    await sweepDirectory(root, me);
    assert.equal(existsSync(file), true);
    const warnings: string[] = [];
    const again = await StorageOwner.start({ storageRoot: root, leaseMs: 30_000, replica: me.replica, warn: (m) => warnings.push(m) });
    owners.push(again);
    assert.match(warnings.join('\n'), new RegExp(`another live process \\(${hostname()} pid ${process.ppid}\\) shares this replica's storage id ${me.replica}.*SKIFF_REPLICA_ID`));
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(root, LEASE_DIR, twin), JSON.stringify({ owner: twin, host: hostname(), pid: exited, leaseMs: 30_000 }));
    assert.equal(await me.isGone(twin), true, 'its process has exited');
    writeFileSync(join(root, LEASE_DIR, twin), JSON.stringify({ owner: twin, host: hostname(), pid: process.pid, leaseMs: 30_000 }));
    assert.equal(await me.isGone(twin), true, 'our own pid: an earlier run of this container');
    await sweepDirectory(root, me);
    assert.equal(existsSync(file), false);
  });

  it('writes the replica name into its lease', async () => {
    const named = await StorageOwner.start({ storageRoot: root, leaseMs: 30_000, replica: 'cafecafe', replicaId: 'skiff-7' });
    owners.push(named);
    assert.equal(JSON.parse(readFileSync(named.leasePath(), 'utf8')).replicaId, 'skiff-7');
  });
});
