import type { CopyRequest, CopyResult } from '../transfers/copy-request';
import type { TransferProgress } from '../copy-engine/transfer-progress';
import type { OperationError } from '../errors/operation-error';
import type { SyncRequest, SyncResult } from '../transfers/sync-request';
import type { TransferSecrets } from '../transfers/transfer-secrets';
import type { SyncImageCounts, SyncImageFilter, SyncImageOutcome, SyncImageRow } from './sync-image';

/**
 * The operation model, as domain values: what the store keeps, the runners receive and return,
 * and the HTTP layer maps to DTOs (`operations.dto.ts`). Nothing here knows HTTP.
 */
export const OPERATION_KINDS = ['copy', 'sync'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export const OPERATION_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export const FINISHED_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

export function isFinished(state: OperationState): boolean {
  return FINISHED_STATES.includes(state);
}

/** Who cancelled, why, when. */
export interface Cancellation {
  by: string;
  reason?: string;
  at: string;
}

export interface OperationRequests {
  copy: CopyRequest;
  sync: SyncRequest;
}

export interface OperationResults {
  copy: CopyResult;
  sync: SyncResult;
}

interface OperationOf<K extends OperationKind> {
  id: string;
  kind: K;
  state: OperationState;
  /** The principal that submitted it (its owner). */
  owner: string;
  labels: Record<string, string>;
  createdAt: string;
  /** When its current (or last) run started. */
  startedAt?: string;
  finishedAt?: string;
  request: OperationRequests[K];
  progress: TransferProgress;
  result?: OperationResults[K];
  error?: OperationError;
  cancellation?: Cancellation;
  /** The replica running it now, or that ran it last. */
  replicaId?: string;
  /** Runs started so far (a takeover after a replica died is one more). */
  attempts: number;
}

export type CopyOperation = OperationOf<'copy'>;
export type SyncOperation = OperationOf<'sync'>;
/** A copy or a sync, discriminated by `kind`. */
export type Operation = CopyOperation | SyncOperation;
export type OperationResult = OperationResults[OperationKind];
export type OperationRequest = OperationRequests[OperationKind];

/** A submission's request, typed by kind. */
export type OperationDraft = { kind: 'copy'; request: CopyRequest } | { kind: 'sync'; request: SyncRequest };

/**
 * A sync's images as shared work (given to sync runs): the run plans them once, every
 * replica's worker claims and copies them one by one, the run waits for them and sums up.
 */
export interface SyncImageTasks {
  /** Images already planned (a run that took over continues them instead of planning again). */
  planned(): Promise<number>;
  /** Adds the plan; `pinned` keeps the images on this replica (local paths, credentials only it holds). */
  add(images: readonly Omit<SyncImageRow, 'operationId'>[], options: { pinned: boolean }): Promise<void>;
  /** Moves pinned unfinished images to this replica (after a takeover). */
  repin(): Promise<void>;
  counts(): Promise<SyncImageCounts>;
  list(filter: SyncImageFilter): Promise<SyncImageRow[]>;
  /** Drops the images not started yet (the sync stops at a failure, or is cancelled). */
  dropPending(): Promise<void>;
  /** Resolves when an image of this sync ends, after `ms`, or when the run's signal aborts. */
  changed(ms: number): Promise<void>;
  /** Credentials only this replica holds (no key): the images must stay here. */
  readonly secretsPinned: boolean;
}

export interface OperationRunContext {
  operationId: string;
  /** The name of the principal that submitted the operation: stored credentials apply as for it. */
  owner: string;
  /** Aborted on cancel, shutdown, lease loss and the deadline; every network and file call must take it. */
  signal: AbortSignal;
  /**
   * Inline credentials given with the request, when they are still available (sealed in the
   * store with a key, or in this process's memory). An operation whose credentials were lost
   * fails with CREDENTIALS_UNAVAILABLE before it reaches its runner.
   */
  secrets?: TransferSecrets;
  /** What the run reports; the machinery merges, throttles, stores and streams it. */
  progress(update: Partial<TransferProgress>): void;
  /** Syncs: their images as work for the whole fleet. */
  images?: SyncImageTasks;
}

/** Copies one image of a sync (registered by the syncs feature; run by any replica's worker). */
export type SyncImageRunner = (task: {
  image: SyncImageRow;
  request: SyncRequest;
  /** The name of the principal that submitted the sync. */
  owner: string;
  secrets?: TransferSecrets;
  signal: AbortSignal;
}) => Promise<SyncImageOutcome>;

/** Runs the operations of one kind; registered with the operations service by its feature. */
export interface OperationRunner<K extends OperationKind> {
  readonly kind: K;
  /** Resolves with the result, or throws (a DomainError becomes the operation's error). */
  run(request: OperationRequests[K], ctx: OperationRunContext): Promise<OperationResults[K]>;
}

/**
 * What a runner throws when its operation fails after doing part of its work (a sync stopped by
 * its first failing image): `partialResult` is stored as the failed operation's `result`.
 */
export interface FailureWithResult {
  readonly partialResult: OperationResult;
}

/** The partial result a failure carries (see FailureWithResult), if any. */
export function partialResultOf(error: unknown): OperationResult | undefined {
  const r = (error as Partial<FailureWithResult> | null | undefined)?.partialResult;
  return r !== null && typeof r === 'object' && !Array.isArray(r) ? r : undefined;
}
