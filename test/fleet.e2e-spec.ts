/**
 * Three skiff replicas on one real PostgreSQL, next to real registries: any replica answers for
 * any operation, each operation runs once, a killed replica's copy is taken over and finished,
 * a database restart loses nothing, a cancel reaches the replica running the copy, SSE on one
 * replica shows progress made on another, idempotency keys hold across replicas.
 * Copies are made slow with the fault proxy (stalled blob reads), never with sleeps.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { startFleet, type Fleet } from './support/fleet';
import { makeLayer, pseudoRandomBytes, pushImage, type PushedImage } from './support/images';
import { type Operation, submit, waitForOperation } from './support/operations';
import { postgresSkip, startPostgres, type TestPostgres } from './support/postgres';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import type { SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';

type Op = Operation<{ digest: string }> & { replicaId?: string; attempts?: number };

const skip = postgresSkip();
let pg: TestPostgres;
let fleet: Fleet;
let src: TestRegistry;
let dst: TestRegistry;
let proxy: FaultProxy;
let small: PushedImage;
let big: PushedImage;

const D = (r: string) => `docker://${dst.host}/${r}`;
const viaProxy = (r: string) => `docker://${proxy.host}/${r}`;
const plain = { sourceTlsVerify: false, destinationTlsVerify: false };

async function get(svc: SkiffService, id: string): Promise<Op> {
  return (await (await fetch(`${svc.url}/v1/operations/${id}`)).json()) as Op;
}

/** Polls (through `svc`) until the operation runs; answers it with the replica running it. */
async function whenRunning(svc: SkiffService, id: string): Promise<Op> {
  for (let i = 0; i < 400; i++) {
    const op = await get(svc, id);
    if (op.state === 'running' && op.replicaId) return op;
    if (['succeeded', 'failed', 'cancelled'].includes(op.state)) assert.fail(`operation ended before it was seen running: ${JSON.stringify(op)}`);
    await sleep(25);
  }
  assert.fail(`operation ${id} never ran`);
}

async function rawDigest(ref: string): Promise<string | undefined> {
  const r = await skopeo(['inspect', '--raw', '--tls-verify=false', ref]);
  return r.code === 0 ? 'sha256:' + createHash('sha256').update(r.stdoutBytes).digest('hex') : undefined;
}

interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

async function readEvents(svc: SkiffService, id: string, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const res = await fetch(`${svc.url}/v1/operations/${id}/events`, { headers });
  assert.equal(res.status, 200);
  const events: SseEvent[] = [];
  for (const block of (await res.text()).split('\n\n')) {
    if (!block.trim() || block.startsWith(':')) continue;
    const f = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
    events.push({ id: Number(f['id']), event: f['event']!, data: JSON.parse(f['data']!) as Record<string, unknown> });
  }
  return events;
}

const layerPath = (img: PushedImage, i: number) => new RegExp(`/blobs/${img.layers[i]!.digest}`);

describe('a fleet of three replicas on PostgreSQL', { skip }, () => {
  before(async () => {
    [pg, src, dst] = await Promise.all([startPostgres(), startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain', deleteEnabled: true })]);
    proxy = await startFaultProxy(src.url);
    small = await pushImage(src, 'team/small', 'v1', { layers: [makeLayer({ a: pseudoRandomBytes(50_000, 'fleet-small') })], os: 'linux', architecture: 'amd64', format: 'oci' });
    big = await pushImage(src, 'team/big', 'v1', {
      layers: Array.from({ length: 4 }, (_, i) => makeLayer({ [`l${i}`]: pseudoRandomBytes(2 * 1024 * 1024, `fleet-big-${i}`) })),
      os: 'linux',
      architecture: 'amd64',
      format: 'v2s2',
    });
    const url = await pg.createDatabase('fleet');
    // Short leases so a takeover happens within seconds; a stalled blob read times out in 4 s and is retried.
    fleet = await startFleet(url, 3, { SKIFF_LEASE_SECONDS: '6', SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '4000' });
  });

  after(async () => {
    await fleet?.stop();
    await proxy?.close();
    await stopAll();
    await pg?.stop();
  });

  it('operations submitted round-robin to the replicas each run exactly once, and any replica answers for each', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const { res, op } = await submit(fleet.replicas[i % 3]!, 'copies', { source: `docker://${src.host}/team/small:v1`, destination: D(`rr/app${i}:v1`), ...plain });
      assert.equal(res.status, 202, JSON.stringify(op));
      ids.push(op.id);
    }
    const runners = new Set<string>();
    for (const [i, id] of ids.entries()) {
      const done = (await waitForOperation(fleet.replicas[(i + 1) % 3]!, id, 60)) as Op;
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      assert.equal(done.attempts, 1);
      runners.add(done.replicaId!);
      const events = await readEvents(fleet.replicas[(i + 2) % 3]!, id, { 'last-event-id': '0' });
      const runs = events.filter((e) => e.event === 'state' && e.data['state'] === 'running');
      assert.equal(runs.length, 1, `operation ${id} ran once: ${events.map((e) => `${e.event}:${String(e.data['state'] ?? '')}`).join(' ')}`);
      assert.equal(await rawDigest(D(`rr/app${i}:v1`)), small.digest);
    }
    const list = (await (await fetch(`${fleet.replicas[0]!.url}/v1/operations?pageSize=20`)).json()) as { operations: Op[] };
    for (const id of ids) assert.ok(list.operations.some((o) => o.id === id), 'every replica lists every operation');
    assert.ok(runners.size >= 1);
  });

  it('idempotency keys hold across replicas, by meaning: defaults spelled out or left out are the same request', async () => {
    const body = { source: `docker://${src.host}/team/small:v1`, destination: D('idem/app:v1'), ...plain };
    const key = { 'Idempotency-Key': `fleet-${Date.now()}` };
    const a = await submit(fleet.replicas[0]!, 'copies', body, { headers: key });
    const b = await submit(fleet.replicas[1]!, 'copies', { ...body, multiArch: 'system', retryTimes: 3, preserveDigests: false }, { headers: key });
    assert.equal(a.res.status, 202);
    assert.equal(b.op.id, a.op.id);
    assert.equal(b.res.headers.get('idempotent-replayed'), 'true');
    const c = await submit(fleet.replicas[2]!, 'copies', { ...body, multiArch: 'all' }, { headers: key });
    assert.equal(c.res.status, 422);
    assert.equal(c.op.code, 'IDEMPOTENCY_KEY_REUSED');
    await waitForOperation(fleet.replicas[2]!, a.op.id, 60);
  });

  it('SSE on one replica shows the progress another replica makes', async () => {
    proxy.clearRules();
    proxy.addRule({ method: 'GET', path: layerPath(big, 3), times: 1, action: { kind: 'stall' } });
    const { op } = await submit(fleet.replicas[0]!, 'copies', { source: viaProxy('team/big:v1'), destination: D('sse/big:v1'), ...plain });
    const running = await whenRunning(fleet.replicas[0]!, op.id);
    const watcher = fleet.replicas.find((r) => r !== fleet.byId(running.replicaId!))!;
    const events = await readEvents(watcher, op.id);
    const last = events.at(-1)!;
    assert.equal(last.event, 'state');
    assert.equal(last.data['state'], 'succeeded', JSON.stringify(last.data));
    assert.equal(last.data['replicaId'], running.replicaId);
    assert.ok(events.some((e) => e.event === 'progress' && Number(e.data['bytesDone']) > 0), `progress streamed: ${events.map((e) => e.event).join(' ')}`);
    assert.ok(events.some((e) => e.event === 'result'));
    assert.equal(await rawDigest(D('sse/big:v1')), big.digest);
    proxy.clearRules();
  });

  it('a cancel sent to a replica that does not run the copy stops it; no tag is left', async () => {
    proxy.clearRules();
    proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, action: { kind: 'stall' } });
    const { op } = await submit(fleet.replicas[1]!, 'copies', { source: viaProxy('team/big:v1'), destination: D('cancel/big:v1'), ...plain });
    const running = await whenRunning(fleet.replicas[1]!, op.id);
    const other = fleet.replicas.find((r) => r !== fleet.byId(running.replicaId!))!;
    const res = await fetch(`${other.url}/v1/operations/${op.id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'fleet test' }) });
    assert.equal(res.status, 202);
    const done = (await waitForOperation(other, op.id, 30)) as Op & { cancellation?: { reason?: string } };
    assert.equal(done.state, 'cancelled');
    assert.equal(done.cancellation?.reason, 'fleet test');
    assert.equal(await rawDigest(D('cancel/big:v1')), undefined);
    proxy.clearRules();
  });

  it('a PostgreSQL restart during a run loses nothing; readiness dips and comes back by itself', async () => {
    proxy.clearRules();
    proxy.addRule({ method: 'GET', path: layerPath(big, 2), times: 1, action: { kind: 'stall' } });
    const { op } = await submit(fleet.replicas[2]!, 'copies', { source: viaProxy('team/big:v1'), destination: D('pgrestart/big:v1'), ...plain });
    await whenRunning(fleet.replicas[2]!, op.id);
    await pg.pause();
    const during = await fetch(`${fleet.replicas[0]!.url}/readyz`);
    assert.equal(during.status, 503);
    const body = (await during.json()) as { checks: { name: string; ok: boolean }[] };
    assert.equal(body.checks.find((c) => c.name === 'operationStore')?.ok, false);
    await pg.resume();
    for (const r of fleet.replicas) {
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await fetch(`${r.url}/readyz`)).status;
        if (status !== 200) await sleep(100);
      }
      assert.equal(status, 200, 'ready again');
    }
    const done = await waitForOperation(fleet.replicas[0]!, op.id, 90);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(await rawDigest(D('pgrestart/big:v1')), big.digest);
    proxy.clearRules();
  });

  it('kill -9 of the replica running a copy: another takes it over once the lease lapses and finishes it; no tag on a partial image', async () => {
    proxy.clearRules();
    // The first reads of every layer stall: the replica that runs first is killed holding them.
    for (let i = 0; i < big.layers.length; i++) proxy.addRule({ method: 'GET', path: layerPath(big, i), times: 1, action: { kind: 'stall' } });
    const { op } = await submit(fleet.replicas[0]!, 'copies', { source: viaProxy('team/big:v1'), destination: D('killed/big:v1'), ...plain });
    const running = await whenRunning(fleet.replicas[0]!, op.id);
    // Killed once it holds every stalled read (else the survivor would meet the rest).
    for (let i = 0; i < 400 && proxy.requests.filter((r) => r.status === 'stalled').length < big.layers.length; i++) await sleep(25);
    const victim = fleet.byId(running.replicaId!)!;
    await victim.kill();
    const survivor = fleet.replicas.find((r) => r !== victim)!;
    assert.equal(await rawDigest(D('killed/big:v1')), undefined, 'no tag while the copy is unfinished');
    const done = (await waitForOperation(survivor, op.id, 90)) as Op;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.notEqual(done.replicaId, running.replicaId);
    assert.equal(done.attempts, 2);
    assert.equal(await rawDigest(D('killed/big:v1')), big.digest);
    proxy.clearRules();
  });
});

describe('a 60-image sync on three replicas', { skip }, () => {
  let pg2: TestPostgres;
  let fleet2: Fleet;
  let from: TestRegistry;
  let to: TestRegistry;
  let toProxy: FaultProxy;
  let fromProxy: FaultProxy;
  const TAGS = Array.from({ length: 60 }, (_, i) => `t${String(i).padStart(2, '0')}`);
  const digests = new Map<string, string>();
  const base = makeLayer({ base: pseudoRandomBytes(256 * 1024, 'many-base') });

  before(async () => {
    [pg2, from, to] = await Promise.all([startPostgres(), startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' })]);
    toProxy = await startFaultProxy(to.url);
    fromProxy = await startFaultProxy(from.url);
    // One at a time: the same base blob pushed twice at once races in the registry.
    for (const tag of TAGS) {
      const img = await pushImage(from, 'many/app', tag, { layers: [base, makeLayer({ [tag]: pseudoRandomBytes(20_000, `many-${tag}`) })], os: 'linux', architecture: 'amd64', format: 'oci' });
      digests.set(tag, img.digest);
    }
    fleet2 = await startFleet(await pg2.createDatabase('sync'), 3, { SKIFF_SYNC_CONCURRENCY: '4', SKIFF_LEASE_SECONDS: '4', SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '4000' });
  });

  after(async () => {
    await fleet2?.stop();
    await toProxy?.close();
    await fromProxy?.close();
    await from?.stop();
    await to?.stop();
    await pg2?.stop();
  });

  it('copies each image exactly once, spread over the replicas; its images are paged from any replica', async () => {
    const { res, op } = await submit(fleet2.replicas[0]!, 'syncs', { source: `${from.host}/many/app`, sourceType: 'docker', destination: `${toProxy.host}/mirror`, destinationType: 'docker', ...plain });
    assert.equal(res.status, 202, JSON.stringify(op));
    const done = (await waitForOperation(fleet2.replicas[1]!, op.id, 120)) as Operation<{ counts: Record<string, number>; images: unknown[]; imagesOmitted?: number }>;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(done.result!.counts, { copied: 60, skipped: 0, failed: 0, planned: 0 });
    assert.equal(done.progress['imagesDone'], 60);
    // Every manifest was pushed once: one PUT per tag, whichever replica copied it.
    const puts = toProxy.requests.filter((r) => r.method === 'PUT' && /\/manifests\//.test(r.path));
    assert.deepEqual(puts.map((r) => r.path.split('/').pop()).sort(), [...TAGS].sort());
    // The base layer every image shares was uploaded once, though all replicas copied images at once.
    const baseUploads = toProxy.requests.filter((r) => r.method === 'PUT' && r.path.includes(`digest=${encodeURIComponent(base.digest)}`) || (r.method === 'PUT' && r.path.includes(`digest=${base.digest}`)));
    assert.equal(baseUploads.length, 1, `base layer uploads: ${baseUploads.map((r) => r.path).join(', ')}`);
    const seen: { index: number; state: string; destination: string; digest?: string; replicaId?: string }[] = [];
    let token: string | undefined;
    let page = 0;
    do {
      const url = `${fleet2.replicas[page % 3]!.url}/v1/operations/${op.id}/images?pageSize=25${token ? `&pageToken=${token}` : ''}`;
      const body = (await (await fetch(url)).json()) as { images: typeof seen; nextPageToken?: string };
      seen.push(...body.images);
      token = body.nextPageToken;
      page++;
    } while (token);
    assert.equal(page, 3);
    assert.deepEqual(seen.map((i) => i.index), TAGS.map((_, i) => i));
    for (const image of seen) {
      const tag = image.destination.split(':').pop()!;
      assert.equal(image.state, 'copied');
      assert.equal(image.digest, digests.get(tag));
    }
    const helpers = new Set(seen.map((i) => i.replicaId));
    assert.ok(helpers.size >= 2, `images copied by ${[...helpers].join(', ')}`);
    const failedOnly = (await (await fetch(`${fleet2.replicas[2]!.url}/v1/operations/${op.id}/images?state=failed`)).json()) as { images: unknown[] };
    assert.deepEqual(failedOnly.images, []);
  });

  it('the replica coordinating a sync dies: another takes the sync over, continues its plan, and every image ends copied', async () => {
    // The first manifest reads of ten images stall (until the 4 s upstream timeout retries them): the sync is mid-way when killed.
    for (const tag of TAGS.slice(0, 10)) fromProxy.addRule({ method: 'GET', path: new RegExp(`/manifests/${tag}$`), times: 1, action: { kind: 'stall' } });
    const { op } = await submit(fleet2.replicas[0]!, 'syncs', { source: `${fromProxy.host}/many/app`, sourceType: 'docker', destination: `${to.host}/takeover`, destinationType: 'docker', ...plain });
    const running = await whenRunning(fleet2.replicas[0]!, op.id);
    for (let i = 0; i < 400 && fromProxy.requests.filter((r) => r.status === 'stalled' && /\/manifests\/t0/.test(r.path)).length === 0; i++) await sleep(25);
    const coordinator = fleet2.byId(running.replicaId!)!;
    await coordinator.kill();
    const survivor = fleet2.replicas.find((r) => r !== coordinator)!;
    const done = (await waitForOperation(survivor, op.id, 120)) as Operation<{ counts: Record<string, number> }> & { attempts?: number; replicaId?: string };
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.attempts, 2);
    assert.notEqual(done.replicaId, running.replicaId);
    assert.deepEqual(done.result!.counts, { copied: 60, skipped: 0, failed: 0, planned: 0 });
    for (const tag of ['t00', 't09', 't59']) assert.equal(await rawDigest(`docker://${to.host}/takeover/app:${tag}`), digests.get(tag));
  });
});

describe('inline credentials across the fleet, sealed with SKIFF_SECRET_KEY', { skip }, () => {
  let pg3: TestPostgres;
  let pair: Fleet;
  let source: TestRegistry;
  let basic: TestRegistry;
  let slow: FaultProxy;
  let image: PushedImage;
  let databaseUrl: string;

  before(async () => {
    [pg3, source, basic] = await Promise.all([startPostgres(), startRegistry({ mode: 'plain' }), startRegistry({ mode: 'basic' })]);
    slow = await startFaultProxy(source.url);
    image = await pushImage(source, 'sec/app', 'v1', {
      layers: Array.from({ length: 2 }, (_, i) => makeLayer({ [`s${i}`]: pseudoRandomBytes(1024 * 1024, `fleet-sec-${i}`) })),
      os: 'linux',
      architecture: 'amd64',
      format: 'oci',
    });
    const conf = join(makeTmpDirSync('skiff-fleet-conf-'), 'registries.yaml');
    writeFileSync(conf, `registries:\n  - location: "${basic.host}"\n    ca: ${basic.caFile}\n`);
    databaseUrl = await pg3.createDatabase('secrets');
    pair = await startFleet(databaseUrl, 2, { SKIFF_LEASE_SECONDS: '4', SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '4000', SKIFF_SECRET_KEY: 'c0ffee'.repeat(10) + 'c0ff', SKIFF_REGISTRIES_CONFIG: conf });
  });

  after(async () => {
    await pair?.stop();
    await slow?.close();
    await source?.stop();
    await basic?.stop();
    await pg3?.stop();
  });

  it("a copy with inline credentials survives its replica's death; the secret is in no log and gone from the database once done", async () => {
    for (let i = 0; i < image.layers.length; i++) slow.addRule({ method: 'GET', path: layerPath(image, i), times: 1, action: { kind: 'stall' } });
    const { res, op } = await submit(pair.replicas[0]!, 'copies', {
      source: `docker://${slow.host}/sec/app:v1`,
      destination: `docker://${basic.host}/sec/app:v1`,
      sourceTlsVerify: false,
      destinationAuth: { username: basic.username, password: basic.password },
    });
    assert.equal(res.status, 202, JSON.stringify(op));
    const running = await whenRunning(pair.replicas[0]!, op.id);
    for (let i = 0; i < 400 && slow.requests.filter((r) => r.status === 'stalled').length < image.layers.length; i++) await sleep(25);
    const [row] = (await pg3.sql(`SELECT secrets FROM operations WHERE id = '${op.id}'`, databaseUrl)) as { secrets: string | null }[];
    assert.match(row?.secrets ?? '', /^v1\./, 'sealed while the copy lives');
    assert.ok(!row!.secrets!.includes(basic.password!));
    const victim = pair.byId(running.replicaId!)!;
    await victim.kill();
    const survivor = pair.replicas.find((r) => r !== victim)!;
    const done = (await waitForOperation(survivor, op.id, 90)) as Op;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.notEqual(done.replicaId, running.replicaId);
    const r = await skopeo(['inspect', '--raw', '--cert-dir', basic.certDir!, '--creds', `${basic.username}:${basic.password}`, `docker://${basic.host}/sec/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal('sha256:' + createHash('sha256').update(r.stdoutBytes).digest('hex'), image.digest);
    for (const replica of pair.replicas) assert.ok(!replica.log().includes(basic.password!), 'the password is in no log');
    const [after] = (await pg3.sql(`SELECT secrets FROM operations WHERE id = '${op.id}'`, databaseUrl)) as { secrets: string | null }[];
    assert.equal(after?.secrets, null, 'erased once the copy ended');
  });
});
