import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@nestjs/common';
import { emptyProgress } from '../copy-engine/transfer-progress';
import { SqliteDatabase } from '../database/sqlite-database';
import type { CopyRequest } from '../transfers/copy-request';
import { CATCH_UP_PAGE, OperationEventHub } from './operation-event-hub';
import { newOperationId } from './operation-id';
import type { OperationEvent } from './operation-store';
import { SqliteOperationStore } from './sqlite-operation-store';

const dir = mkdtempSync(join(tmpdir(), 'skiff-hub-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const silent = { log() {}, warn() {}, error() {}, debug() {}, verbose() {} } as unknown as Logger;

/** Records how many events each read asked for and got. */
class CountingStore extends SqliteOperationStore {
  readonly reads: { limit: number | undefined; got: number }[] = [];
  override async eventsAfter(id: string, afterSeq: number, limit?: number): Promise<OperationEvent[]> {
    const events = await super.eventsAfter(id, afterSeq, limit);
    this.reads.push({ limit, got: events.length });
    return events;
  }
}

describe('OperationEventHub', () => {
  it('catches a watcher up a page at a time: every event once, in order, no read bigger than a page', async () => {
    const store = new CountingStore(SqliteDatabase.open(join(dir, 'skiff.db')));
    try {
      const request: CopyRequest = { source: 'docker://a/b:c', destination: 'oci:x:y', sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none' };
      const id = newOperationId();
      await store.insert({ operation: { id, kind: 'copy', state: 'queued', owner: 'alice', labels: {}, createdAt: new Date().toISOString(), request, progress: emptyProgress('queued'), attempts: 0 }, requestHash: 'h', hadSecrets: false });
      const claim = await store.claim({ owner: 'r1', leaseMs: 60_000, deadlineMs: 3_600_000 });
      assert.ok(claim);
      const total = 2 * CATCH_UP_PAGE + 345;
      for (let seq = 3; seq <= total; seq++) await store.recordProgress(id, claim.leaseVersion, { ...emptyProgress('copying'), bytesDone: seq });
      const hub = new OperationEventHub(store, silent);
      const got: number[] = [];
      hub.watch(id, 1, (e) => {
        if (e) got.push(e.seq);
      });
      // Events this process writes meanwhile are published while the catch-up pages.
      const more = await store.recordProgress(id, claim.leaseVersion, { ...emptyProgress('copying'), bytesDone: 0 });
      hub.publish(id, [more!]);
      for (let i = 0; i < 500 && got.length < total; i++) await sleep(10);
      assert.deepEqual(got, Array.from({ length: total }, (_, i) => i + 2));
      assert.ok(store.reads.length >= 3, `read in pages: ${JSON.stringify(store.reads)}`);
      assert.ok(store.reads.every((r) => r.limit === CATCH_UP_PAGE && r.got <= CATCH_UP_PAGE), JSON.stringify(store.reads));
      hub.close();
    } finally {
      await store.close();
    }
  });
});
