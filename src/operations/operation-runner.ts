import type { ProblemDto } from '../http/problem';

/**
 * The contract between the operations machinery (store, worker, HTTP) and the features that
 * run as operations (copies, syncs). Features register one OperationRunner per kind.
 */
export type OperationKind = 'copy' | 'sync';

export type OperationState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelling' | 'cancelled';

export const FINISHED_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

export interface OperationProgress {
  /** What the operation is doing now: queued, planning, copying, writing-manifests, done… */
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
}

export interface Operation {
  id: string;
  kind: OperationKind;
  state: OperationState;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The request as accepted, without secrets (stored, echoed). */
  request: Record<string, unknown>;
  progress: OperationProgress;
  result?: Record<string, unknown>;
  error?: ProblemDto;
}

export interface OperationRunContext {
  operationId: string;
  /** Aborted on cancel and on shutdown; every network and file call must take it. */
  signal: AbortSignal;
  /**
   * Secrets given with the request (e.g. sourceAuth/destinationAuth). Held in memory only; an
   * operation whose secrets were lost in a restart is failed with CREDENTIALS_UNAVAILABLE by
   * the operations service and never reaches its runner.
   */
  secrets?: Record<string, unknown>;
  /** True when the request carried secrets; with `secrets` undefined, they were lost in a restart. */
  hadSecrets: boolean;
  /** Name of the principal that submitted the operation; undefined when not known (e.g. after a restart). */
  principal?: string;
  /** Report progress; the machinery merges, throttles, stores and streams it. */
  progress(update: Partial<OperationProgress>): void;
}

export interface OperationRunner {
  readonly kind: OperationKind;
  /** Runs the operation; resolves with its result, or throws (a DomainError becomes the problem). */
  run(request: Record<string, unknown>, ctx: OperationRunContext): Promise<Record<string, unknown>>;
}

/**
 * What a runner throws when its operation fails after doing part of its work (a sync stopped by
 * its first failing image): `partialResult` is stored as the failed operation's `result`,
 * beside `error`. Any error may carry it.
 */
export interface FailureWithResult {
  readonly partialResult: Record<string, unknown>;
}

/** The partial result a failure carries (see FailureWithResult), if any. */
export function partialResultOf(error: unknown): Record<string, unknown> | undefined {
  const r = (error as Partial<FailureWithResult> | null | undefined)?.partialResult;
  return r !== null && typeof r === 'object' && !Array.isArray(r) ? r : undefined;
}

export function emptyProgress(phase = 'queued'): OperationProgress {
  return { phase, bytesTotal: 0, bytesDone: 0, bytesSkipped: 0, blobsTotal: 0, blobsDone: 0, blobsSkipped: 0, blobsMounted: 0, imagesTotal: 0, imagesDone: 0 };
}
