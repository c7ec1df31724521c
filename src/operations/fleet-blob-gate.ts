import { Logger } from '@nestjs/common';
import type { BlobTransferGate } from '../copy-engine/host-limiter';
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

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    for (let wait = FIRST_WAIT_MS; ; wait = Math.min(wait * 2, LONGEST_WAIT_MS)) {
      let acquired: boolean;
      try {
        acquired = await this.store.acquireTransfer(key, this.owner, this.ttlMs);
      } catch (e) {
        this.logger.warn({ err: e, key }, 'could not take the fleet transfer lease; transferring without it');
        return fn();
      }
      if (acquired) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    const renew = setInterval(() => void this.store.renewTransfer(key, this.owner, this.ttlMs).catch(() => undefined), Math.max(500, Math.floor(this.ttlMs / 3)));
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.store.releaseTransfer(key, this.owner).catch(() => undefined);
    }
  }
}
