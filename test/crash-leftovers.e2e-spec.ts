/**
 * Crash leftovers and a storage root shared by replicas, for real:
 * - `kill -9` of the service while copies into every local transport are mid-blob (a proxy in
 *   front of the registry sends half of a layer and holds the rest), then a restart: the re-queued
 *   copies finish, and the storage root is checked file by file — nothing skiff made is left, every
 *   file skiff did not make is untouched.
 * - Two replicas on one storage root: a layout lock held by a live replica (its heartbeat renewed)
 *   is waited for, one whose owner was killed is taken over once its lease lapsed; a replica's
 *   start-up sweep leaves a live replica's in-progress files alone and removes a killed one's.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onExitSync } from './support/cleanup';
import { listTree } from './support/files';
import { makeLayer, pseudoRandomBytes, pushImage, type PushedImage } from './support/images';
import { type Operation, submit, waitForOperation } from './support/operations';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDir } from './support/tmp';

let reg: TestRegistry;
let slow: PushedImage;
let proxy: HoldingProxy;

/**
 * A loopback proxy in front of the registry. GETs of the blobs in `hold` get their headers and
 * half of the body, then nothing more until `release()`, which sends the rest of every held body
 * and empties `hold` (later requests pass).
 */
interface HoldingProxy {
  host: string;
  hold: Set<string>;
  /** Blob GETs currently held mid-body. */
  held(): number;
  release(): void;
  close(): Promise<void>;
}

async function startHoldingProxy(upstream: string): Promise<HoldingProxy> {
  const target = new URL(upstream);
  const hold = new Set<string>();
  let held = 0;
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    res.on('error', () => undefined);
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
      if (req.method !== 'GET' || !digest || !hold.has(digest)) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        res.write(body.subarray(0, body.length >> 1));
        held++;
        const resume = () => {
          held--;
          res.end(body.subarray(body.length >> 1));
        };
        waiters.add(resume);
        res.on('close', () => {
          if (waiters.delete(resume)) held--;
        });
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    hold,
    held: () => held,
    release() {
      hold.clear();
      for (const w of [...waiters]) {
        waiters.delete(w);
        w();
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Waits (generously) until `cond` holds; the failure message says what never happened. */
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every entry under `dir` (relative; directories end in /), links not followed. */
const listing = (dir: string) => listTree(dir, { dirs: true });

/** Names skiff makes: temp files and staging directories of its grammar, lock files. */
const SKIFF_MADE = /(^|\/)(\.skiff-tmp-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{12}[^/]*|index\.json\.lock|\.skiff-lock-[^/]*)\/?$/;
const skiffMade = (dir: string) => listing(dir).filter((p) => SKIFF_MADE.test(p));

/** Submits a copy without waiting; the operation id. */
async function start(svc: SkiffService, source: string, destination: string): Promise<string> {
  const { res, op } = await submit(svc, 'copies', { source, destination, sourceTlsVerify: false });
  assert.equal(res.status, 202, JSON.stringify(op));
  return op.id;
}

async function copyOk(svc: SkiffService, source: string, destination: string): Promise<void> {
  const { op } = await submit(svc, 'copies', { source, destination, sourceTlsVerify: false }, { wait: 120 });
  assert.equal(op.state, 'succeeded', JSON.stringify(op));
}

const tags = (layout: string): string[] =>
  (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] }).manifests.map(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '',
  );

before(async () => {
  reg = await startRegistry({ mode: 'plain' });
  slow = await pushImage(reg, 'team/slow', '1', {
    layers: [makeLayer({ small: 'x'.repeat(10_000) }), makeLayer({ big: pseudoRandomBytes(512 * 1024, 'crash-leftovers') })],
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
  });
  await pushImage(reg, 'team/small', '1', { layers: [makeLayer({ hello: 'world' })], os: 'linux', architecture: 'amd64', format: 'oci' });
  proxy = await startHoldingProxy(reg.url);
});

after(async () => {
  await proxy?.close();
  await stopAll();
});

describe('kill -9 during copies into every local transport, then a restart', () => {
  it('the re-queued copies finish and nothing skiff made is left, file by file; files skiff did not make are untouched', async () => {
    const root = await makeTmpDir('skiff-crash-root-');
    const dataDir = await makeTmpDir('skiff-crash-data-');
    const env = { SKIFF_STORAGE_ROOT: root };
    let svc = await startSkiff(env, { dataDir });
    const big = slow.layers[1]!.digest;
    proxy.hold.add(big);
    const source = `docker://${proxy.host}/team/slow:1`;
    const destinations = ['oci:layouts/app:v1', 'oci-archive:archives/app.tar:v1', 'dir:dirs/app', 'docker-archive:archives/app-da.tar:team/slow:1'];
    mkdirSync(join(root, 'archives'));
    const ids = [];
    for (const d of destinations) ids.push(await start(svc, source, d));

    // every copy is mid-way through the big layer: its temp file exists
    const tmp = join(dataDir, 'tmp');
    await until('all four copies hold a half-written blob', () => {
      if (proxy.held() < 4) return false;
      const inLayout = readdirSync(join(root, 'layouts/app')).some((n) => n.startsWith('.skiff-tmp-') && n.endsWith('-blob'));
      const staging = readdirSync(join(root, 'dirs')).find((n) => n.startsWith('.skiff-tmp-'));
      const inDir = staging !== undefined && readdirSync(join(root, 'dirs', staging)).some((n) => n.endsWith('-blob'));
      const staged = readdirSync(tmp).filter((n) => readdirSync(join(tmp, n)).some((f) => f.startsWith('.skiff-tmp-') && f.endsWith('-blob')));
      return inLayout && inDir && staged.length === 2;
    });

    // files skiff did not make, some looking a lot like its own, and an earlier version's leftover
    const foreign: Record<string, string> = {
      'layouts/app/.skiff-tmp-notes.txt': 'mine',
      'layouts/app/notes.tmp': 'mine',
      'layouts/app/index.json.lock.bak': 'mine',
      'dirs/.app.partial': 'mine',
      'archives/app.tar.tmp': 'mine',
      '.skiff-tmp-00000000': 'mine',
    };
    for (const [p, c] of Object.entries(foreign)) writeFileSync(join(root, p), c);
    const past = new Date(Math.floor((Date.now() - 24 * 3600_000) / 1000) * 1000);
    for (const p of Object.keys(foreign)) utimesSync(join(root, p), past, past);
    const legacy = join(root, 'layouts/app/.index.json.skiff-0123456789abcdef.tmp');
    writeFileSync(legacy, 'left by skiff 0.1');
    utimesSync(legacy, past, past);

    await svc.kill();
    const left = skiffMade(root);
    assert.ok(left.some((p) => p.startsWith('layouts/app/.skiff-tmp-')), `the killed copy left its temp files: ${left.join(', ')}`);
    assert.ok(left.some((p) => p.startsWith('dirs/.skiff-tmp-')), 'and its dir: staging');

    proxy.release();
    svc = await startSkiff(env, { dataDir });
    try {
      for (const id of ids) {
        const op = await waitForOperation(svc, id);
        assert.equal(op.state, 'succeeded', JSON.stringify(op));
      }
      await until('the start-up sweep finished', () => /storage sweep finished/.test(svc.log()));

      assert.deepEqual(skiffMade(root), [], 'nothing skiff made is left in the storage root');
      for (const p of left) assert.equal(existsSync(join(root, p)), false, p);
      assert.equal(existsSync(legacy), false, "an earlier version's leftover, untouched for a day, is removed");
      for (const [p, c] of Object.entries(foreign)) {
        assert.equal(readFileSync(join(root, p), 'utf8'), c, `${p} untouched`);
        assert.equal(statSync(join(root, p)).mtimeMs, past.getTime(), `${p} untouched`);
      }
      assert.deepEqual(readdirSync(tmp), [], 'the staging area is empty');
      const replica = readFileSync(join(dataDir, 'storage-replica-id'), 'utf8').trim();
      const leases = readdirSync(join(root, '.skiff/leases'));
      assert.equal(leases.length, 1, `only the live incarnation's lease: ${leases.join(', ')}`);
      assert.ok(leases[0]!.startsWith(`${replica}-`));
      // and the copies are whole
      assert.deepEqual(tags(join(root, 'layouts/app')), ['v1']);
      assert.ok(existsSync(join(root, 'dirs/app/manifest.json')));
      assert.ok(statSync(join(root, 'archives/app.tar')).size > 512 * 1024);
      assert.ok(statSync(join(root, 'archives/app-da.tar')).size > 512 * 1024);
    } finally {
      proxy.release();
      await svc.stop();
    }
  });
});

/** A replica holding a layout lock through the real lease-lock code, in its own process: `release()` or `kill()` it. */
async function lockHolder(root: string, lockFile: string, leaseMs: number): Promise<{ release(): Promise<void>; kill(): Promise<void> }> {
  const storage = join(__dirname, '../src/storage');
  const script = `
    const { StorageOwner } = require(${JSON.stringify(join(storage, 'storage-owner.js'))});
    const { withFileLock } = require(${JSON.stringify(join(storage, 'lease-lock.js'))});
    (async () => {
      const owner = await StorageOwner.start({ storageRoot: ${JSON.stringify(root)}, leaseMs: ${leaseMs} });
      await withFileLock(${JSON.stringify(lockFile)}, owner, () => new Promise((resolve) => {
        process.stdout.write('held\\n');
        process.stdin.once('data', resolve);
      }), { what: 'the test layout' });
      await owner.stop();
      process.exit(0);
    })();`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const unregister = onExitSync(() => child.kill('SIGKILL'));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString().includes('held')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before holding the lock`)));
  });
  return {
    async release() {
      child.stdin!.write('go\n');
      await exited;
      unregister();
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
      unregister();
    },
  };
}

async function phase(svc: SkiffService, id: string): Promise<Operation> {
  return (await (await fetch(`${svc.url}/v1/operations/${id}`)).json()) as Operation;
}

describe('two replicas sharing a storage root', () => {
  let root: string;
  let a: SkiffService;
  const LEASE_S = 1;
  before(async () => {
    root = await makeTmpDir('skiff-replicas-root-');
    a = await startSkiff({ SKIFF_STORAGE_ROOT: root, SKIFF_STORAGE_LEASE_SECONDS: String(LEASE_S) });
    await copyOk(a, `docker://${reg.host}/team/small:1`, 'oci:layouts/locked:v1');
  });
  after(async () => {
    await a?.stop();
  });
  const layout = () => join(root, 'layouts/locked');

  it('a layout lock held by a live replica is respected for as long as its heartbeat goes on', async () => {
    const holder = await lockHolder(root, join(layout(), 'index.json.lock'), LEASE_S * 1000);
    let id = '';
    try {
      id = await start(a, `docker://${reg.host}/team/small:1`, 'oci:layouts/locked:v2');
      await until('the copy waits for the layout lock', async () => (await phase(a, id)).progress['phase'] === 'writing-manifests');
      // three lease periods: a lapsing lock would have been taken over by now
      await new Promise((r) => setTimeout(r, 3 * LEASE_S * 1000));
      assert.equal((await phase(a, id)).state, 'running');
      assert.deepEqual(tags(layout()), ['v1']);
    } finally {
      await holder.release();
    }
    const op = await waitForOperation(a, id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    assert.deepEqual(tags(layout()).sort(), ['v1', 'v2']);
    assert.equal(existsSync(join(layout(), 'index.json.lock')), false);
  });

  it('a layout lock whose owner was killed is taken over once its lease lapsed', async () => {
    const holder = await lockHolder(root, join(layout(), 'index.json.lock'), LEASE_S * 1000);
    const id = await start(a, `docker://${reg.host}/team/small:1`, 'oci:layouts/locked:v3');
    await until('the copy waits for the layout lock', async () => (await phase(a, id)).progress['phase'] === 'writing-manifests');
    await holder.kill();
    const op = await waitForOperation(a, id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    assert.ok(tags(layout()).includes('v3'));
    assert.equal(existsSync(join(layout(), 'index.json.lock')), false);
  });

  it("a replica's start-up sweep leaves a live replica's in-progress files alone and removes a killed one's after its lease lapsed", async () => {
    const big = slow.layers[1]!.digest;
    proxy.hold.add(big);
    const source = `docker://${proxy.host}/team/slow:1`;
    const shared = join(root, 'layouts/shared');
    const inProgress = (owner: string) => readdirSync(shared).filter((n) => n.startsWith(`.skiff-tmp-${owner}-`));
    const replicaOf = (svc: SkiffService) => readFileSync(join(svc.dataDir, 'storage-replica-id'), 'utf8').trim();
    const env = { SKIFF_STORAGE_ROOT: root, SKIFF_STORAGE_LEASE_SECONDS: String(LEASE_S) };
    const d = await startSkiff(env);
    let b: SkiffService | undefined;
    try {
      const live = await start(a, source, 'oci:layouts/shared:live');
      await start(d, source, 'oci:layouts/shared:dead');
      await until('both copies hold a half-written blob', () => existsSync(shared) && inProgress(replicaOf(a)).some((n) => n.endsWith('-blob')) && inProgress(replicaOf(d)).some((n) => n.endsWith('-blob')));
      await d.kill();
      const dead = inProgress(replicaOf(d));
      const lease = join(root, '.skiff/leases', readdirSync(join(root, '.skiff/leases')).find((n) => n.startsWith(`${replicaOf(d)}-`))!);
      await until("the killed replica's lease lapsed", () => Date.now() - statSync(lease).mtimeMs > 2 * LEASE_S * 1000);

      b = await startSkiff(env);
      await until("the new replica's start-up sweep finished", () => /storage sweep finished/.test(b!.log()));
      assert.ok(inProgress(replicaOf(a)).some((n) => n.endsWith('-blob')), "the live replica's temp file is still there");
      for (const n of dead) assert.equal(existsSync(join(shared, n)), false, `the killed replica's ${n} is swept`);
      assert.equal(existsSync(lease), false, "and its lease");

      proxy.release();
      const op = await waitForOperation(a, live);
      assert.equal(op.state, 'succeeded', JSON.stringify(op));
      assert.deepEqual(tags(shared), ['live']);
    } finally {
      proxy.release();
      await b?.stop();
      await d.stop().catch(() => undefined);
    }
  });
});
