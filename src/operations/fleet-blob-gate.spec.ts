import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteDatabase } from '../database/sqlite-database';
import { AbortedError } from '../errors/domain-error';
import { FleetBlobGate } from './fleet-blob-gate';
import { SqliteOperationStore } from './sqlite-operation-store';

const dir = mkdtempSync(join(tmpdir(), 'skiff-gate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('FleetBlobGate', () => {
  it("a cancelled transfer stops waiting for another replica's: it rejects with the cancel, never runs, and takes nothing", async () => {
    const store = new SqliteOperationStore(SqliteDatabase.open(join(dir, 'wait.db')));
    try {
      const key = 'docker://reg/repo|sha256:a';
      assert.equal(await store.acquireTransfer(key, 'other', 60_000), true);
      const gate = new FleetBlobGate(store, 'me', 60_000);
      const cancel = new AbortController();
      let ran = false;
      const waiting = gate.run(
        key,
        async () => {
          ran = true;
        },
        { signal: cancel.signal },
      );
      await sleep(300);
      cancel.abort(new AbortedError('the copy was cancelled'));
      // Without the signal the wait would last as long as the other's 60 s lease.
      const outcome = await Promise.race([waiting.then(() => 'ran', (e: unknown) => e), sleep(15_000, 'still waiting')]);
      assert.ok(outcome instanceof AbortedError, String(outcome));
      // The other replica's transfer ends: the cancelled one does not take the key behind it.
      await store.releaseTransfer(key, 'other');
      await sleep(1500);
      assert.equal(ran, false);
      assert.equal(await store.acquireTransfer(key, 'third', 60_000), true, 'nobody holds the key');
    } finally {
      await store.close();
    }
  });

  it('an already cancelled transfer does not take the key; one that runs releases it', async () => {
    const store = new SqliteOperationStore(SqliteDatabase.open(join(dir, 'pre.db')));
    try {
      const key = 'docker://reg/repo|sha256:b';
      const gate = new FleetBlobGate(store, 'me', 60_000);
      const cancel = new AbortController();
      cancel.abort(new AbortedError('cancelled'));
      await assert.rejects(gate.run(key, async () => 'x', { signal: cancel.signal }), AbortedError);
      assert.equal(await gate.run(key, async () => 'ran', { signal: new AbortController().signal }), 'ran');
      assert.equal(await store.acquireTransfer(key, 'other', 60_000), true);
    } finally {
      await store.close();
    }
  });
});
