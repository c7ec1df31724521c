import type { TransferProgress } from '../copy-engine/transfer-progress';
import type { OperationError } from '../errors/operation-error';
import type { SyncImageState } from '../transfers/sync-request';

/**
 * A sync's images as rows of the operations store: planned once by the sync's run, claimed and
 * copied one by one by any replica's worker, counted and paged by the coordinator.
 */

/** A sync image's state: waiting, being copied, or how it ended. */
export type SyncImageTaskState = 'pending' | 'running' | SyncImageState;

/** One image of a sync, as a row: planned by the sync's run, claimed and copied by any replica. */
export interface SyncImageRow {
  operationId: string;
  /** Position in the sync's plan (the order skopeo lists them). */
  index: number;
  source: string;
  destination: string;
  /** Which source settings read it (see SyncRun). */
  accessKey: string;
  state: SyncImageTaskState;
  digest?: string;
  bytes?: number;
  error?: OperationError;
  /** multiArch=filtered: the source index the written one (`digest`) was filtered from. */
  sourceDigest?: string;
  /** Referrers brought along with the image (request referrers `all`). */
  referrers?: number;
  /** The copy's blob counters (summed into the sync's progress). */
  counters?: SyncImageCounters;
  /** The replica that copies it (or copied it last). */
  replicaId?: string;
}

/** The counters of an image's copy that a sync sums into its progress. */
export type SyncImageCounters = Pick<TransferProgress, 'bytesTotal' | 'bytesSkipped' | 'blobsTotal' | 'blobsDone' | 'blobsSkipped' | 'blobsMounted'>;

/** How an image ended. */
export type SyncImageOutcome = Pick<SyncImageRow, 'state' | 'destination' | 'digest' | 'bytes' | 'error' | 'sourceDigest' | 'referrers' | 'counters'>;

/** Images per state, and the sums of their bytes and counters. */
export type SyncImageCounts = Record<SyncImageTaskState, number> & { bytes: number } & SyncImageCounters;

export interface SyncImageFilter {
  state?: SyncImageTaskState;
  /** Only images after this index (the cursor of the previous page). */
  afterIndex?: number;
  limit: number;
}
