import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { OperationRunContext, OperationRunner } from './operation';
import type { OperationStore } from './operation-store';
import type { SyncResult } from '../transfers/sync-request';
import { ME, cleanUpAfterTests, eventually, start, submit, sync, tempDir } from './testing/operations-harness';

cleanUpAfterTests();

/** A sync coordinator for the worker: plans `n` images as rows and waits for their ends. */
class PlanningSyncRunner implements OperationRunner<'sync'> {
  readonly kind = 'sync' as const;
  finished?: () => void;
  constructor(private readonly n: number) {}

  async run(_request: unknown, ctx: OperationRunContext): Promise<SyncResult> {
    const images = ctx.images!;
    const rows = Array.from({ length: this.n }, (_, index) => ({ index, source: `docker://s/r:${index}`, destination: `docker://d/r:${index}`, accessKey: 'default', state: 'pending' as const }));
    await images.add(rows, { pinned: false });
    for (;;) {
      const c = await images.counts();
      if (c.pending + c.running === 0) {
        this.finished?.();
        return { images: [], counts: { copied: c.copied, skipped: c.skipped, failed: c.failed, planned: c.planned }, bytes: c.bytes };
      }
      await images.changed(5000);
    }
  }
}

/** The store with a count of the calls the worker makes, by method. */
function counting(calls: Map<string, number[]>): (store: OperationStore) => OperationStore {
  return (store) =>
    new Proxy(store, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) => {
          const out = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (prop === 'claimSyncImages') void (out as Promise<unknown[]>).then((claims) => calls.set(prop, [...(calls.get(prop) ?? []), claims.length]));
          else calls.set(prop, [...(calls.get(prop) ?? []), 1]);
          return out;
        };
      },
    });
}

describe('OperationWorker: sync images', () => {
  it('claims the free image slots in one transaction, reads the sync once per wave, and claims operations only when an operation slot frees', async () => {
    const calls = new Map<string, number[]>();
    const runner = new PlanningSyncRunner(12);
    const finished = new Promise<void>((resolve) => (runner.finished = resolve));
    const svc = await start(tempDir(), { env: { SKIFF_SYNC_CONCURRENCY: '4' }, runners: [runner], wrapStore: counting(calls) });
    let running = 0;
    let most = 0;
    const ran: number[] = [];
    svc.registerSyncImageRunner(async ({ image }) => {
      running++;
      most = Math.max(most, running);
      await sleep(15);
      running--;
      ran.push(image.index);
      return { state: 'copied', destination: image.destination, bytes: 0 };
    });
    calls.clear();
    const op = await submit(svc, sync('plan'));
    await finished;
    const seen = new Map([...calls].map(([k, v]) => [k, [...v]]));
    await eventually(async () => (await svc.get(ME, op.operation.id)).state === 'succeeded', 'the sync to succeed');
    assert.deepEqual([...ran].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i), 'every image ran once');
    assert.ok(most <= 4, `at most SKIFF_SYNC_CONCURRENCY images at once (saw ${most})`);
    const claims = seen.get('claimSyncImages') ?? [];
    assert.ok(claims.includes(4), `the first wave is claimed in one transaction (claims: ${claims.join(',')})`);
    assert.ok(claims.length < 12 + 4, `about one claim per image at most (claims: ${claims.join(',')})`);
    assert.ok((seen.get('claimSyncImage') ?? []).length === 0, 'no single-image claims');
    assert.ok((seen.get('get') ?? []).length < 12, `the sync is not read again for every image (${(seen.get('get') ?? []).length} reads)`);
    assert.ok((seen.get('claim') ?? []).length < 6, `an image's end does not claim operations (${(seen.get('claim') ?? []).length} claims)`);
  });
});
