import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '@nestjs/common';
import type { OperationsSettings } from '../config/app-config';
import { emptyProgress, type TransferProgress } from '../copy-engine/transfer-progress';
import { AbortedError, DomainError } from '../errors/domain-error';
import { type OperationError, operationErrorOf } from '../errors/operation-error';
import type { SecretBox } from '../secrets/secret-box';
import type { TransferSecrets } from '../transfers/transfer-secrets';
import {
  type Operation,
  type OperationKind,
  type OperationResult,
  type OperationRunContext,
  type OperationRunner,
  partialResultOf,
  type SyncImageRunner,
  type SyncImageTasks,
} from './operation';
import { CredentialsUnavailableError, DeadlineExceededError } from './operation-errors';
import type { OperationEventHub } from './operation-event-hub';
import type { Claim, OperationEvent, OperationPatch, OperationStore, StoredOperation, SyncImageClaim, TransitionCondition } from './operation-store';

/** Progress is written and streamed at most this often per operation (and at every state change). */
const PROGRESS_INTERVAL_MS = 250;
/** After aborting runs at shutdown, how long they may take to unwind before they are handed back anyway. */
const ABORT_SETTLE_MS = 5000;
const PROGRESS_KEYS = Object.keys(emptyProgress()) as (keyof TransferProgress)[];

type StopReason = 'cancel' | 'shutdown' | 'lease-lost' | 'deadline';
type Outcome = { ok: true; result: OperationResult } | { ok: false; error: unknown };

/** One run held by this process. */
interface RunEntry {
  id: string;
  kind: OperationKind;
  leaseVersion: number;
  controller: AbortController;
  progress: TransferProgress;
  dirty: boolean;
  lastFlush: number;
  flushing?: Promise<void>;
  timer?: NodeJS.Timeout;
  deadlineTimer?: NodeJS.Timeout;
  deadlineSeconds: number;
  reason?: StopReason;
  /** Shutdown gave up waiting and handed it back; whatever the run does later is ignored. */
  detached: boolean;
  done: Promise<void>;
}

/** One sync image this process is copying. */
interface ImageEntry {
  operationId: string;
  index: number;
  leaseVersion: number;
  controller: AbortController;
  /** The lease was lost: write nothing (another replica owns the image now). */
  abandoned: boolean;
  /** The sync stopped (cancelled, failed, handed back): record the image as aborted. */
  stopped: boolean;
}

/** What the worker reports to metrics. */
export interface WorkerObserver {
  claimed(claim: Claim, latencySeconds: number): void;
}

export interface WorkerDeps {
  store: OperationStore;
  hub: OperationEventHub;
  settings: OperationsSettings;
  box: SecretBox;
  logger: Logger;
  /** Inline credentials this process holds in memory (no key configured), by operation id. */
  memorySecrets: Map<string, TransferSecrets>;
  observer?: WorkerObserver;
  /** Sync images copied at once by this process (SKIFF_SYNC_CONCURRENCY). */
  imageSlots: number;
  /** Wait for / announce the end of a sync's image (the service routes signals). */
  imageChanged(operationId: string, ms: number, signal: AbortSignal): Promise<void>;
  imageDone(operationId: string): void;
}

/**
 * Claim, lease, run, settle: takes operations from the shared queue, at most
 * `maxConcurrent` at once, and runs them through the registered runners.
 *
 * Contracts:
 * - Work is claimed when this process submits, when another replica signals `queued`, when a
 *   run ends, and every third of a lease (which is also when leases are renewed and lapsed
 *   ones taken over). Nothing polls faster.
 * - Every write of a run names its lease version: a run whose lease was taken over writes
 *   nothing more and is aborted when the renewal notices.
 * - A renewal that cannot reach the store for a whole lease aborts the runs (another replica
 *   may take them over); one that finds an operation `cancelling` aborts it as cancelled.
 * - A run claimed with more attempts than allowed, or past its deadline, fails without running;
 *   one whose inline credentials are gone fails with CREDENTIALS_UNAVAILABLE.
 * - Runs start outside any request's async context.
 */
export class OperationWorker {
  private readonly runners = new Map<OperationKind, OperationRunner<OperationKind>>();
  private readonly running = new Map<string, RunEntry>();
  private readonly images = new Map<string, ImageEntry>();
  /** The syncs whose images run here (syncOf), by operation id. */
  private readonly imageSyncs = new Map<string, Promise<StoredOperation | undefined>>();
  private imageRunner: SyncImageRunner | undefined;
  private pumpingImages = false;
  /** The last claim of sync images found fewer than it asked for (see pumpImages). */
  private noImagesLeft = false;
  private pumpImagesAgain = false;
  private started = false;
  private stopped = false;
  private pumping = false;
  private pumpAgain = false;
  private tick: NodeJS.Timeout | undefined;
  private lastRenewal = Date.now();
  private readonly outsideRequests = AsyncLocalStorage.snapshot();

  constructor(private readonly deps: WorkerDeps) {}

  get runningCount(): number {
    return this.running.size;
  }

  register<K extends OperationKind>(runner: OperationRunner<K>): void {
    if (this.runners.has(runner.kind)) throw new Error(`a runner for operations of kind "${runner.kind}" is already registered`);
    this.runners.set(runner.kind, runner as unknown as OperationRunner<OperationKind>);
  }

  registerImageRunner(runner: SyncImageRunner): void {
    this.imageRunner = runner;
  }

  hasRunner(kind: OperationKind): boolean {
    return this.runners.has(kind);
  }

  private get leaseMs(): number {
    return this.deps.settings.leaseSeconds * 1000;
  }

  start(): void {
    this.started = true;
    this.tick = setInterval(() => this.outsideRequests(() => void this.renewAndPump()), Math.max(500, Math.floor(this.leaseMs / 3)));
    this.tick.unref();
    this.pump();
  }

  /** Claims work (operations, then sync images) while slots are free. Safe to call any time; calls coalesce. */
  pump(): void {
    this.pumpImages();
    if (!this.started || this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.outsideRequests(async () => {
      try {
        do {
          this.pumpAgain = false;
          while (!this.stopped && this.running.size < this.deps.settings.maxConcurrent) {
            const claim = await this.deps.store.claim({ owner: this.deps.settings.replicaId, leaseMs: this.leaseMs, deadlineMs: this.deps.settings.deadlineSeconds * 1000 });
            if (!claim) break;
            await this.begin(claim);
          }
        } while (this.pumpAgain && !this.stopped);
      } catch (e) {
        this.deps.logger.warn({ err: e }, 'the operations worker could not claim work; it retries at the next tick');
      } finally {
        this.pumping = false;
      }
    });
  }

  /**
   * Claims sync images while image slots are free. After an image's end (`afterImage`) it
   * does not ask again once a claim found no more images: new ones come with a signal (images
   * added here or by another replica: pump()), lapsed leases with the tick.
   */
  private pumpImages(opts: { afterImage?: boolean } = {}): void {
    if (!this.started || this.stopped || !this.imageRunner) return;
    if (!opts.afterImage) this.noImagesLeft = false;
    else if (this.noImagesLeft) return;
    if (this.pumpingImages) {
      this.pumpImagesAgain = true;
      return;
    }
    this.pumpingImages = true;
    void this.outsideRequests(async () => {
      try {
        do {
          this.pumpImagesAgain = false;
          while (!this.stopped && this.images.size < this.deps.imageSlots) {
            // Every free slot in one transaction (a sync's first wave, or the slot an image left).
            const free = this.deps.imageSlots - this.images.size;
            const claims = await this.deps.store.claimSyncImages(this.deps.settings.replicaId, this.leaseMs, free);
            for (const claim of claims) this.startImage(claim);
            if (claims.length < free) {
              if (!this.pumpImagesAgain) this.noImagesLeft = true;
              break;
            }
          }
        } while (this.pumpImagesAgain && !this.stopped);
      } catch (e) {
        this.deps.logger.warn({ err: e }, 'the operations worker could not claim sync images; it retries at the next tick');
      } finally {
        this.pumpingImages = false;
      }
    });
  }

  private startImage(claim: SyncImageClaim): void {
    const { image } = claim;
    const entry: ImageEntry = { operationId: image.operationId, index: image.index, leaseVersion: claim.leaseVersion, controller: new AbortController(), abandoned: false, stopped: false };
    const key = `${image.operationId}#${image.index}`;
    const stale = this.images.get(key);
    if (stale) this.abandonImage(stale, 'this replica claimed the image again after its lease lapsed');
    this.images.set(key, entry);
    void (async () => {
      let outcome: Awaited<ReturnType<SyncImageRunner>>;
      try {
        // The claim found the sync running; its request, owner and secrets never change.
        const op = await this.syncOf(image.operationId);
        if (!op || op.kind !== 'sync') throw new AbortedError('the sync is no longer running');
        let secrets: TransferSecrets | undefined;
        if (op.hadSecrets) {
          secrets = op.sealedSecrets ? this.deps.box.open<TransferSecrets>(op.sealedSecrets, op.id) : this.deps.memorySecrets.get(op.id);
          if (!secrets) throw new CredentialsUnavailableError();
        }
        outcome = await this.imageRunner!({ image, request: op.request, owner: op.owner, secrets, signal: entry.controller.signal });
      } catch (e) {
        outcome = { state: 'failed', destination: image.destination, error: operationErrorOf(e) };
      }
      if (this.images.get(key) === entry) this.images.delete(key);
      this.forgetSync(image.operationId);
      if (!entry.abandoned) {
        try {
          await this.deps.store.finishSyncImage(image.operationId, image.index, entry.leaseVersion, outcome);
          this.deps.imageDone(image.operationId);
        } catch (e) {
          this.deps.logger.warn({ operationId: image.operationId, index: image.index, err: e }, 'could not record the end of a sync image; it is copied again once its lease lapses');
        }
      }
      // An image's end frees an image slot, not an operation slot.
      this.pumpImages({ afterImage: true });
    })();
  }

  /** The stored sync an image belongs to, read once while any of its images runs here. */
  private syncOf(operationId: string): Promise<StoredOperation | undefined> {
    let op = this.imageSyncs.get(operationId);
    if (!op) {
      op = this.deps.store.get(operationId);
      this.imageSyncs.set(operationId, op);
      op.then((found) => {
        if (!found) this.imageSyncs.delete(operationId);
      }, () => this.imageSyncs.delete(operationId));
    }
    return op;
  }

  /** Drops the sync read by syncOf() once none of its images runs here. */
  private forgetSync(operationId: string): void {
    for (const image of this.images.values()) if (image.operationId === operationId) return;
    this.imageSyncs.delete(operationId);
  }

  /** Stops an image: `lease-lost` writes nothing; `stopped` records it as aborted. */
  private abandonImage(entry: ImageEntry, why: string, kind: 'lease-lost' | 'stopped' = 'lease-lost'): void {
    if (entry.abandoned || entry.stopped) return;
    if (kind === 'lease-lost') entry.abandoned = true;
    else entry.stopped = true;
    entry.controller.abort(new AbortedError(why));
  }

  /** The facility a sync run uses to spread its images over the fleet. */
  private imageTasks(op: StoredOperation, signal: AbortSignal): SyncImageTasks {
    const store = this.deps.store;
    const me = this.deps.settings.replicaId;
    return {
      secretsPinned: op.hadSecrets && !op.sealedSecrets,
      planned: async () => {
        const c = await store.countSyncImages(op.id);
        return c.pending + c.running + c.copied + c.skipped + c.failed + c.planned;
      },
      add: async (images, options) => {
        await store.addSyncImages(op.id, images, options.pinned ? me : undefined);
        this.pump();
        await store.signal({ type: 'queued' }).catch(() => undefined);
      },
      repin: () => store.repinSyncImages(op.id, me),
      counts: () => store.countSyncImages(op.id),
      list: (filter) => store.listSyncImages(op.id, filter),
      dropPending: async () => {
        await store.dropPendingSyncImages(op.id);
      },
      changed: (ms) => this.deps.imageChanged(op.id, ms, signal),
    };
  }

  /** A cancel reached this replica (its own API or another's signal): abort the run if it is here. */
  cancelLocal(id: string): void {
    for (const image of this.images.values()) if (image.operationId === id) this.abandonImage(image, 'the sync was cancelled', 'stopped');
    const entry = this.running.get(id);
    if (!entry || entry.reason) return;
    entry.reason = 'cancel';
    this.deps.logger.log({ operationId: id }, 'cancelling running operation');
    entry.controller.abort(new AbortedError('the operation was cancelled'));
  }

  private async renewAndPump(): Promise<void> {
    if (this.stopped) return;
    try {
      const held = await this.deps.store.renew(this.deps.settings.replicaId, this.leaseMs);
      this.lastRenewal = Date.now();
      const byId = new Map(held.map((h) => [h.id, h]));
      for (const entry of this.running.values()) {
        const status = byId.get(entry.id);
        if (!status || status.leaseVersion !== entry.leaseVersion) this.leaseLost(entry, 'another replica took it over');
        else if (status.state === 'cancelling') this.cancelLocal(entry.id);
      }
      // A lease this replica holds for a run it no longer has (stopped after the lease seemed
      // lost, or whose end could not be recorded) would be renewed here for ever, and nobody
      // would run the operation again: it lapses instead. Not while a claim may be between
      // its commit and its run starting here.
      if (!this.pumping) {
        for (const status of held) {
          if (status.state === 'queued') continue;
          const entry = this.running.get(status.id);
          if (entry && entry.leaseVersion === status.leaseVersion && entry.reason !== 'lease-lost') continue;
          if (await this.deps.store.lapseLease(status.id, status.leaseVersion)) {
            this.deps.logger.warn({ operationId: status.id }, 'released the lease of an operation this replica no longer runs; it runs again');
          }
        }
      }
      // Only the images a live run here works on: an image lease this replica holds for a run
      // it no longer has (abandoned after renewals failed, or whose end could not be recorded)
      // lapses, and another claimer copies the image.
      if (this.images.size > 0) {
        const live = [...this.images.values()].filter((e) => !e.abandoned).map((e) => ({ operationId: e.operationId, index: e.index, leaseVersion: e.leaseVersion }));
        const imageLeases = await this.deps.store.renewSyncImages(this.deps.settings.replicaId, this.leaseMs, live);
        const byKey = new Map(imageLeases.map((l) => [`${l.operationId}#${l.index}`, l]));
        for (const [key, entry] of this.images) {
          const lease = byKey.get(key);
          if (!lease || lease.leaseVersion !== entry.leaseVersion) this.abandonImage(entry, "the image's lease was lost");
          else if (lease.syncState !== 'running') this.abandonImage(entry, 'the sync stopped', 'stopped');
        }
      }
    } catch (e) {
      const silentMs = Date.now() - this.lastRenewal;
      this.deps.logger.warn({ err: e }, `could not renew leases (last renewed ${Math.round(silentMs / 1000)} s ago)`);
      if (silentMs >= this.leaseMs) {
        for (const entry of this.running.values()) this.leaseLost(entry, 'its lease could not be renewed for a whole lease period');
        for (const image of this.images.values()) this.abandonImage(image, "the image's lease could not be renewed");
      }
    }
    this.pump();
  }

  private leaseLost(entry: RunEntry, why: string): void {
    if (entry.reason === 'lease-lost') return;
    entry.reason = 'lease-lost';
    this.deps.logger.warn({ operationId: entry.id }, `lost the lease of a running operation (${why}); stopping it here`);
    entry.controller.abort(new AbortedError(`the operation's lease was lost (${why})`));
  }

  private publish(id: string, events: readonly OperationEvent[]): void {
    this.deps.hub.publish(id, events);
  }

  /** Starts a claimed operation, or settles it at once when it must not run. */
  private async begin(claim: Claim): Promise<void> {
    const op = claim.operation;
    const version = claim.leaseVersion;
    this.publish(op.id, [claim.event]);
    const latency = Math.max(0, (Date.now() - Date.parse(op.createdAt)) / 1000);
    this.deps.observer?.claimed(claim, latency);
    if (claim.takeover) this.deps.logger.warn({ operationId: op.id, previousReplica: claim.previousOwner, attempt: op.attempts }, 'took over an operation whose replica stopped renewing its lease');
    const cond: TransitionCondition = { states: ['running', 'cancelling'], leaseVersion: version };
    if (op.state === 'cancelling') {
      await this.finish(op.id, this.cancelledPatch(op.progress), cond);
      return;
    }
    if (op.attempts > this.deps.settings.maxAttempts) {
      const last = op.lastError ?? { code: 'ABORTED', message: 'its runs were interrupted' };
      const error: OperationError = { ...last, message: `gave up after ${op.attempts - 1} attempts: ${last.message}`, retryable: false };
      await this.finish(op.id, this.failedPatch(error, op.progress), cond);
      return;
    }
    if (op.deadlineAt && Date.parse(op.deadlineAt) <= Date.now()) {
      await this.finish(op.id, this.failedPatch(operationErrorOf(new DeadlineExceededError(this.deps.settings.deadlineSeconds)), op.progress), cond);
      return;
    }
    const runner = this.runners.get(op.kind);
    if (!runner) {
      await this.finish(op.id, this.failedPatch(operationErrorOf(new DomainError('OPERATION_NOT_SUPPORTED', `this service has no runner for operations of kind "${op.kind}"`)), op.progress), cond);
      return;
    }
    let secrets: TransferSecrets | undefined;
    if (op.hadSecrets) {
      try {
        secrets = op.sealedSecrets ? this.deps.box.open<TransferSecrets>(op.sealedSecrets, op.id) : this.deps.memorySecrets.get(op.id);
      } catch (e) {
        await this.finish(op.id, this.failedPatch(operationErrorOf(e), op.progress), cond);
        return;
      }
      if (!secrets) {
        await this.finish(op.id, this.failedPatch(operationErrorOf(new CredentialsUnavailableError()), op.progress), cond);
        return;
      }
    }
    this.startRun(op, version, runner, secrets);
  }

  private startRun(op: StoredOperation, version: number, runner: OperationRunner<OperationKind>, secrets: TransferSecrets | undefined): void {
    const entry: RunEntry = {
      id: op.id,
      kind: op.kind,
      leaseVersion: version,
      controller: new AbortController(),
      progress: emptyProgress('starting'),
      dirty: false,
      lastFlush: 0,
      detached: false,
      deadlineSeconds: this.deps.settings.deadlineSeconds,
      done: Promise.resolve(),
    };
    // This replica may claim again an operation it still runs (its own lease lapsed before a
    // renewal noticed): the older run is stale, its writes are fenced; stop it here too.
    const stale = this.running.get(op.id);
    if (stale) this.leaseLost(stale, 'this replica claimed it again after its lease lapsed');
    this.running.set(op.id, entry);
    if (op.deadlineAt) {
      const ms = Date.parse(op.deadlineAt) - Date.now();
      entry.deadlineTimer = setTimeout(() => {
        if (entry.reason) return;
        entry.reason = 'deadline';
        entry.controller.abort(new DeadlineExceededError(entry.deadlineSeconds));
      }, Math.min(Math.max(ms, 0), 2_147_483_647));
      entry.deadlineTimer.unref();
    }
    this.deps.logger.log({ operationId: op.id, kind: op.kind, attempt: op.attempts, replicaId: this.deps.settings.replicaId }, 'operation started');
    const ctx: OperationRunContext = {
      operationId: op.id,
      owner: op.owner,
      signal: entry.controller.signal,
      secrets,
      progress: (update) => this.reportProgress(entry, update),
      ...(op.kind === 'sync' ? { images: this.imageTasks(op, entry.controller.signal) } : {}),
    };
    entry.done = Promise.resolve()
      .then(() => runner.run(op.request, ctx))
      .then(
        (result): Outcome => ({ ok: true, result }),
        (error: unknown): Outcome => ({ ok: false, error }),
      )
      .then((outcome) => this.settle(entry, outcome));
  }

  private reportProgress(entry: RunEntry, update: Partial<TransferProgress>): void {
    if (entry.detached || entry.reason === 'lease-lost') return;
    for (const key of PROGRESS_KEYS) {
      const value = update[key];
      if (value !== undefined) (entry.progress as unknown as Record<string, unknown>)[key] = value;
    }
    entry.dirty = true;
    const wait = PROGRESS_INTERVAL_MS - (Date.now() - entry.lastFlush);
    if (wait <= 0) void this.flushProgress(entry);
    else if (!entry.timer) {
      entry.timer = setTimeout(() => void this.flushProgress(entry), wait);
      entry.timer.unref();
    }
  }

  /** Writes pending progress (fenced) and publishes it. Never throws; one write at a time per run. */
  private flushProgress(entry: RunEntry): Promise<void> {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.flushing) return entry.flushing.then(() => (entry.dirty ? this.flushProgress(entry) : undefined));
    if (!entry.dirty) return Promise.resolve();
    entry.dirty = false;
    entry.lastFlush = Date.now();
    const progress = { ...entry.progress };
    entry.flushing = this.deps.store
      .recordProgress(entry.id, entry.leaseVersion, progress)
      .then((event) => {
        if (event) this.publish(entry.id, [event]);
      })
      .catch((e: unknown) => {
        entry.dirty = true;
        this.deps.logger.warn({ operationId: entry.id, err: e }, 'could not record progress');
      })
      .finally(() => {
        entry.flushing = undefined;
      });
    return entry.flushing;
  }

  private cancelledPatch(progress: TransferProgress, result?: OperationResult): OperationPatch {
    return { state: 'cancelled', finishedAt: new Date().toISOString(), progress: { ...progress, phase: 'cancelled' }, sealedSecrets: null, lease: null, ...(result ? { result } : {}) };
  }

  private failedPatch(error: OperationError, progress: TransferProgress, result?: OperationResult): OperationPatch {
    return { state: 'failed', finishedAt: new Date().toISOString(), progress: { ...progress, phase: 'failed' }, error, sealedSecrets: null, lease: null, ...(result ? { result } : {}) };
  }

  /** Back to `queued` for another replica (or the next start): not counted as an attempt. */
  private releasePatch(): OperationPatch {
    return { state: 'queued', startedAt: null, finishedAt: null, progress: emptyProgress('queued'), lease: null, attemptsDelta: -1 };
  }

  /**
   * Writes how an operation ended, retrying while the store is unreachable (for up to a lease:
   * after that another replica may have taken it over). Never throws.
   */
  private async finish(id: string, patch: OperationPatch, cond: TransitionCondition): Promise<Operation | undefined> {
    const until = Date.now() + this.leaseMs;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const out = await this.deps.store.transition(id, patch, cond);
        if (out) this.publish(id, out.events);
        if (patch.state && patch.state !== 'queued') this.deps.memorySecrets.delete(id);
        return out?.operation;
      } catch (e) {
        if (Date.now() + delay > until || this.stopped) {
          this.deps.logger.error({ operationId: id, err: e }, 'could not record the end of an operation; another replica (or the next start) takes it over when its lease lapses');
          return undefined;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async settle(entry: RunEntry, outcome: Outcome): Promise<void> {
    clearTimeout(entry.timer);
    clearTimeout(entry.deadlineTimer);
    if (entry.detached) return;
    if (this.running.get(entry.id) === entry) this.running.delete(entry.id);
    try {
      if (entry.reason === 'lease-lost') return;
      await this.flushProgress(entry);
      const cond: TransitionCondition = { states: ['running', 'cancelling'], leaseVersion: entry.leaseVersion };
      if (entry.reason === 'cancel') {
        if (entry.kind === 'sync') await this.deps.store.dropPendingSyncImages(entry.id).catch(() => undefined);
        await this.finish(entry.id, this.cancelledPatch(entry.progress, outcome.ok ? outcome.result : undefined), cond);
        this.deps.logger.log({ operationId: entry.id }, 'operation cancelled');
      } else if (entry.reason === 'shutdown' && !outcome.ok) {
        await this.finish(entry.id, this.releasePatch(), cond);
        this.deps.logger.warn({ operationId: entry.id }, 'operation handed back at shutdown: another replica (or the next start) runs it');
      } else if (outcome.ok) {
        await this.finish(entry.id, { state: 'succeeded', finishedAt: new Date().toISOString(), progress: { ...entry.progress, phase: 'done' }, result: outcome.result, sealedSecrets: null, lease: null }, cond);
        this.deps.logger.log({ operationId: entry.id, kind: entry.kind }, 'operation succeeded');
      } else {
        const error = entry.reason === 'deadline' ? new DeadlineExceededError(entry.deadlineSeconds) : outcome.error;
        const problem = operationErrorOf(error);
        if (!(error instanceof DomainError)) this.deps.logger.error({ operationId: entry.id, err: error }, 'operation failed with an unexpected error');
        else this.deps.logger.warn({ operationId: entry.id, code: problem.code }, `operation failed: ${problem.message}`);
        await this.finish(entry.id, this.failedPatch(problem, entry.progress, partialResultOf(error)), cond);
      }
    } finally {
      this.pump();
    }
  }

  /**
   * Stops: claims nothing more, lets runs finish for up to `graceMs`, then aborts them and
   * hands them back (queued; those being cancelled end cancelled), without waiting for their
   * leases to lapse.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.tick);
    // Sync images are short and idempotent: hand them back at once (their leases lapse, or the
    // next start expires them) rather than hold the shutdown.
    for (const image of this.images.values()) this.abandonImage(image, 'the service is shutting down');
    if (this.running.size > 0 && graceMs > 0) {
      this.deps.logger.log({ running: [...this.running.keys()] }, `waiting up to ${graceMs / 1000}s for running operations`);
      await settledWithin([...this.running.values()].map((e) => e.done), graceMs);
    }
    const interrupted = [...this.running.values()];
    for (const entry of interrupted) {
      if (!entry.reason) entry.reason = 'shutdown';
      entry.controller.abort(new AbortedError('the service is shutting down; the operation is handed back to run again'));
    }
    if (interrupted.length > 0) await settledWithin(interrupted.map((e) => e.done), ABORT_SETTLE_MS);
    for (const entry of [...this.running.values()]) {
      this.deps.logger.error({ operationId: entry.id }, 'operation did not stop after abort; it is handed back without it');
      entry.detached = true;
      this.running.delete(entry.id);
      clearTimeout(entry.timer);
      clearTimeout(entry.deadlineTimer);
      const cond: TransitionCondition = { states: ['running', 'cancelling'], leaseVersion: entry.leaseVersion };
      await this.finish(entry.id, entry.reason === 'cancel' ? this.cancelledPatch(entry.progress) : this.releasePatch(), cond);
    }
  }
}

/** Resolves when every promise has settled or after `ms`, whichever is first. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(promises), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
