import { mkdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { WriteTarget } from './atomic-write';
import { type SweepResult, sweepDirectory, sweepTree } from './leftovers';
import { StorageOwner } from './storage-owner';
import { tempName } from './temp-names';
import { StorageVolume, formatBytes } from './volume';

export interface LocalStorageOptions {
  /** Root of every oci:/oci-archive:/dir:/docker-archive: path (may be shared by replicas). */
  storageRoot: string;
  /** This replica's data directory; its `tmp/` is the private staging area. */
  dataDir: string;
  /** The replica part of the owner id (data-dir.ts storageReplicaOf); random when not given. */
  replica?: string;
  /** The replica's name (SKIFF_REPLICA_ID or its default), written into its lease for whoever reads it. */
  replicaId?: string;
  /** Lease period of the storage owner (heartbeat every third of it). */
  leaseMs: number;
  /** Readiness floor: below this many free bytes a volume makes the service not ready (0: no floor). */
  minFreeBytes: number;
  warn?: (message: string) => void;
}

/** One volume's headroom, as /readyz reports it. */
export interface VolumeHeadroom {
  /** `dataDir`, `staging` (dataDir/tmp) or `storageRoot`; volumes shared with an earlier one are listed with it. */
  names: string[];
  freeBytes: number;
  totalBytes: number;
}

/**
 * Everything the local transports need to write safely: the storage root and the staging area
 * as volumes (507 instead of ENOSPC, early refusal of known sizes), the storage owner (temp names,
 * leases, locks shared with other replicas), and sweeping. One per process (the StorageModule's),
 * or one per replica in tests.
 */
export class LocalStorage {
  readonly storage: StorageVolume;
  readonly staging: StorageVolume;
  /** `$SKIFF_DATA_DIR/tmp`: private to this replica, emptied at start. */
  readonly tempDir: string;

  private constructor(
    readonly storageRoot: string,
    readonly dataDir: string,
    readonly owner: StorageOwner,
    readonly minFreeBytes: number,
  ) {
    this.tempDir = join(dataDir, 'tmp');
    this.storage = new StorageVolume('storage root', storageRoot);
    this.staging = new StorageVolume('data directory', this.tempDir);
  }

  static async open(opts: LocalStorageOptions): Promise<LocalStorage> {
    const owner = await StorageOwner.start({ replica: opts.replica, replicaId: opts.replicaId, storageRoot: opts.storageRoot, leaseMs: opts.leaseMs, warn: opts.warn });
    return new LocalStorage(opts.storageRoot, opts.dataDir, owner, opts.minFreeBytes);
  }

  /** Writing into the storage root, for `what` (the caller's name of the file). */
  storageTarget(what: string): WriteTarget {
    return { owner: this.owner.id, volume: this.storage, what };
  }

  /** Writing into the staging area, for `what`. */
  stagingTarget(what: string): WriteTarget {
    return { owner: this.owner.id, volume: this.staging, what };
  }

  /** A fresh private directory in the staging area (mode 0700), named for this owner; real path. */
  async makeStagingDir(hint: string, what: string): Promise<string> {
    return this.staging.guard({ what, dir: this.tempDir }, async () => {
      await mkdir(this.tempDir, { recursive: true, mode: 0o700 });
      const dir = join(this.tempDir, tempName(this.owner.id, hint));
      await mkdir(dir, { mode: 0o700 });
      return realpath(dir);
    });
  }

  /** Removes the leftovers of gone owners in `dir` (before writing there). Never rejects. */
  sweepDirectory(dir: string): Promise<SweepResult> {
    return sweepDirectory(dir, this.owner).catch(() => ({ removed: [], restored: [], bytes: 0 }));
  }

  /** Removes the leftovers of gone owners in the whole storage root (at start). */
  sweepStorageRoot(signal?: AbortSignal): Promise<SweepResult> {
    return sweepTree(this.storageRoot, this.owner, { signal });
  }

  /** Free and total bytes of the data directory, its staging area and the storage root, one entry per volume. */
  async headroom(): Promise<VolumeHeadroom[]> {
    const out: (VolumeHeadroom & { dev: number })[] = [];
    for (const [name, vol, dir] of [
      ['dataDir', this.staging, this.dataDir],
      ['staging', this.staging, this.tempDir],
      ['storageRoot', this.storage, this.storageRoot],
    ] as const) {
      const st = await stat(dir).catch(() => undefined);
      if (!st) continue;
      const same = out.find((v) => v.dev === st.dev);
      if (same) {
        same.names.push(name);
        continue;
      }
      const h = await vol.headroom(dir);
      out.push({ dev: st.dev, names: [name], ...h });
    }
    return out.map(({ dev: _dev, ...v }) => v);
  }

  /**
   * The readiness check of disk space: every volume's headroom, not ok when one has less than
   * minFreeBytes free (or cannot be measured).
   */
  async headroomCheck(): Promise<{ ok: boolean; detail: string }> {
    let volumes: VolumeHeadroom[];
    try {
      volumes = await this.headroom();
    } catch (e) {
      return { ok: false, detail: `cannot measure free space: ${(e as Error).message}` };
    }
    let ok = true;
    const parts = volumes.map((v) => {
      const pct = v.totalBytes > 0 ? ` (${((100 * v.freeBytes) / v.totalBytes).toFixed(1)}%)` : '';
      const low = v.freeBytes < this.minFreeBytes;
      if (low) ok = false;
      const names = v.names.length > 1 ? `${v.names.slice(0, -1).join(', ')} and ${v.names.at(-1)}` : v.names[0];
      return `${names}: ${formatBytes(v.freeBytes)} free of ${formatBytes(v.totalBytes)}${pct}${low ? `, below the floor of ${formatBytes(this.minFreeBytes)} (SKIFF_MIN_FREE_BYTES)` : ''}`;
    });
    return { ok, detail: parts.join('; ') };
  }

  /** Stops the owner's lease (nothing of this process writes any more). */
  close(): Promise<void> {
    return this.owner.stop();
  }
}
