/**
 * How far a transfer has got: the counters the copy engine keeps for one copy, what a sync sums
 * over its images, and what an operation reports and stores. The one declaration of these
 * fields (the API's OperationProgressDto implements it).
 */
export type TransferProgress = {
  /** What it is doing now: queued, listing, planning, copying, writing-manifests, done… */
  phase: string;
  bytesTotal: number;
  bytesDone: number;
  bytesSkipped: number;
  blobsTotal: number;
  blobsDone: number;
  blobsSkipped: number;
  blobsMounted: number;
  imagesTotal: number;
  imagesDone: number;
};

/** The counters of a TransferProgress: every field but the phase. */
export type ProgressCounters = Omit<TransferProgress, 'phase'>;

export function emptyProgress(phase = 'queued'): TransferProgress {
  return { phase, bytesTotal: 0, bytesDone: 0, bytesSkipped: 0, blobsTotal: 0, blobsDone: 0, blobsSkipped: 0, blobsMounted: 0, imagesTotal: 0, imagesDone: 0 };
}
