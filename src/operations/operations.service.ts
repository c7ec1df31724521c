import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig, type OperationsSettings } from '../config/app-config';
import { AbortedError, DomainError, InvalidArgumentError } from '../errors/domain-error';
import { problemFromError } from '../http/problem';
import type { Principal } from '../auth/principal';
import { CredentialsUnavailableError, IdempotencyKeyReusedError, OperationConflictError, OperationNotFoundError } from './operation-errors';
import { newOperationId, OPERATION_ID_PATTERN } from './operation-id';
import {
  emptyProgress,
  FINISHED_STATES,
  type Operation,
  type OperationKind,
  type OperationProgress,
  type OperationRunContext,
  type OperationRunner,
  type OperationState,
  partialResultOf,
} from './operation-runner';
import { IdempotencyKeyTakenError, type OperationEvent, type OperationPatch, OperationStore, publicOperation, type StoredOperation } from './operation-store';

export type { OperationEvent } from './operation-store';

/** What a feature hands to `submit`. */
export interface OperationSubmission {
  kind: OperationKind;
  /** The request without secrets: stored, hashed for idempotency and echoed as `request`. */
  request: Record<string, unknown>;
  /**
   * Secrets of the request (sourceAuth/destinationAuth). Held in memory until the operation
   * finishes and passed to the runner; never stored, never echoed, never part of the hash.
   */
  secrets?: Record<string, unknown>;
  /** The client's Idempotency-Key, already validated (see SubmitPreferences). */
  idempotencyKey?: string;
  /**
   * Who submitted it. Its name reaches the runner (OperationRunContext.principal), which acts in
   * that principal's name (e.g. which stored credentials it may use). Kept in memory only until
   * operation ownership is stored with the operation.
   */
  principal?: Principal;
}

export interface SubmitResult {
  operation: Operation;
  /** False when the Idempotency-Key named an existing operation made from the same request. */
  created: boolean;
}

export interface ListOperationsQuery {
  state?: OperationState;
  kind?: OperationKind;
  /** 1..500, default 50. */
  pageSize?: number;
  /** `nextPageToken` of the previous page. */
  pageToken?: string;
}

export interface OperationPage {
  operations: Operation[];
  /** Present when there are more (older) operations. */
  nextPageToken?: string;
}

export interface EventStreamOptions {
  /**
   * Resume after this event (the SSE `Last-Event-ID`): stored events with a higher seq are
   * replayed first. Without it (or when it is ahead of the log) the stream opens with a
   * `state` event carrying the current Operation, whose seq is that of the latest event.
   */
  afterSeq?: number;
  /** Ends the stream (e.g. the client went away). */
  signal?: AbortSignal;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** Longest wait of `waitFor` through the API (`waitSeconds`, `Prefer: wait`). */
export const MAX_WAIT_SECONDS = 300;
/** Progress is written and streamed at most this often per operation (and at every state change). */
const PROGRESS_INTERVAL_MS = 250;
/** After aborting runs at shutdown, how long they may take to unwind before their state is forced. */
const ABORT_SETTLE_MS = 5000;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const PROGRESS_KEYS = Object.keys(emptyProgress()) as (keyof OperationProgress)[];

export function isFinished(state: OperationState): boolean {
  return FINISHED_STATES.includes(state);
}

/** JSON with object keys sorted and undefined members dropped: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map((v) => canonicalJson(v === undefined ? null : v)).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(obj[k])).join(',') + '}';
  }
  return JSON.stringify(value) ?? 'null';
}

/** The idempotency fingerprint of a submission: sha256 of the canonical JSON of (kind, request). */
export function requestHash(kind: OperationKind, request: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson({ kind, request })).digest('hex');
}

function encodePageToken(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  const id = /^[A-Za-z0-9_-]{1,64}$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!OPERATION_ID_PATTERN.test(id)) throw new InvalidArgumentError('pageToken is not a token this service issued');
  return id;
}

type Outcome = { ok: true; result: Record<string, unknown> } | { ok: false; error: unknown };

/** The in-memory side of one running operation. */
interface RunEntry {
  id: string;
  kind: OperationKind;
  controller: AbortController;
  progress: OperationProgress;
  /** progress changed since it was last written. */
  dirty: boolean;
  lastFlush: number;
  timer?: NodeJS.Timeout;
  cancelRequested: boolean;
  /** Aborted because the service stops: a failure puts it back to queued. */
  shutdownRequested: boolean;
  /** Shutdown gave up waiting and wrote its state; whatever the run does later is ignored. */
  detached: boolean;
  settled: boolean;
  done: Promise<void>;
}

/** Receives each event of one operation as it is stored; `null` = no more (forgotten, or the service stops). */
type Watcher = (event: OperationEvent | null) => void;

/**
 * The operations machinery: accepts submissions, runs them through the registered runners
 * with bounded concurrency (FIFO), records state, progress and events in the OperationStore
 * and lets callers wait for and follow them.
 *
 * Contracts:
 * - States move only `queued → running → succeeded | failed`, `queued → cancelled`,
 *   `running → cancelling → cancelled` (and back to `queued` when a restart or shutdown
 *   interrupts a run). Every change is one store transaction that also appends a `state`
 *   event carrying the whole Operation (a `result` event precedes `state: succeeded`).
 * - Runners are registered by features during module init; the worker starts at application
 *   bootstrap, after every runner is in place.
 * - Secrets stay in this process's memory only; an operation that had secrets cannot run
 *   after a restart and fails with CREDENTIALS_UNAVAILABLE.
 * - One process runs the worker for a data directory.
 */
@Injectable()
export class OperationsService implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Operations');
  private readonly settings: OperationsSettings;
  private readonly runners = new Map<OperationKind, OperationRunner>();
  private readonly secrets = new Map<string, Record<string, unknown>>();
  /** Who submitted each unfinished operation (by name), for its runner; see OperationSubmission.principal. */
  private readonly submitters = new Map<string, string>();
  private readonly running = new Map<string, RunEntry>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  /** Aborted once shutdown has drained the worker: ends every stream and wait. */
  private readonly closing = new AbortController();
  private started = false;
  /** Set when shutdown begins: nothing new starts. */
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private pumpScheduled = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  /**
   * Runs a function in the async context the service was created in, so runs started while a
   * request is being served do not inherit that request's context (e.g. its log bindings).
   */
  private readonly outsideRequests = AsyncLocalStorage.snapshot();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly store: OperationStore,
  ) {
    this.settings = config.operations;
  }

  /** Readiness: the store answers a query. Undefined when fine, else why not. */
  storeProblem(): string | undefined {
    try {
      this.store.ping();
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  /** Makes `runner` run the operations of its kind. One runner per kind. */
  registerRunner(runner: OperationRunner): void {
    if (this.runners.has(runner.kind)) throw new Error(`a runner for operations of kind "${runner.kind}" is already registered`);
    this.runners.set(runner.kind, runner);
    this.schedulePump();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Recovers what a dead process left behind and prunes old operations (before any request). */
  onModuleInit(): void {
    this.recover();
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  /** Starts the worker (every feature has registered its runner by now). */
  onApplicationBootstrap(): void {
    this.started = true;
    this.schedulePump();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.stop();
  }

  onApplicationShutdown(): void {
    clearInterval(this.pruneTimer);
    for (const entry of this.running.values()) clearTimeout(entry.timer);
    this.store.close();
  }

  /**
   * Stops the worker: starts nothing new, lets running operations finish for up to the grace
   * period, then aborts them and puts them back to `queued` (those being cancelled end as
   * `cancelled`), so they run again at the next start. Then ends every event stream and wait.
   * Submissions are still accepted meanwhile; they stay queued.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pruneTimer);
    const graceMs = this.settings.shutdownGraceSeconds * 1000;
    if (this.running.size > 0 && graceMs > 0) {
      this.logger.log({ running: [...this.running.keys()] }, `waiting up to ${this.settings.shutdownGraceSeconds}s for running operations`);
      await settledWithin([...this.running.values()].map((e) => e.done), graceMs);
    }
    const interrupted = [...this.running.values()];
    for (const entry of interrupted) {
      entry.shutdownRequested = true;
      this.logger.warn({ operationId: entry.id }, 'operation interrupted by shutdown; it runs again at the next start');
      entry.controller.abort(new AbortedError('the service is shutting down; the operation runs again at the next start'));
    }
    if (interrupted.length > 0) await settledWithin(interrupted.map((e) => e.done), ABORT_SETTLE_MS);
    for (const entry of [...this.running.values()]) {
      this.logger.error({ operationId: entry.id }, 'operation did not stop after abort; its state is written without it');
      entry.detached = true;
      this.running.delete(entry.id);
      clearTimeout(entry.timer);
      this.flushProgress(entry);
      if (entry.cancelRequested) this.finishCancelled(entry.id, entry.progress);
      else this.requeue(entry.id);
    }
    this.closing.abort();
  }

  // ---- submissions and queries -------------------------------------------------------------

  /**
   * Records a new operation as `queued` (it starts when a worker slot is free), or, when
   * `idempotencyKey` already names an operation made from the same (kind, request), returns
   * that one. The same key with a different request is IDEMPOTENCY_KEY_REUSED.
   */
  async submit(submission: OperationSubmission): Promise<SubmitResult> {
    const { kind, idempotencyKey } = submission;
    if (!this.runners.has(kind)) throw new Error(`no runner is registered for operations of kind "${kind}"`);
    const request = JSON.parse(JSON.stringify(submission.request)) as Record<string, unknown>;
    const hash = requestHash(kind, request);
    const secrets = submission.secrets && Object.keys(submission.secrets).length > 0 ? submission.secrets : undefined;
    for (let attempt = 0; ; attempt++) {
      if (idempotencyKey !== undefined) {
        const existing = this.store.findByIdempotencyKey(idempotencyKey);
        if (existing) {
          if (existing.requestHash !== hash) throw new IdempotencyKeyReusedError(existing.id);
          return { operation: publicOperation(existing), created: false };
        }
      }
      const now = new Date().toISOString();
      const op: StoredOperation = {
        id: newOperationId(),
        kind,
        state: 'queued',
        createdAt: now,
        request,
        progress: emptyProgress('queued'),
        idempotencyKey,
        requestHash: hash,
        hadSecrets: secrets !== undefined,
      };
      let event: OperationEvent;
      try {
        event = this.store.transaction(() => {
          this.store.insert(op);
          return this.store.appendEvent(op.id, 'state', publicOperation(op), now);
        });
      } catch (e) {
        // Another process took the key between the lookup and the insert: answer as for a retry.
        if (e instanceof IdempotencyKeyTakenError && attempt === 0) continue;
        throw e;
      }
      if (secrets) this.secrets.set(op.id, secrets);
      if (submission.principal) this.submitters.set(op.id, submission.principal.name);
      this.publish(op.id, event);
      this.logger.log({ operationId: op.id, kind }, 'operation queued');
      this.schedulePump();
      return { operation: publicOperation(op), created: true };
    }
  }

  async get(id: string): Promise<Operation> {
    return publicOperation(this.getStored(id));
  }

  /**
   * The operation once it has finished, or as it is when `seconds` have passed, `signal` is
   * aborted or the service stops, whichever comes first.
   */
  async waitFor(id: string, seconds: number, signal?: AbortSignal): Promise<Operation> {
    const op = this.getStored(id);
    if (isFinished(op.state) || seconds <= 0 || signal?.aborted || this.closing.signal.aborted) return publicOperation(op);
    let last: Operation = publicOperation(op);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.unwatch(id, watcher);
        signal?.removeEventListener('abort', done);
        this.closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const watcher: Watcher = (event) => {
        if (event?.type === 'state') last = event.data as Operation;
        if (event === null || isFinished(last.state)) done();
      };
      const timer = setTimeout(done, seconds * 1000);
      this.watch(id, watcher);
      signal?.addEventListener('abort', done, { once: true });
      this.closing.signal.addEventListener('abort', done, { once: true });
    });
    const now = this.store.isOpen ? this.store.get(id) : undefined;
    return now ? publicOperation(now) : last;
  }

  /** Newest first; `nextPageToken` continues after the last one of this page. */
  async list(query: ListOperationsQuery = {}): Promise<OperationPage> {
    const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new InvalidArgumentError(`pageSize must be an integer between 1 and ${MAX_PAGE_SIZE}`);
    }
    const beforeId = query.pageToken === undefined ? undefined : decodePageToken(query.pageToken);
    const rows = this.store.list({ state: query.state, kind: query.kind, beforeId, limit: pageSize + 1 });
    const page: OperationPage = { operations: rows.slice(0, pageSize).map(publicOperation) };
    if (rows.length > pageSize) page.nextPageToken = encodePageToken(rows[pageSize - 1]!.id);
    return page;
  }

  /**
   * Cancels: a queued operation becomes `cancelled` at once; a running one becomes
   * `cancelling`, its signal is aborted at once, and it becomes `cancelled` when its run has
   * unwound. Cancelling a `cancelling` operation changes nothing. A finished one is a conflict.
   */
  async cancel(id: string): Promise<Operation> {
    const op = this.getStored(id);
    switch (op.state) {
      case 'queued': {
        const cancelled = this.finishCancelled(id, op.progress, ['queued']);
        if (!cancelled) return this.cancel(id);
        this.logger.log({ operationId: id }, 'queued operation cancelled');
        return publicOperation(cancelled);
      }
      case 'running': {
        const entry = this.running.get(id);
        if (!entry) {
          // A running row with no run in this process (interrupted elsewhere): nothing to wait for.
          return publicOperation(this.finishCancelled(id, op.progress, ['running']) ?? this.getStored(id));
        }
        entry.cancelRequested = true;
        const cancelling = this.transition(id, { state: 'cancelling' }, ['running']);
        this.logger.log({ operationId: id }, 'cancelling running operation');
        entry.controller.abort(new AbortedError('the operation was cancelled'));
        return publicOperation(cancelling ?? this.getStored(id));
      }
      case 'cancelling':
        return publicOperation(op);
      default:
        throw new OperationConflictError(`operation ${id} has already ${op.state === 'cancelled' ? 'been cancelled' : op.state}; only queued or running operations can be cancelled`);
    }
  }

  /** Deletes a finished operation and its events; an unfinished one is a conflict. */
  async forget(id: string): Promise<void> {
    const op = this.getStored(id);
    if (!isFinished(op.state)) {
      throw new OperationConflictError(`operation ${id} is ${op.state}; cancel it and wait until it has finished before deleting it`);
    }
    this.store.delete(id);
    this.secrets.delete(id);
    this.submitters.delete(id);
    this.endWatchers(id);
    this.logger.log({ operationId: id }, 'operation forgotten');
  }

  /**
   * The operation's events, for SSE: first what `options.afterSeq` asks for (see
   * EventStreamOptions), then each new event as it is stored. The iteration ends after the
   * final `state` event (succeeded, failed, cancelled), when the operation is forgotten, when
   * `options.signal` aborts, or when the service stops. Unknown id → OperationNotFoundError,
   * thrown here, before anything is iterated. Events stored from this call on are delivered;
   * a consumer that stops early must call `return()` (for-await does).
   */
  async events(id: string, options: EventStreamOptions = {}): Promise<AsyncIterableIterator<OperationEvent>> {
    const op = this.getStored(id);
    const queue: OperationEvent[] = [];
    let ended = this.closing.signal.aborted;
    let wake: (() => void) | undefined;
    const watcher: Watcher = (event) => {
      if (event === null) ended = true;
      else queue.push(event);
      wake?.();
    };
    const onAbort = () => {
      ended = true;
      wake?.();
    };
    // Registering and reading happen in one synchronous step: no event falls in between.
    this.watch(id, watcher);
    const lastSeq = this.store.lastSeq(id);
    const resume = options.afterSeq !== undefined && options.afterSeq <= lastSeq;
    const initial: OperationEvent[] = resume
      ? this.store.eventsAfter(id, options.afterSeq!)
      : [{ seq: lastSeq, type: 'state', data: publicOperation(op), at: new Date().toISOString() }];
    const finishedAtOpen = isFinished(op.state);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.closing.signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      this.unwatch(id, watcher);
      options.signal?.removeEventListener('abort', onAbort);
      this.closing.signal.removeEventListener('abort', onAbort);
    };
    const isFinal = (e: OperationEvent) => e.type === 'state' && isFinished((e.data as Operation).state);

    const stream = (async function* (): AsyncGenerator<OperationEvent> {
      try {
        let seen = resume ? options.afterSeq! : lastSeq;
        for (const event of initial) {
          yield event;
          seen = event.seq;
          if (isFinal(event)) return;
        }
        if (finishedAtOpen) return;
        for (;;) {
          while (queue.length > 0) {
            const event = queue.shift()!;
            if (event.seq <= seen) continue;
            yield event;
            seen = event.seq;
            if (isFinal(event)) return;
          }
          if (ended || options.signal?.aborted) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        cleanup();
      }
    })();
    // return() releases the watcher even when iteration never started (a generator's finally
    // only runs once its body has).
    const iterator: AsyncIterableIterator<OperationEvent> = {
      next: () => stream.next(),
      return: (value?: unknown) => {
        cleanup();
        return stream.return(value);
      },
      throw: (e?: unknown) => {
        cleanup();
        return stream.throw(e);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  // ---- the worker ------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled || !this.started) return;
    this.pumpScheduled = true;
    setImmediate(() =>
      this.outsideRequests(() => {
        this.pumpScheduled = false;
        this.pump();
      }),
    );
  }

  /** Starts queued operations, oldest first, while slots are free. */
  private pump(): void {
    if (!this.started || this.stopped || !this.store.isOpen) return;
    const tried = new Set<string>();
    try {
      while (this.running.size < this.settings.maxConcurrent) {
        const next = this.store.nextQueued();
        if (!next || tried.has(next.id)) return;
        tried.add(next.id);
        this.startRun(next);
      }
    } catch (e) {
      this.logger.error({ err: e }, 'the operations worker failed to start an operation; retrying shortly');
      setTimeout(() => this.schedulePump(), 1000).unref();
    }
  }

  private startRun(op: StoredOperation): void {
    const runner = this.runners.get(op.kind);
    if (!runner) {
      this.finishFailed(op.id, new DomainError('OPERATION_NOT_SUPPORTED', `this service has no runner for operations of kind "${op.kind}"`), op.progress, ['queued']);
      return;
    }
    const secrets = this.secrets.get(op.id);
    if (op.hadSecrets && !secrets) {
      this.finishFailed(op.id, new CredentialsUnavailableError(), op.progress, ['queued']);
      return;
    }
    const entry: RunEntry = {
      id: op.id,
      kind: op.kind,
      controller: new AbortController(),
      progress: emptyProgress('starting'),
      dirty: false,
      lastFlush: 0,
      cancelRequested: false,
      shutdownRequested: false,
      detached: false,
      settled: false,
      done: Promise.resolve(),
    };
    const started = this.transition(op.id, { state: 'running', startedAt: new Date().toISOString(), finishedAt: null, progress: entry.progress }, ['queued']);
    if (!started) return;
    this.running.set(op.id, entry);
    this.logger.log({ operationId: op.id, kind: op.kind }, 'operation started');
    const ctx: OperationRunContext = {
      operationId: op.id,
      signal: entry.controller.signal,
      secrets,
      hadSecrets: op.hadSecrets,
      principal: this.submitters.get(op.id),
      progress: (update) => this.reportProgress(entry, update),
    };
    entry.done = Promise.resolve()
      .then(() => runner.run(op.request, ctx))
      .then(
        (result): Outcome => ({ ok: true, result: result ?? {} }),
        (error: unknown): Outcome => ({ ok: false, error }),
      )
      .then((outcome) => this.settle(entry, outcome));
  }

  private reportProgress(entry: RunEntry, update: Partial<OperationProgress>): void {
    if (entry.settled || entry.detached) return;
    for (const key of PROGRESS_KEYS) {
      const value = update[key];
      if (value !== undefined) (entry.progress as unknown as Record<string, unknown>)[key] = value;
    }
    entry.dirty = true;
    const wait = PROGRESS_INTERVAL_MS - (Date.now() - entry.lastFlush);
    if (wait <= 0) this.flushProgress(entry);
    else if (!entry.timer) {
      entry.timer = setTimeout(() => this.flushProgress(entry), wait);
      entry.timer.unref();
    }
  }

  /** Writes pending progress and publishes it as a `progress` event. Never throws. */
  private flushProgress(entry: RunEntry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (!entry.dirty || !this.store.isOpen) return;
    entry.dirty = false;
    entry.lastFlush = Date.now();
    const progress = { ...entry.progress };
    try {
      const event = this.store.transaction(() => {
        const op = this.store.update(entry.id, { progress }, ['running', 'cancelling']);
        return op && this.store.appendEvent(entry.id, 'progress', progress, new Date().toISOString());
      });
      if (event) this.publish(entry.id, event);
    } catch (e) {
      this.logger.warn({ operationId: entry.id, err: e }, 'could not record progress');
    }
  }

  /** Records how a run ended. Never throws. */
  private settle(entry: RunEntry, outcome: Outcome): void {
    entry.settled = true;
    clearTimeout(entry.timer);
    if (entry.detached) return;
    this.running.delete(entry.id);
    try {
      if (!this.store.isOpen) return;
      this.flushProgress(entry);
      const id = entry.id;
      if (entry.cancelRequested) {
        this.finishCancelled(id, entry.progress, ['cancelling', 'running'], outcome.ok ? outcome.result : undefined);
        this.logger.log({ operationId: id }, 'operation cancelled');
      } else if (entry.shutdownRequested && !outcome.ok) {
        this.requeue(id);
      } else if (outcome.ok) {
        this.transition(id, { state: 'succeeded', finishedAt: new Date().toISOString(), progress: { ...entry.progress, phase: 'done' }, result: outcome.result }, ['running']);
        this.secrets.delete(id);
        this.submitters.delete(id);
        this.logger.log({ operationId: id, kind: entry.kind }, 'operation succeeded');
      } else {
        this.finishFailed(id, outcome.error, entry.progress, ['running']);
      }
    } catch (e) {
      this.logger.error({ operationId: entry.id, err: e }, 'could not record the end of an operation');
    } finally {
      this.schedulePump();
    }
  }

  // ---- state changes -----------------------------------------------------------------------

  /**
   * Applies `patch` (only from the `ifState` states) and appends its `state` event, preceded
   * by a `result` event when it succeeds; publishes them. Undefined when the condition failed.
   */
  private transition(id: string, patch: OperationPatch, ifState: readonly OperationState[]): StoredOperation | undefined {
    const events: OperationEvent[] = [];
    const updated = this.store.transaction(() => {
      const op = this.store.update(id, patch, ifState);
      if (!op) return undefined;
      const at = new Date().toISOString();
      if (patch.state === 'succeeded' && op.result) events.push(this.store.appendEvent(id, 'result', op.result, at));
      events.push(this.store.appendEvent(id, 'state', publicOperation(op), at));
      return op;
    });
    for (const event of events) this.publish(id, event);
    return updated;
  }

  private finishCancelled(
    id: string,
    progress: OperationProgress,
    ifState: readonly OperationState[] = ['cancelling', 'running', 'queued'],
    result?: Record<string, unknown>,
  ): StoredOperation | undefined {
    this.secrets.delete(id);
    this.submitters.delete(id);
    return this.transition(id, { state: 'cancelled', finishedAt: new Date().toISOString(), progress: { ...progress, phase: 'cancelled' }, result }, ifState);
  }

  private finishFailed(id: string, error: unknown, progress: OperationProgress, ifState: readonly OperationState[]): StoredOperation | undefined {
    this.secrets.delete(id);
    this.submitters.delete(id);
    const problem = problemFromError(error, `/v1/operations/${id}`);
    if (!(error instanceof DomainError)) {
      this.logger.error({ operationId: id, err: error }, 'operation failed with an unexpected error');
    } else {
      this.logger.warn({ operationId: id, code: problem.code }, `operation failed: ${problem.detail}`);
    }
    const result = partialResultOf(error);
    return this.transition(id, { state: 'failed', finishedAt: new Date().toISOString(), progress: { ...progress, phase: 'failed' }, error: problem, ...(result ? { result } : {}) }, ifState);
  }

  /** Back to `queued` (interrupted by shutdown or a dead process); it runs again from the start. */
  private requeue(id: string): void {
    this.transition(id, { state: 'queued', startedAt: null, finishedAt: null, progress: emptyProgress('queued') }, ['running']);
  }

  /**
   * After a process died: `cancelling` → cancelled; queued or running with inline secrets
   * (lost with the process) → failed with CREDENTIALS_UNAVAILABLE; running → queued again.
   */
  private recover(): void {
    for (const op of this.store.findByStates(['queued', 'running', 'cancelling'])) {
      if (this.running.has(op.id)) continue;
      if (op.state === 'cancelling') {
        this.finishCancelled(op.id, op.progress, ['cancelling']);
        this.logger.log({ operationId: op.id }, 'operation was being cancelled when the service stopped: cancelled');
      } else if (op.hadSecrets && !this.secrets.has(op.id)) {
        this.finishFailed(op.id, new CredentialsUnavailableError(), op.progress, ['queued', 'running']);
      } else if (op.state === 'running') {
        this.requeue(op.id);
        this.logger.log({ operationId: op.id }, 'operation was interrupted by a restart: queued to run again');
      }
    }
  }

  /** Deletes operations that finished more than the retention period ago. */
  prune(): number {
    try {
      const before = new Date(Date.now() - this.settings.retentionHours * 3_600_000).toISOString();
      const ids = this.store.pruneFinishedBefore(before);
      for (const id of ids) this.endWatchers(id);
      if (ids.length > 0) this.logger.log({ count: ids.length }, `pruned operations finished before ${before}`);
      return ids.length;
    } catch (e) {
      this.logger.error({ err: e }, 'pruning old operations failed');
      return 0;
    }
  }

  // ---- watchers ----------------------------------------------------------------------------

  private getStored(id: string): StoredOperation {
    const op = OPERATION_ID_PATTERN.test(id) ? this.store.get(id) : undefined;
    if (!op) throw new OperationNotFoundError(id);
    return op;
  }

  private watch(id: string, watcher: Watcher): void {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(watcher);
  }

  private unwatch(id: string, watcher: Watcher): void {
    const set = this.watchers.get(id);
    if (!set) return;
    set.delete(watcher);
    if (set.size === 0) this.watchers.delete(id);
  }

  private publish(id: string, event: OperationEvent): void {
    for (const watcher of [...(this.watchers.get(id) ?? [])]) watcher(event);
  }

  private endWatchers(id: string): void {
    for (const watcher of [...(this.watchers.get(id) ?? [])]) watcher(null);
  }
}

/** Resolves when every promise has settled or after `ms`, whichever is first. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(promises), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
