import { Logger } from '@nestjs/common';
import type { BlobTransferGate } from '../copy-engine/host-limiter';
import { abortReason } from '../errors/abortable-wait';
import type { OperationStore } from './operation-store';

const FIRST_WAIT_MS = 100;
const LONGEST_WAIT_MS = 1000;

/**
 * Serialises blob transfers to one registry repository across the replicas sharing the store:
 * a transfer lease per key (`blob_transfers`), renewed while the transfer runs, released when
 * it ends. A replica that finds the key held waits (backing off to one check a second) and then
 * runs its transfer, which finds the blob present. A lapsed holder (it died) is replaced. When
 * the store cannot be asked, the transfer runs unserialised: a copy never waits on the lock's
 * database (the registry then sees both uploads, as before this gate).
 */
export class FleetBlobGate implements BlobTransferGate {
  private readonly logger = new Logger('BlobTransfers');

  constructor(
    private readonly store: OperationStore,
    private readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  /**
   * Runs `fn` holding the transfer lease on `key`. When `signal` aborts while it waits for
   * another holder, it stops waiting and rejects with ABORTED (the signal's reason when it is
   * a DomainError); it holds nothing then and `fn` never runs. A lease taken is always released.
   */
  async run<T>(key: string, fn: () => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    const { signal } = options;
    for (let wait = FIRST_WAIT_MS; ; wait = Math.min(wait * 2, LONGEST_WAIT_MS)) {
      throwIfAborted(signal);
      let acquired: boolean;
      try {
        acquired = await this.store.acquireTransfer(key, this.owner, this.ttlMs);
      } catch (e) {
        this.logger.warn({ err: e, key }, 'could not take the fleet transfer lease; transferring without it');
        return fn();
      }
      if (acquired) break;
      await pause(wait, signal);
    }
    const renew = setInterval(() => void this.store.renewTransfer(key, this.owner, this.ttlMs).catch(() => undefined), Math.max(500, Math.floor(this.ttlMs / 3)));
    renew.unref();
    try {
      throwIfAborted(signal);
      return await fn();
    } finally {
      clearInterval(renew);
      await this.store.releaseTransfer(key, this.owner).catch(() => undefined);
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal, 'the transfer was cancelled');
}

/** Waits `ms`, or less when `signal` aborts (the caller then finds it aborted). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
