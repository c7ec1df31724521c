/**
 * The OperationStore contract, run against both adapters: embedded SQLite and a real
 * PostgreSQL server (test/support/postgres.ts). Plus what only one engine has: SQLite's checks
 * of a damaged or missing database, its migration from schema 1, backups and a full disk.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseSync } from 'node:sqlite';
import { emptyProgress } from '../src/copy-engine/transfer-progress';
import { StartupRefusedError } from '../src/database/database-errors';
import { POSTGRES_MIGRATIONS } from '../src/database/migrations';
import { PostgresDatabase } from '../src/database/postgres-database';
import { SqliteDatabase } from '../src/database/sqlite-database';
import { DomainError } from '../src/errors/domain-error';
import { type Operation } from '../src/operations/operation';
import { newOperationId } from '../src/operations/operation-id';
import type { OperationStore, StoreSignal } from '../src/operations/operation-store';
import { PostgresOperationStore } from '../src/operations/postgres-operation-store';
import { SqliteOperationStore } from '../src/operations/sqlite-operation-store';
import { postgresSkip, startPostgres, type TestPostgres } from './support/postgres';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skiff-store-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function draft(owner = 'alice', labels: Record<string, string> = {}, createdAt = new Date().toISOString()): Operation {
  return {
    id: newOperationId(),
    kind: 'copy',
    state: 'queued',
    owner,
    labels,
    createdAt,
    request: { source: 'docker://a/b:c', destination: 'oci:x:y', sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none' },
    progress: emptyProgress('queued'),
    attempts: 0,
  };
}

async function insert(store: OperationStore, op = draft(), extra: { key?: string; lease?: { owner: string; expiresAt: number } } = {}) {
  const out = await store.insert({ operation: op, idempotencyKey: extra.key, requestHash: 'h', hadSecrets: false, lease: extra.lease });
  assert.ok(out.created);
  return out.operation;
}

const LEASE = { leaseMs: 60_000, deadlineMs: 3_600_000 };

/** Empties every table (each test starts from nothing). */
async function clear(store: OperationStore): Promise<void> {
  for (const op of await store.list({ limit: 100_000 })) await store.delete(op.id);
}

function contract(name: string, open: () => Promise<OperationStore>, openSecond?: () => Promise<OperationStore>): void {
  describe(`OperationStore contract: ${name}`, () => {
    let store: OperationStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    it('inserts a queued operation with its first state event; idempotency keys are per owner', async () => {
      await clear(store);
      const op = draft('alice', { team: 'a' });
      const first = await store.insert({ operation: op, idempotencyKey: 'k1', requestHash: 'h1', hadSecrets: true, sealedSecrets: 'sealed' });
      assert.ok(first.created);
      assert.equal(first.event.seq, 1);
      assert.equal(first.event.type, 'state');
      const got = await store.get(op.id);
      assert.equal(got?.owner, 'alice');
      assert.deepEqual(got?.labels, { team: 'a' });
      assert.equal(got?.hadSecrets, true);
      assert.equal(got?.sealedSecrets, 'sealed');
      assert.equal(got?.lastSeq, 1);
      assert.deepEqual(got?.request, op.request);
      const again = await store.insert({ operation: draft('alice'), idempotencyKey: 'k1', requestHash: 'h2', hadSecrets: false });
      assert.equal(again.created, false);
      assert.equal(again.operation.id, op.id);
      assert.equal(again.operation.requestHash, 'h1');
      const other = await store.insert({ operation: draft('bob'), idempotencyKey: 'k1', requestHash: 'h1', hadSecrets: false });
      assert.equal(other.created, true, 'another owner may use the same key');
      assert.equal((await store.findByIdempotencyKey('bob', 'k1'))?.id, other.operation.id);
      assert.deepEqual(await store.eventsAfter(op.id, 0), [first.event]);
    });

    it('transitions only from the given states, appends events without gaps, result before the final state', async () => {
      await clear(store);
      const op = await insert(store);
      assert.equal(await store.transition(op.id, { state: 'succeeded' }, { states: ['running'] }), undefined);
      const claim = await store.claim({ owner: 'r1', ...LEASE });
      assert.equal(claim?.operation.id, op.id);
      const result = { digest: 'sha256:x', mediaType: 'm', manifests: [] };
      const done = await store.transition(op.id, { state: 'succeeded', finishedAt: new Date().toISOString(), result, lease: null, sealedSecrets: null }, { states: ['running'], leaseVersion: claim!.leaseVersion });
      assert.ok(done);
      assert.deepEqual(done.events.map((e) => [e.seq, e.type]), [
        [3, 'result'],
        [4, 'state'],
      ]);
      const log = await store.eventsAfter(op.id, 0);
      assert.deepEqual(log.map((e) => e.seq), [1, 2, 3, 4]);
      assert.deepEqual(log[2]!.data, result);
      assert.equal(log[3]!.type === 'state' && log[3]!.data.state, 'succeeded');
      assert.deepEqual((await store.eventsAfter(op.id, 1, 2)).map((e) => e.seq), [2, 3]);
      const stored = await store.get(op.id);
      assert.equal(stored?.leaseOwner, undefined);
      assert.deepEqual(stored?.result, result);
    });

    it('claims oldest first, leases, fences a run whose lease was taken over, counts attempts', async () => {
      await clear(store);
      const a = await insert(store);
      const b = await insert(store);
      const c1 = await store.claim({ owner: 'r1', ...LEASE });
      assert.equal(c1?.operation.id, a.id);
      assert.equal(c1?.operation.state, 'running');
      assert.equal(c1?.operation.attempts, 1);
      assert.equal(c1?.operation.replicaId, 'r1');
      assert.ok(c1?.operation.deadlineAt);
      assert.equal(c1?.takeover, false);
      const c2 = await store.claim({ owner: 'r2', ...LEASE });
      assert.equal(c2?.operation.id, b.id);
      assert.equal(await store.claim({ owner: 'r3', ...LEASE }), undefined, 'nothing left while leases live');
      // r1 dies: its lease lapses; r3 takes over.
      assert.equal(await store.expireLeases('r1'), 1);
      const t = await store.claim({ owner: 'r3', ...LEASE });
      assert.equal(t?.operation.id, a.id);
      assert.equal(t?.takeover, true);
      assert.equal(t?.previousOwner, 'r1');
      assert.equal(t?.operation.attempts, 2);
      assert.equal(t?.operation.lastError?.code, 'ABORTED');
      assert.match(t!.operation.lastError!.message, /r1/);
      assert.equal(t?.operation.deadlineAt, c1?.operation.deadlineAt, 'the deadline stays that of the first claim');
      // The old run's writes are refused.
      assert.equal(await store.recordProgress(a.id, c1!.leaseVersion, { ...emptyProgress('copying'), bytesDone: 9 }), undefined);
      assert.equal(await store.transition(a.id, { state: 'failed' }, { states: ['running'], leaseVersion: c1!.leaseVersion }), undefined);
      const p = await store.recordProgress(a.id, t!.leaseVersion, { ...emptyProgress('copying'), bytesDone: 5 });
      assert.equal(p?.type, 'progress');
      assert.equal((await store.get(a.id))?.progress.bytesDone, 5);
      // Renewal reports what each holder still holds.
      assert.deepEqual((await store.renew('r1', 60_000)).map((s) => s.id), []);
      assert.deepEqual((await store.renew('r3', 60_000)).map((s) => [s.id, s.leaseVersion, s.state]), [[a.id, t!.leaseVersion, 'running']]);
      // A cancel from anywhere shows in the holder's renewal.
      await store.transition(a.id, { state: 'cancelling', cancellation: { by: 'alice', at: new Date().toISOString(), reason: 'no' } }, { states: ['running'] });
      assert.equal((await store.renew('r3', 60_000))[0]?.state, 'cancelling');
      assert.deepEqual((await store.get(a.id))?.cancellation?.reason, 'no');
      // A graceful hand-back does not count as an attempt.
      await store.transition(b.id, { state: 'queued', startedAt: null, lease: null, attemptsDelta: -1 }, { states: ['running'], leaseVersion: c2!.leaseVersion });
      const again = await store.claim({ owner: 'r3', ...LEASE });
      assert.equal(again?.operation.id, b.id);
      assert.equal(again?.operation.attempts, 1);
      assert.equal(again?.takeover, false);
    });

    it('a queued operation pinned by a live lease waits for its holder; anyone takes it once the lease lapses', async () => {
      await clear(store);
      const pinned = await insert(store, draft(), { lease: { owner: 'r1', expiresAt: Date.now() + 60_000 } });
      assert.equal(await store.claim({ owner: 'r2', ...LEASE }), undefined);
      assert.equal((await store.renew('r1', 60_000)).length, 1, 'the holder renews it while queued');
      await store.expireLeases(undefined);
      const c = await store.claim({ owner: 'r2', ...LEASE });
      assert.equal(c?.operation.id, pinned.id);
      assert.equal(c?.takeover, false);
    });

    it('never hands one operation to two claimers at once', async () => {
      await clear(store);
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add((await insert(store)).id);
      const others = openSecond ? [await openSecond(), await openSecond()] : [];
      try {
        const stores = [store, ...others];
        const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => stores[i % stores.length]!.claim({ owner: `r${i}`, ...LEASE })));
        const got = claims.filter((c) => c !== undefined).map((c) => c.operation.id);
        assert.equal(new Set(got).size, got.length, 'no duplicates');
        // Claims that found nothing free may lose races; whatever is left is still claimable.
        let left = 0;
        while (await store.claim({ owner: 'rest', ...LEASE })) left++;
        assert.equal(got.length + left, 20);
      } finally {
        for (const o of others) await o.close();
      }
    });

    it('lists newest first with owner, state, kind, label and time filters and an id cursor', async () => {
      await clear(store);
      const t0 = Date.now();
      const made: Operation[] = [];
      for (let i = 0; i < 6; i++) {
        const op = draft(i % 2 === 0 ? 'alice' : 'bob', i < 3 ? { team: 'a', n: String(i) } : { team: 'b' }, new Date(t0 + i * 10).toISOString());
        made.push(await insert(store, op));
        await sleep(2);
      }
      const ids = made.map((o) => o.id);
      assert.deepEqual((await store.list({ limit: 10 })).map((o) => o.id), [...ids].reverse());
      assert.deepEqual((await store.list({ owner: 'alice', limit: 10 })).map((o) => o.id), [ids[4], ids[2], ids[0]]);
      assert.deepEqual((await store.list({ labels: [['team', 'a']], limit: 10 })).map((o) => o.id), [ids[2], ids[1], ids[0]]);
      assert.deepEqual((await store.list({ labels: [['team', 'a'], ['n', '1']], limit: 10 })).map((o) => o.id), [ids[1]]);
      assert.deepEqual((await store.list({ kind: 'sync', limit: 10 })).map((o) => o.id), []);
      assert.deepEqual((await store.list({ state: 'queued', beforeId: ids[3], limit: 2 })).map((o) => o.id), [ids[2], ids[1]]);
      const after = made[2]!.createdAt;
      const before = made[5]!.createdAt;
      assert.deepEqual((await store.list({ createdAfter: after, createdBefore: before, limit: 10 })).map((o) => o.id), [ids[4], ids[3]]);
      assert.equal(await store.countByState('queued'), 6);
      await store.claim({ owner: 'rx', ...LEASE });
      assert.deepEqual([...(await store.runningByReplica())], [['rx', 1]]);
    });

    it('deletes an operation with its events and labels, and prunes finished ones', async () => {
      await clear(store);
      const a = await insert(store, draft('alice', { x: '1' }));
      const b = await insert(store);
      const old = new Date(Date.now() - 3_600_000).toISOString();
      await store.transition(a.id, { state: 'cancelled', finishedAt: old }, { states: ['queued'] });
      await store.transition(b.id, { state: 'cancelled', finishedAt: new Date().toISOString() }, { states: ['queued'] });
      assert.deepEqual(await store.pruneFinishedBefore(new Date(Date.now() - 60_000).toISOString()), [a.id]);
      assert.equal(await store.get(a.id), undefined);
      assert.deepEqual(await store.eventsAfter(a.id, 0), []);
      assert.deepEqual(await store.list({ labels: [['x', '1']], limit: 5 }), []);
      assert.equal(await store.delete(b.id), true);
      assert.equal(await store.delete(b.id), false);
    });

    it("a sync's images: added as rows, claimed one at a time by any claimer, fenced, counted, paged, dropped", async () => {
      await clear(store);
      const sync = { ...draft(), kind: 'sync' } as Operation;
      await insert(store, sync);
      const rows = Array.from({ length: 5 }, (_, index) => ({ index, source: `docker://s/r:${index}`, destination: `docker://d/r:${index}`, accessKey: 'default', state: 'pending' as const }));
      await store.addSyncImages(sync.id, [...rows, { index: 5, source: 's', destination: 'd', accessKey: 'default', state: 'failed', error: { code: 'IMAGE_NOT_FOUND', message: 'gone' } }]);
      assert.equal(await store.claimSyncImage('r1', 60_000), undefined, 'images of a sync that is not running wait');
      const c = await store.claim({ owner: 'r0', ...LEASE });
      assert.equal(c?.operation.id, sync.id);
      const a = await store.claimSyncImage('r1', 60_000);
      const b = await store.claimSyncImage('r2', 60_000);
      assert.deepEqual([a?.image.index, b?.image.index], [0, 1]);
      assert.equal(a?.image.state, 'running');
      assert.equal(await store.finishSyncImage(sync.id, 0, a!.leaseVersion, { state: 'copied', destination: 'docker://d/r:0', digest: 'sha256:x', bytes: 10, counters: { bytesTotal: 10, bytesSkipped: 0, blobsTotal: 2, blobsDone: 2, blobsSkipped: 0, blobsMounted: 1 } }), true);
      assert.equal(await store.finishSyncImage(sync.id, 0, a!.leaseVersion, { state: 'failed', destination: 'x' }), false, 'an image ends once');
      // r2 dies: once its lease lapses another claimer takes the image, and r2's late write is refused.
      assert.deepEqual((await store.renewSyncImages('r2', 60_000, [{ operationId: sync.id, index: 1, leaseVersion: b!.leaseVersion }])).map((l) => [l.index, l.syncState]), [[1, 'running']]);
      await store.expireLeases('r2');
      const again = await store.claimSyncImage('r3', 60_000);
      assert.equal(again?.image.index, 1);
      assert.equal(await store.finishSyncImage(sync.id, 1, b!.leaseVersion, { state: 'copied', destination: 'd' }), false);
      assert.equal(await store.finishSyncImage(sync.id, 1, again!.leaseVersion, { state: 'skipped', destination: 'docker://d/r:1', bytes: 0 }), true);
      // Pinned images go to their replica only.
      const pinnedSync = { ...draft(), kind: 'sync' } as Operation;
      await insert(store, pinnedSync);
      await store.claim({ owner: 'r0', ...LEASE });
      await store.addSyncImages(pinnedSync.id, [{ index: 0, source: 'dir:a', destination: 'dir:b', accessKey: 'dir', state: 'pending' }], 'r0');
      const counts = await store.countSyncImages(sync.id);
      assert.deepEqual([counts.pending, counts.running, counts.copied, counts.skipped, counts.failed, counts.bytes, counts.blobsDone, counts.blobsMounted], [3, 0, 1, 1, 1, 10, 2, 1]);
      assert.deepEqual((await store.listSyncImages(sync.id, { limit: 2 })).map((r) => r.index), [0, 1]);
      assert.deepEqual((await store.listSyncImages(sync.id, { afterIndex: 1, limit: 10 })).map((r) => r.index), [2, 3, 4, 5]);
      const failed = await store.listSyncImages(sync.id, { state: 'failed', limit: 10 });
      assert.deepEqual(failed.map((r) => [r.index, r.error?.code]), [[5, 'IMAGE_NOT_FOUND']]);
      assert.equal(await store.dropPendingSyncImages(sync.id), 3);
      for (let i = 0; i < 3; i++) {
        const other = await store.claimSyncImage('r9', 60_000);
        assert.notEqual(other?.image.operationId, pinnedSync.id, 'pinned to r0');
      }
      const mine = await store.claimSyncImage('r0', 60_000);
      assert.equal(mine?.image.operationId, pinnedSync.id);
      await store.repinSyncImages(pinnedSync.id, 'r7');
      assert.equal(await store.delete(sync.id), true);
      assert.deepEqual(await store.listSyncImages(sync.id, { limit: 10 }), []);
    });

    it("a sync's images claimed in batches: up to the limit, in order, never the same image twice, pinned ones only to their replica", async () => {
      await clear(store);
      const sync = { ...draft(), kind: 'sync' } as Operation;
      await insert(store, sync);
      await store.claim({ owner: 'r0', ...LEASE });
      const rows = Array.from({ length: 7 }, (_, index) => ({ index, source: `docker://s/r:${index}`, destination: `docker://d/r:${index}`, accessKey: 'default', state: 'pending' as const }));
      await store.addSyncImages(sync.id, rows);
      const first = await store.claimSyncImages('r1', 60_000, 3);
      assert.deepEqual(first.map((c) => c.image.index), [0, 1, 2]);
      assert.ok(first.every((c) => c.image.state === 'running' && c.leaseVersion > 0));
      const [second, third] = await Promise.all([store.claimSyncImages('r2', 60_000, 3), store.claimSyncImages('r3', 60_000, 3)]);
      const taken = [...first, ...second, ...third].map((c) => c.image.index).sort((a, b) => a - b);
      assert.deepEqual(taken, [0, 1, 2, 3, 4, 5, 6], 'each image claimed once');
      assert.deepEqual(await store.claimSyncImages('r4', 60_000, 5), [], 'nothing left');
      // A claim's lease fences as a single claim's does.
      const c = first[1]!;
      assert.equal(await store.finishSyncImage(sync.id, c.image.index, c.leaseVersion, { state: 'skipped', destination: c.image.destination, bytes: 0 }), true);
      // Pinned images go to their replica only, batch or not.
      const pinned = { ...draft(), kind: 'sync' } as Operation;
      await insert(store, pinned);
      await store.claim({ owner: 'r0', ...LEASE });
      await store.addSyncImages(pinned.id, [0, 1].map((index) => ({ index, source: `dir:a${index}`, destination: `dir:b${index}`, accessKey: 'dir', state: 'pending' as const })), 'r0');
      assert.deepEqual(await store.claimSyncImages('r9', 60_000, 10), []);
      assert.deepEqual((await store.claimSyncImages('r0', 60_000, 10)).map((x) => [x.image.operationId, x.image.index]), [[pinned.id, 0], [pinned.id, 1]]);
    });

    it("renewing image leases extends only the ones a live run works on: the owner's others lapse and another claimer takes them", async () => {
      await clear(store);
      const sync = { ...draft(), kind: 'sync' } as Operation;
      await insert(store, sync);
      await store.claim({ owner: 'coord', ...LEASE });
      await store.addSyncImages(sync.id, [0, 1].map((index) => ({ index, source: `s${index}`, destination: `d${index}`, accessKey: 'default', state: 'pending' as const })));
      const live = await store.claimSyncImage('r1', 1000);
      const stale = await store.claimSyncImage('r1', 1000);
      assert.deepEqual([live?.image.index, stale?.image.index], [0, 1]);
      const liveLease = { operationId: sync.id, index: 0, leaseVersion: live!.leaseVersion };
      const staleVersionOfLive = { ...liveLease, leaseVersion: live!.leaseVersion - 1 };
      for (let i = 0; i < 4; i++) {
        const held = await store.renewSyncImages('r1', 1000, [liveLease, staleVersionOfLive]);
        assert.deepEqual(held.map((l) => [l.index, l.leaseVersion, l.syncState]), [[0, live!.leaseVersion, 'running']], 'only the live lease, at its version');
        await sleep(400);
      }
      const taken = await store.claimSyncImage('r2', 60_000);
      assert.equal(taken?.image.index, 1, 'the image no live run works on lapsed');
      assert.equal(await store.claimSyncImage('r2', 60_000), undefined, 'the renewed one did not');
      assert.deepEqual(await store.renewSyncImages('r1', 300, []), []);
      assert.deepEqual(await store.renewSyncImages('r1', 300, [{ operationId: sync.id, index: 1, leaseVersion: stale!.leaseVersion }]), [], 'a lease taken over is not renewed');
    });

    it('blob transfer leases: one holder per key, taken over once lapsed, released', async () => {
      const key = `docker://reg/repo|sha256:${Date.now()}`;
      assert.equal(await store.acquireTransfer(key, 'r1', 60_000), true);
      assert.equal(await store.acquireTransfer(key, 'r2', 60_000), false);
      await store.renewTransfer(key, 'r1', 60_000);
      await store.releaseTransfer(key, 'r2');
      assert.equal(await store.acquireTransfer(key, 'r2', 60_000), false, 'only the holder releases');
      await store.releaseTransfer(key, 'r1');
      assert.equal(await store.acquireTransfer(key, 'r2', 1), true);
      await sleep(20);
      assert.equal(await store.acquireTransfer(key, 'r3', 60_000), true, 'a lapsed holder is replaced');
      await store.expireLeases('r3');
      assert.equal(await store.acquireTransfer(key, 'r3', 60_000), true, 'a replica restarted under its id takes back what its dead run held');
      assert.equal(await store.acquireTransfer(key, 'r4', 60_000), false);
      await store.releaseTransfer(key, 'r3');
    });

    it('answers health', async () => {
      assert.equal(await store.health(), undefined);
    });

    if (openSecond) {
      it('signals reach the other processes: events at commit, cancels, new work', async () => {
        await clear(store);
        const other = await openSecond();
        const seen: StoreSignal[] = [];
        const stop = await other.subscribe((s) => seen.push(s));
        try {
          const op = await insert(store);
          await store.signal({ type: 'cancel', id: op.id });
          await store.signal({ type: 'queued' });
          for (let i = 0; i < 100 && seen.length < 3; i++) await sleep(20);
          assert.deepEqual(seen, [{ type: 'event', id: op.id, seq: 1 }, { type: 'cancel', id: op.id }, { type: 'queued' }]);
        } finally {
          await stop();
          await other.close();
        }
      });
    }
  });
}

contract('SQLite', async () => new SqliteOperationStore(SqliteDatabase.open(join(tempDir(), 'skiff.db'))));

const skipPg = postgresSkip();
describe('PostgreSQL', { skip: skipPg }, () => {
  let pg: TestPostgres;
  let url: string;
  before(async () => {
    pg = await startPostgres();
    url = await pg.createDatabase('contract');
  });
  after(async () => {
    await pg?.stop();
  });
  const open = async () => new PostgresOperationStore(await PostgresDatabase.open({ url, poolSize: 5 }));
  contract('PostgreSQL', open, open);

  it('migrates once even when several replicas start together', async () => {
    const fresh = await pg.createDatabase('migrate');
    const dbs = await Promise.all(Array.from({ length: 4 }, () => PostgresDatabase.open({ url: fresh, poolSize: 2 })));
    try {
      const latest = POSTGRES_MIGRATIONS.length;
      assert.deepEqual(await Promise.all(dbs.map((d) => d.schemaVersion())), [latest, latest, latest, latest]);
      const rows = await dbs[0]!.query<{ n: string }>('SELECT count(*) AS n FROM skiff_schema_migrations');
      assert.equal(Number(rows[0]!.n), latest);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
    }
  });

  it('an unreachable server is STORE_UNAVAILABLE, and the store works again once it is back', async () => {
    const store = await open();
    try {
      await pg.pause();
      const err = await store.list({ limit: 1 }).catch((e: unknown) => e);
      assert.ok(err instanceof DomainError && err.code === 'STORE_UNAVAILABLE', String(err));
      assert.match((await store.health()) ?? '', /./);
      await pg.resume();
      let health: string | undefined = 'down';
      for (let i = 0; i < 50 && health !== undefined; i++) {
        health = await store.health();
        if (health !== undefined) await sleep(200);
      }
      assert.equal(health, undefined);
      await store.list({ limit: 1 });
    } finally {
      await store.close();
    }
  });

  it('a server stopping under load (queries and transactions waiting for a connection) fails calls, never the process', async () => {
    // Regression: a client pool.query released was handed to a waiting transaction, and the
    // server's FATAL in the same packet was an 'error' event without a listener (a crash).
    const db = await PostgresDatabase.open({ url, poolSize: 4 });
    let stop = false;
    let failures = 0;
    const workers = Array.from({ length: 32 }, async (_, i) => {
      while (!stop) {
        try {
          if (i % 2) await db.query('SELECT pg_sleep(0.001)');
          else await db.transaction(async (tx) => void (await tx.query('SELECT pg_sleep(0.001)')));
        } catch {
          failures++;
          await sleep(50);
        }
      }
    });
    try {
      for (let round = 0; round < 4; round++) {
        await sleep(200);
        await pg.pause();
        await pg.resume();
      }
      stop = true;
      await Promise.all(workers);
      assert.ok(failures > 0, 'the stops were met');
      assert.deepEqual(await db.query('SELECT 1 AS one'), [{ one: 1 }]);
    } finally {
      stop = true;
      await db.close();
    }
  });
});

describe('SQLite: the database is checked, not trusted', () => {
  it('records its identity; an emptied or missing database then refuses to start, naming the file and the way out', () => {
    const dir = tempDir();
    const path = join(dir, 'skiff.db');
    SqliteDatabase.open(path).close();
    assert.ok(statSync(`${path}.identity`).isFile());
    writeFileSync(path, '');
    rmSync(`${path}-wal`, { force: true });
    assert.throws(() => SqliteDatabase.open(path), (e: unknown) => e instanceof StartupRefusedError && e.message.includes(path) && /SKIFF_START_FRESH/.test(e.message) && /empty/.test(e.message));
    rmSync(path);
    assert.throws(() => SqliteDatabase.open(path), (e: unknown) => e instanceof StartupRefusedError && /missing/.test(e.message));
  });

  it('refuses a file that is not a database; start fresh sets it aside', () => {
    const dir = tempDir();
    const path = join(dir, 'skiff.db');
    SqliteDatabase.open(path).close();
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    assert.throws(() => SqliteDatabase.open(path), (e: unknown) => e instanceof StartupRefusedError && /cannot be read/.test(e.message));
    const notices: string[] = [];
    const db = SqliteDatabase.open(path, { startFresh: true, notice: (m) => notices.push(m) });
    db.close();
    assert.match(notices.join(), /set-aside/);
    assert.ok(readdirSync(dir).some((n) => n.startsWith('skiff.db.set-aside-')));
    SqliteDatabase.open(path).close();
  });

  it('garbled pages are found by the check at start and reported, not trusted', async () => {
    const dir = tempDir();
    const path = join(dir, 'skiff.db');
    const store = new SqliteOperationStore(SqliteDatabase.open(path));
    for (let i = 0; i < 300; i++) await insert(store, draft('alice', { n: String(i) }));
    await store.close();
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    for (let page = 3; page * 4096 < size; page += 2) writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, page * 4096 + 100);
    closeSync(fd);
    const damaged = new SqliteOperationStore(SqliteDatabase.open(path));
    try {
      assert.match((await damaged.health()) ?? '', /damaged/);
    } finally {
      await damaged.close();
    }
  });

  it('a corruption met by a statement while running is noted: readiness reports the database damaged', async () => {
    const dir = tempDir();
    const path = join(dir, 'skiff.db');
    const store = new SqliteOperationStore(SqliteDatabase.open(path));
    try {
      const op = draft();
      await insert(store, op);
      assert.equal(await store.health(), undefined);
      // Another connection points the operations table at a page that does not exist.
      const other = new DatabaseSync(path, { defensive: false });
      other.exec(`PRAGMA writable_schema = ON; UPDATE sqlite_schema SET rootpage = 99999 WHERE name = 'operations'`);
      const version = (other.prepare('PRAGMA schema_version').get() as { schema_version: number }).schema_version;
      other.exec(`PRAGMA schema_version = ${version + 1}`);
      other.close();
      await assert.rejects(store.get(op.id), (e: unknown) => !(e instanceof DomainError && e.code === 'STORE_UNAVAILABLE'));
      assert.match((await store.health()) ?? '', /damaged/);
    } finally {
      await store.close();
    }
  });

  it('migrates a schema-1 database, reading its old problem objects as errors', async () => {
    const dir = tempDir();
    const path = join(dir, 'skiff.db');
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE operations (id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
      request TEXT NOT NULL, progress TEXT NOT NULL, result TEXT, error TEXT, idempotency_key TEXT UNIQUE, request_hash TEXT NOT NULL, had_secrets INTEGER NOT NULL DEFAULT 0) STRICT;
      CREATE TABLE operation_events (operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (operation_id, seq)) STRICT, WITHOUT ROWID;
      PRAGMA user_version = 1;`);
    const id = newOperationId();
    const problem = { type: 'urn:skiff:problem:image-not-found', title: 'Image not found', status: 404, detail: 'gone', instance: '/x', code: 'IMAGE_NOT_FOUND', registry: 'r' };
    old.prepare(`INSERT INTO operations VALUES (?, 'copy', 'failed', '2026-01-01T00:00:00.000Z', NULL, '2026-01-01T00:00:01.000Z', '{"source":"s"}', ?, NULL, ?, 'key', 'h', 0)`).run(id, JSON.stringify(emptyProgress('failed')), JSON.stringify(problem));
    old.prepare(`INSERT INTO operation_events VALUES (?, 1, 'state', '{}', '2026-01-01T00:00:00.000Z'), (?, 2, 'state', '{}', '2026-01-01T00:00:01.000Z')`).run(id, id);
    old.close();
    const db = SqliteDatabase.open(path);
    assert.equal(db.schemaVersion, 3);
    const store = new SqliteOperationStore(db);
    try {
      const op = await store.get(id);
      assert.equal(op?.owner, 'local');
      assert.deepEqual(op?.error, { code: 'IMAGE_NOT_FOUND', message: 'gone', registry: 'r' });
      assert.equal(op?.lastSeq, 2);
      assert.equal((await store.findByIdempotencyKey('local', 'key'))?.id, id);
      assert.equal((await store.eventsAfter(id, 0)).length, 2);
    } finally {
      await store.close();
    }
  });

  it('backs up online, keeping the newest; the backup opens as the same store', async () => {
    const dir = tempDir();
    const db = SqliteDatabase.open(join(dir, 'skiff.db'));
    const store = new SqliteOperationStore(db);
    const op = await insert(store);
    const first = await db.backup(join(dir, 'backups'), 1);
    await sleep(1100);
    const second = await db.backup(join(dir, 'backups'), 1);
    assert.notEqual(first, second);
    assert.deepEqual(readdirSync(join(dir, 'backups')), [second.slice(second.lastIndexOf('/') + 1)]);
    await store.close();
    const restoredDir = tempDir();
    const restoredPath = join(restoredDir, 'skiff.db');
    writeFileSync(restoredPath, readFileSync(second));
    const restored = new SqliteOperationStore(SqliteDatabase.open(restoredPath));
    try {
      assert.equal((await restored.get(op.id))?.id, op.id);
    } finally {
      await restored.close();
    }
  });

  it('a backup of a big database runs on its own thread: the event loop and the store keep answering and writing, and the copy restores', async () => {
    const dir = tempDir();
    const db = SqliteDatabase.open(join(dir, 'skiff.db'));
    const store = new SqliteOperationStore(db);
    try {
      const op = await insert(store);
      db.db.exec('CREATE TABLE ballast (id INTEGER PRIMARY KEY, v BLOB)');
      const fill = db.db.prepare('INSERT INTO ballast (v) VALUES (?)');
      db.db.exec('BEGIN');
      for (let i = 0; i < 10_000; i++) fill.run(Buffer.alloc(4000, i % 251));
      db.db.exec('COMMIT');
      let backingUp = true;
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 1);
      const running = db.backup(join(dir, 'backups'), 2).finally(() => {
        backingUp = false;
        clearInterval(ticker);
      });
      await assert.rejects(db.backup(join(dir, 'backups'), 2), /already running/);
      // Answered, and written to, while the backup still runs (a VACUUM INTO on the service's
      // connection would hold the loop until it ended; an online backup on it failed whenever a
      // step met one of its write transactions).
      assert.equal((await store.get(op.id))?.id, op.id);
      let writes = 0;
      while (backingUp && writes < 500) {
        await insert(store);
        writes++;
      }
      assert.ok(writes > 0, 'the store took writes during the backup');
      const path = await running;
      assert.ok(ticks > 0, 'timers ran during the backup');
      assert.deepEqual(readdirSync(join(dir, 'backups')), [path.slice(path.lastIndexOf('/') + 1)]);
      const restoredPath = join(tempDir(), 'skiff.db');
      writeFileSync(restoredPath, readFileSync(path));
      const restored = new SqliteOperationStore(SqliteDatabase.open(restoredPath));
      try {
        assert.equal((await restored.get(op.id))?.id, op.id);
        assert.equal(await restored.health(), undefined);
      } finally {
        await restored.close();
      }
    } finally {
      await store.close();
    }
  });

  it('COMMIT itself does not fsync: durable commits wait for a shared fdatasync of the WAL, bookkeeping ones for none', async () => {
    const dir = tempDir();
    const db = SqliteDatabase.open(join(dir, 'skiff.db'));
    const store = new SqliteOperationStore(db);
    const synchronous = () => Number((db.db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous);
    try {
      assert.equal(synchronous(), 1, 'NORMAL: COMMIT itself never waits for the disk');
      let flushes = store.walFlushes;
      await insert(store);
      assert.equal(store.walFlushes, flushes + 1, 'a submission is durable before it is answered');
      flushes = store.walFlushes;
      const claim = await store.claim({ owner: 'r1', ...LEASE });
      assert.ok(claim);
      const event = await store.recordProgress(claim.operation.id, claim.leaseVersion, { ...emptyProgress('copying'), bytesDone: 7 });
      assert.equal(event?.type, 'progress');
      await store.renew('r1', 60_000);
      assert.equal(store.walFlushes, flushes, 'claims, progress and renewals wait for no flush');
      assert.equal((await store.get(claim.operation.id))?.progress.bytesDone, 7);
      await store.transition(claim.operation.id, { state: 'succeeded', finishedAt: new Date().toISOString() }, { states: ['running'], leaseVersion: claim.leaseVersion });
      assert.equal(store.walFlushes, flushes + 1, 'an end is durable before anyone hears of it');
      flushes = store.walFlushes;
      await Promise.all(Array.from({ length: 20 }, () => insert(store)));
      assert.ok(store.walFlushes - flushes <= 3, `20 submissions at once share fdatasyncs (${store.walFlushes - flushes} made)`);
    } finally {
      await store.close();
    }
    // everything committed is in the WAL: a new process (the store reopened) reads it
    const again = new SqliteOperationStore(SqliteDatabase.open(join(dir, 'skiff.db')));
    try {
      const ops = await again.list({ limit: 100 });
      assert.equal(ops.length, 21);
      assert.equal(ops.find((o) => o.state === 'succeeded')?.progress.bytesDone, 7);
    } finally {
      await again.close();
    }
  });

  it('a full database is INSUFFICIENT_STORAGE, never a crash, and nothing half-written', async () => {
    const dir = tempDir();
    const db = SqliteDatabase.open(join(dir, 'skiff.db'));
    const store = new SqliteOperationStore(db);
    try {
      const pages = Number((db.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
      db.db.exec(`PRAGMA max_page_count = ${pages + 2}`);
      let err: unknown;
      for (let i = 0; i < 200 && !err; i++) {
        const big = draft('alice', { blob: 'x'.repeat(128) });
        await store.insert({ operation: big, requestHash: 'h'.repeat(4000), hadSecrets: false }).catch((e: unknown) => (err = e));
      }
      assert.ok(err instanceof DomainError && err.code === 'INSUFFICIENT_STORAGE', String(err));
      const all = await store.list({ limit: 1000 });
      for (const op of all) assert.equal((await store.eventsAfter(op.id, 0)).length, 1, 'each stored operation has its event');
    } finally {
      await store.close();
    }
  });
});

