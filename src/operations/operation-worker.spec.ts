import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@nestjs/common';
import { loadConfig } from '../config/app-config';
import { emptyProgress } from '../copy-engine/transfer-progress';
import { SqliteDatabase } from '../database/sqlite-database';
import { SecretBox } from '../secrets/secret-box';
import type { SyncRequest } from '../transfers/sync-request';
import type { Operation, SyncImageRunner } from './operation';
import { OperationEventHub } from './operation-event-hub';
import { newOperationId } from './operation-id';
import { OperationWorker } from './operation-worker';
import { SqliteOperationStore } from './sqlite-operation-store';
import { sync as syncDraft } from './testing/operations-harness';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const silent = { log() {}, warn() {}, error() {}, debug() {}, verbose() {}, fatal() {} } as unknown as Logger;

/** A sync request; the image runner below never reads it. */
const syncRequest = syncDraft('succeed').request as SyncRequest;

describe('OperationWorker: sync image leases', () => {
  it('renews only the image leases a live run here works on: one this replica holds without a run lapses and another replica takes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-worker-'));
    dirs.push(dir);
    const config = loadConfig({ SKIFF_DATA_DIR: dir, SKIFF_LOG_LEVEL: 'silent', SKIFF_LEASE_SECONDS: '2', SKIFF_REPLICA_ID: 'r1' }, dir);
    const store = new SqliteOperationStore(SqliteDatabase.open(join(dir, 'skiff.db')));
    const sync: Operation = { id: newOperationId(), kind: 'sync', state: 'queued', owner: 'alice', labels: {}, createdAt: new Date().toISOString(), request: syncRequest, progress: emptyProgress('queued'), attempts: 0 };
    await store.insert({ operation: sync, requestHash: 'h', hadSecrets: false });
    // Its coordinator is another replica (this worker has no sync runner).
    assert.equal((await store.claim({ owner: 'coordinator', leaseMs: 600_000, deadlineMs: 3_600_000 }))?.operation.id, sync.id);
    await store.addSyncImages(sync.id, [0, 1].map((index) => ({ index, source: `docker://s/r:${index}`, destination: `docker://d/r:${index}`, accessKey: 'default', state: 'pending' as const })));
    // Image 0 is held by r1 without a run (as after a run abandoned when renewals failed, or whose end could not be recorded).
    const stale = await store.claimSyncImage('r1', 2000);
    assert.equal(stale?.image.index, 0);

    const signals: AbortSignal[] = [];
    const runner: SyncImageRunner = ({ signal }) => {
      signals.push(signal);
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    };
    const worker = new OperationWorker({
      store,
      hub: new OperationEventHub(store, silent),
      settings: config.operations,
      box: new SecretBox(config.secretKeys),
      logger: silent,
      memorySecrets: new Map(),
      imageSlots: 1,
      imageChanged: () => sleep(10),
      imageDone: () => undefined,
    });
    worker.registerImageRunner(runner);
    worker.start();
    try {
      const deadline = Date.now() + 15_000;
      while (signals.length === 0 && Date.now() < deadline) await sleep(20);
      assert.equal(signals.length, 1, 'the worker copies image 1');
      let taken: Awaited<ReturnType<typeof store.claimSyncImage>>;
      while (!(taken = await store.claimSyncImage('r2', 60_000)) && Date.now() < deadline) await sleep(100);
      assert.equal(taken?.image.index, 0, 'the image no live run works on lapsed and r2 took it');
      // Past a whole lease more, the live image is still renewed: r1 keeps it, its run goes on.
      await sleep(2500);
      assert.equal(await store.claimSyncImage('r3', 60_000), undefined);
      assert.equal(signals[0]!.aborted, false);
      const rows = await store.listSyncImages(sync.id, { limit: 10 });
      assert.deepEqual(rows.map((r) => [r.index, r.state, r.replicaId]), [[0, 'running', 'r2'], [1, 'running', 'r1']]);
    } finally {
      await worker.stop(0);
      await store.close();
    }
  });
});
