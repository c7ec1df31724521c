import type { TransferProgress } from '../copy-engine/transfer-progress';
import type { OperationError } from '../errors/operation-error';
import type { Cancellation, Operation, OperationResult, OperationState } from './operation';
import type { SyncImageCounts, SyncImageFilter, SyncImageOutcome, SyncImageRow } from './sync-image';

/**
 * The operations store port: one adapter per engine (SqliteOperationStore,
 * PostgresOperationStore), both held to one contract suite (test/operation-store.e2e-spec.ts).
 * Plain TypeScript, async, domain values in and out; engine errors leave as
 * INSUFFICIENT_STORAGE / STORE_UNAVAILABLE domain errors (src/database/database-errors.ts).
 *
 * Contracts shared by both adapters:
 * - Every state change is one transaction that also appends its events: a `state` event
 *   carrying the whole Operation (preceded by a `result` event when it succeeds). Event
 *   sequence numbers count from 1 per operation, without gaps, whoever writes.
 * - Leases fence the runner: `claim` gives the claimer a new lease version; every later write
 *   of the run names that version and does nothing when another replica has claimed since.
 * - `claim` never hands one operation to two claimers at once (SQLite: one write transaction;
 *   PostgreSQL: `FOR UPDATE SKIP LOCKED`).
 * - Signals (`signal`/`subscribe`) reach the other processes sharing the store (PostgreSQL
 *   NOTIFY/LISTEN; event signals are sent by the store itself at commit). SQLite is one
 *   process: signals are a no-op there and the caller handles its own.
 */

/** An operation with the bookkeeping that is never shown to clients. */
export type StoredOperation = Operation & Bookkeeping;

export interface Bookkeeping {
  idempotencyKey?: string;
  /** sha256 of the canonical JSON of (kind, normalised request, labels). */
  requestHash: string;
  /** The request carried inline credentials. */
  hadSecrets: boolean;
  /** The credentials, sealed (secret-box.ts), while the operation lives; absent without a key. */
  sealedSecrets?: string;
  leaseOwner?: string;
  leaseVersion: number;
  /** Epoch ms. */
  leaseExpiresAt?: number;
  /** Why the previous run ended without settling (its replica died, it was handed back). */
  lastError?: OperationError;
  /** When the operation must have finished (set at its first claim). */
  deadlineAt?: string;
  /** Seq of its latest event. */
  lastSeq: number;
}

export type OperationEventType = 'state' | 'progress' | 'result';

/** One entry of an operation's event log; `seq` counts from 1 per operation. */
export type OperationEvent =
  | { seq: number; type: 'state'; data: Operation; at: string }
  | { seq: number; type: 'progress'; data: TransferProgress; at: string }
  | { seq: number; type: 'result'; data: OperationResult; at: string };

/** Fields a transition may change; `null` clears. */
export interface OperationPatch {
  state?: OperationState;
  startedAt?: string | null;
  finishedAt?: string | null;
  progress?: TransferProgress;
  result?: OperationResult | null;
  error?: OperationError | null;
  cancellation?: Cancellation;
  sealedSecrets?: null;
  /** Set or clear the lease (clearing also hands the operation to anyone). */
  lease?: { owner: string; expiresAt: number } | null;
  /** Added to `attempts` (−1 when a run is handed back unfinished). */
  attemptsDelta?: number;
  lastError?: OperationError | null;
}

/** When a transition applies. */
export interface TransitionCondition {
  states: readonly OperationState[];
  /** The run's lease version (fencing); omitted for changes any replica may make (cancel). */
  leaseVersion?: number;
}

export interface NewOperation {
  operation: Operation;
  idempotencyKey?: string;
  requestHash: string;
  hadSecrets: boolean;
  sealedSecrets?: string;
  /** A lease held from the start: inline credentials only this process knows pin it here. */
  lease?: { owner: string; expiresAt: number };
}

export type InsertOutcome = { created: true; operation: StoredOperation; event: OperationEvent } | { created: false; operation: StoredOperation };

export interface ListFilter {
  /** Only this principal's operations; undefined: everyone's. */
  owner?: string;
  state?: OperationState;
  kind?: Operation['kind'];
  /** Every pair must match. */
  labels?: readonly (readonly [string, string])[];
  /** ISO-8601, exclusive bounds on createdAt. */
  createdAfter?: string;
  createdBefore?: string;
  /** Only ids strictly below this one (the cursor of the previous page). */
  beforeId?: string;
  limit: number;
}

export interface ClaimRequest {
  owner: string;
  leaseMs: number;
  /** Deadline for operations claimed for the first time. */
  deadlineMs: number;
}

/** What `claim` took: the operation as it is now (`running`, or still `cancelling`), leased to the claimer. */
export interface Claim {
  operation: StoredOperation;
  /** The lease version every write of this run must name. */
  leaseVersion: number;
  /** It was running (or cancelling) under a lease that lapsed: its replica died. */
  takeover: boolean;
  /** The replica whose lease lapsed (takeover) or that pinned it. */
  previousOwner?: string;
  event: OperationEvent;
}

/** A lease the renewal found: the operation, its lease version and state now. */
export interface LeaseStatus {
  id: string;
  leaseVersion: number;
  state: OperationState;
}

export type StoreSignal =
  | { type: 'event'; id: string; seq: number }
  | { type: 'cancel'; id: string }
  | { type: 'queued' }
  /** An image of sync `id` finished (its coordinator recounts). */
  | { type: 'image'; id: string }
  | { type: 'reconnected' };

/** One sync image's lease, as claimed (the lease version fences it). */
export interface SyncImageLease {
  operationId: string;
  index: number;
  leaseVersion: number;
}

/** A claimed sync image: copy it, then `finishSyncImage` with its lease version. */
export interface SyncImageClaim {
  image: SyncImageRow;
  leaseVersion: number;
}

export interface OperationStore {
  readonly engine: 'sqlite' | 'postgres';

  /** Inserts a new `queued` operation with its first `state` event, or finds the one its (owner, idempotency key) names. */
  insert(op: NewOperation): Promise<InsertOutcome>;
  get(id: string): Promise<StoredOperation | undefined>;
  findByIdempotencyKey(owner: string, key: string): Promise<StoredOperation | undefined>;
  /** Newest first (by id). */
  list(filter: ListFilter): Promise<StoredOperation[]>;
  countByState(state: OperationState): Promise<number>;
  /** Running operations by the replica holding their lease. */
  runningByReplica(): Promise<Map<string, number>>;

  /**
   * Takes the oldest operation the claimer may run: queued and not pinned to another live
   * lease, or running/cancelling under a lapsed lease (a takeover). Increments `attempts`,
   * sets `startedAt`, `replicaId` and (first time) `deadlineAt`, leases it to `owner`.
   */
  claim(request: ClaimRequest): Promise<Claim | undefined>;
  /** Extends every lease `owner` holds; answers what it holds now. */
  renew(owner: string, leaseMs: number): Promise<LeaseStatus[]>;
  /** Makes the lease of attempt `leaseVersion` of a running (or cancelling) operation lapse now, so it can be claimed again; false when that attempt no longer holds it. */
  lapseLease(id: string, leaseVersion: number): Promise<boolean>;
  /** Makes every lease `owner` (or anyone, with undefined) holds lapse now — operations, sync images, blob transfers: at start, a dead predecessor's. */
  expireLeases(owner: string | undefined): Promise<number>;

  /** Applies `patch` when `condition` holds, appending its events; undefined when it did not hold. */
  transition(id: string, patch: OperationPatch, condition: TransitionCondition): Promise<{ operation: StoredOperation; events: OperationEvent[] } | undefined>;
  /** Stores progress and appends its event, fenced by the lease version. */
  recordProgress(id: string, leaseVersion: number, progress: TransferProgress): Promise<OperationEvent | undefined>;

  /** The events with seq > afterSeq, in order, at most `limit`. */
  eventsAfter(id: string, afterSeq: number, limit?: number): Promise<OperationEvent[]>;

  /** Deletes the operation, its events and labels; false when there was none. */
  delete(id: string): Promise<boolean>;
  /** Deletes finished operations that finished before `before` (ISO); returns their ids. */
  pruneFinishedBefore(before: string): Promise<string[]>;

  // ---- a sync's images ----
  /** Adds a sync's planned images; `pinnedTo` keeps them on one replica (local paths, credentials only it holds). */
  addSyncImages(operationId: string, images: readonly Omit<SyncImageRow, 'operationId'>[], pinnedTo?: string): Promise<void>;
  /** Re-pins a sync's unfinished images to `owner` (a new coordinator after a takeover). */
  repinSyncImages(operationId: string, owner: string): Promise<void>;
  /**
   * Takes the first image, of any running sync, that is pending (or running under a lapsed
   * lease) and not pinned to another replica; leases it to `owner`.
   */
  claimSyncImage(owner: string, leaseMs: number): Promise<SyncImageClaim | undefined>;
  /** claimSyncImage for up to `limit` images (at most 64) in one transaction, in the same order. */
  claimSyncImages(owner: string, leaseMs: number, limit: number): Promise<SyncImageClaim[]>;
  /** Records how an image ended (fenced by its lease version); false when the lease was lost. */
  finishSyncImage(operationId: string, index: number, leaseVersion: number, outcome: SyncImageOutcome): Promise<boolean>;
  /**
   * Extends the image leases in `live` (those a run of `owner` still works on) that `owner`
   * still holds at that version; answers each of them with its sync's state now. The other
   * image leases `owner` holds are not extended: they lapse and another claimer takes them.
   */
  renewSyncImages(owner: string, leaseMs: number, live: readonly SyncImageLease[]): Promise<(SyncImageLease & { syncState: OperationState })[]>;
  /** Drops a sync's images that have not started (a stopped or cancelled sync); returns how many. */
  dropPendingSyncImages(operationId: string): Promise<number>;
  countSyncImages(operationId: string): Promise<SyncImageCounts>;
  listSyncImages(operationId: string, filter: SyncImageFilter): Promise<SyncImageRow[]>;

  // ---- blob transfers across the fleet ----
  /** Takes the transfer lease on `key` if nobody holds it (or its holder's lapsed); true when taken. */
  acquireTransfer(key: string, owner: string, ttlMs: number): Promise<boolean>;
  renewTransfer(key: string, owner: string, ttlMs: number): Promise<void>;
  releaseTransfer(key: string, owner: string): Promise<void>;

  /** Sends a signal to the other processes sharing the store. */
  signal(signal: StoreSignal): Promise<void>;
  /** Receives the other processes' signals (and, on PostgreSQL, this one's event signals). */
  subscribe(handler: (signal: StoreSignal) => void): Promise<() => Promise<void>>;

  /** Undefined when the store is usable, else why not (readiness). */
  health(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Nest token of the OperationStore (the adapter chosen by configuration). */
export const OPERATION_STORE = Symbol('OPERATION_STORE');
