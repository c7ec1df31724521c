import { createHash } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { hasScope, type Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig, type OperationsSettings } from '../config/app-config';
import { emptyProgress } from '../copy-engine/transfer-progress';
import { InvalidArgumentError } from '../errors/domain-error';
import { MetricsService } from '../metrics/metrics.service';
import { SecretBox } from '../secrets/secret-box';
import type { TransferSecrets } from '../transfers/transfer-secrets';
import {
  isFinished,
  type Operation,
  type OperationDraft,
  type OperationKind,
  type OperationRunner,
  type OperationState,
  type SyncImageRunner,
} from './operation';
import { validateLabels } from './operation-labels';
import { IdempotencyKeyReusedError, OperationConflictError, OperationNotFoundError, QueueFullError, TooManyWatchersError } from './operation-errors';
import { OperationEventHub, type Watcher } from './operation-event-hub';
import { newOperationId, OPERATION_ID_PATTERN } from './operation-id';
import { publicOperation } from './operation-row';
import { OPERATION_STORE, type OperationEvent, type OperationStore, type StoreSignal, type StoredOperation } from './operation-store';
import { OperationWorker } from './operation-worker';
import { OperationsMetrics } from './operations-metrics';
import type { SyncImageRow, SyncImageTaskState } from './sync-image';

export type { OperationEvent } from './operation-store';

/** What a feature hands to `submit`. */
export interface OperationSubmission {
  principal: Principal;
  /** The kind and its request, normalised (defaults applied): stored, fingerprinted and echoed. */
  draft: OperationDraft;
  labels?: Record<string, string>;
  /** Inline credentials: sealed with the configured key, or held in this process's memory. Never echoed, never part of the fingerprint. */
  secrets?: TransferSecrets;
  /** The client's Idempotency-Key, already validated (see SubmitPreferences); unique per principal. */
  idempotencyKey?: string;
}

export interface SubmitResult {
  operation: Operation;
  /** False when the Idempotency-Key named an existing operation made from the same request. */
  created: boolean;
}

export interface ListOperationsQuery {
  state?: OperationState;
  kind?: OperationKind;
  /** `key=value` pairs that must all match. */
  labels?: readonly (readonly [string, string])[];
  createdAfter?: string;
  createdBefore?: string;
  /** 1..500, default 50. */
  pageSize?: number;
  pageToken?: string;
}

export interface OperationPage {
  operations: Operation[];
  nextPageToken?: string;
}

export interface EventStreamOptions {
  /**
   * Resume after this event (the SSE `Last-Event-ID`): stored events with a higher seq are
   * replayed first. Without it (or when it is ahead of the log) the stream opens with a
   * `state` event carrying the current Operation, whose seq is that of the latest event.
   */
  afterSeq?: number;
  signal?: AbortSignal;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** Longest wait of `waitFor` through the API (`waitSeconds`, `Prefer: wait`). */
export const MAX_WAIT_SECONDS = 300;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/**
 * Events one stream holds for a consumer that reads slower than they come (a stalled SSE
 * client); beyond it the stream drops them and reads them back from the store when the
 * consumer catches up, so a stalled stream costs bounded memory however long the run.
 */
export const MAX_QUEUED_STREAM_EVENTS = 1000;

export { isFinished };

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

/**
 * The idempotency fingerprint: sha256 of the canonical JSON of (kind, request, labels). The
 * features normalise the request first (defaults applied), so spelling a default out or leaving
 * it out gives the same fingerprint.
 */
export function requestHash(kind: OperationKind, request: unknown, labels: Record<string, string> = {}): string {
  return createHash('sha256').update(canonicalJson({ kind, request, labels })).digest('hex');
}

function encodePageToken(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  const id = /^[A-Za-z0-9_-]{1,64}$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!OPERATION_ID_PATTERN.test(id)) throw new InvalidArgumentError('pageToken is not a token this service issued');
  return id;
}

/** Counts open long-lived requests per process and per principal against their caps. */
class WatchBudget {
  private total = 0;
  private readonly byPrincipal = new Map<string, number>();

  constructor(
    private readonly what: string,
    private readonly max: number,
    private readonly maxPerPrincipal: number,
  ) {}

  /** Takes one; throws TooManyWatchersError over a cap. Returns the release function (idempotent). */
  take(principal: string): () => void {
    const mine = this.byPrincipal.get(principal) ?? 0;
    if (this.total >= this.max) throw new TooManyWatchersError(this.what, this.max, 'service');
    if (mine >= this.maxPerPrincipal) throw new TooManyWatchersError(this.what, this.maxPerPrincipal, 'principal');
    this.total++;
    this.byPrincipal.set(principal, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.byPrincipal.get(principal) ?? 1) - 1;
      if (n <= 0) this.byPrincipal.delete(principal);
      else this.byPrincipal.set(principal, n);
    };
  }
}

/**
 * The operations façade: submit, read, list, wait, cancel, forget, events. It owns the worker
 * (claim, lease, run, settle: operation-worker.ts) and the event hub (publish, replay, watch:
 * operation-event-hub.ts) over one OperationStore (SQLite or PostgreSQL).
 *
 * Contracts:
 * - States move only `queued → running → succeeded | failed`, `queued → cancelled`,
 *   `running → cancelling → cancelled`, and back to `queued` when a run is handed back
 *   (shutdown) — or taken over by another replica once its lease lapses.
 * - Any replica answers for any operation: reads come from the store, waits and streams are
 *   woken by the hub (store signals), a cancel reaches the replica running the operation.
 * - A caller sees its own operations; `operations:read-all` sees, cancels and forgets all.
 *   Anyone else's operation is OPERATION_NOT_FOUND, never FORBIDDEN (ids do not leak).
 * - Inline credentials are sealed in the store with the configured key (and erased when the
 *   operation ends), or without a key held in this process's memory only: the operation is
 *   then pinned to this replica and fails with CREDENTIALS_UNAVAILABLE if it has to run elsewhere.
 */
@Injectable()
export class OperationsService implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Operations');
  private readonly settings: OperationsSettings;
  private readonly box: SecretBox;
  private readonly memorySecrets = new Map<string, TransferSecrets>();
  private readonly hub: OperationEventHub;
  private readonly worker: OperationWorker;
  private readonly streams: WatchBudget;
  private readonly waits: WatchBudget;
  /** Aborted once shutdown has drained the worker: ends every stream and wait. */
  private readonly closing = new AbortController();
  private stopping: Promise<void> | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** Sync runs waiting for one of their images to end, by operation id. */
  private readonly imageWaiters = new Map<string, Set<() => void>>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(OPERATION_STORE) private readonly store: OperationStore,
    @Optional() metrics?: MetricsService,
  ) {
    this.settings = config.operations;
    this.box = new SecretBox(config.secretKeys);
    this.hub = new OperationEventHub(store, this.logger);
    const observer = metrics ? new OperationsMetrics(metrics.registry, store, () => this.worker.runningCount, this.settings.replicaId) : undefined;
    this.worker = new OperationWorker({
      store,
      hub: this.hub,
      settings: this.settings,
      box: this.box,
      logger: this.logger,
      memorySecrets: this.memorySecrets,
      observer,
      imageSlots: config.sync.concurrency,
      imageChanged: (id, ms, signal) => this.imageChanged(id, ms, signal),
      imageDone: (id) => {
        this.wakeImageWaiters(id);
        this.store.signal({ type: 'image', id }).catch(() => undefined);
      },
    });
    this.streams = new WatchBudget('event streams', this.settings.maxEventStreams, this.settings.maxEventStreamsPerPrincipal);
    this.waits = new WatchBudget('long-polls', this.settings.maxLongPolls, this.settings.maxLongPollsPerPrincipal);
  }

  /** The store's engine (for logs and readiness). */
  get engine(): 'sqlite' | 'postgres' {
    return this.store.engine;
  }

  /** Readiness: undefined when the store answers, else why not. */
  storeProblem(): Promise<string | undefined> {
    return this.store.health();
  }

  /** Makes `runner` copy sync images claimed by this replica. */
  registerSyncImageRunner(runner: SyncImageRunner): void {
    this.worker.registerImageRunner(runner);
    this.worker.pump();
  }

  private imageChanged(id: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.imageWaiters.get(id);
      if (!set) this.imageWaiters.set(id, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0) this.imageWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  private wakeImageWaiters(id: string): void {
    for (const wake of [...(this.imageWaiters.get(id) ?? [])]) wake();
  }

  /** Makes `runner` run the operations of its kind. One runner per kind. */
  registerRunner<K extends OperationKind>(runner: OperationRunner<K>): void {
    this.worker.register(runner);
    this.worker.pump();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /**
   * Before any request: leases a dead predecessor held lapse at once (SQLite: one process per
   * data directory, so every lease; PostgreSQL: those held under this replica id), so the
   * worker takes them over at bootstrap; old operations are pruned; signals are followed.
   */
  async onModuleInit(): Promise<void> {
    // A damaged or unreachable store must not stop the start: readiness reports it, and the
    // worker's next tick retries.
    try {
      const expired = await this.store.expireLeases(this.store.engine === 'sqlite' ? undefined : this.settings.replicaId);
      if (expired > 0) this.logger.log({ count: expired }, 'operations left by a previous run of this replica are taken over');
    } catch (e) {
      this.logger.error({ err: e }, 'could not take over what a previous run of this replica left; the store is not usable (see /readyz)');
    }
    await this.prune();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
    await this.follow();
    this.logger.log({ replicaId: this.settings.replicaId, store: this.store.engine }, 'operations store ready');
  }

  /** Follows the store's signals; retried every few seconds until the store answers. */
  private async follow(): Promise<void> {
    if (this.closing.signal.aborted) return;
    try {
      this.unsubscribe = await this.store.subscribe((s) => this.onSignal(s));
    } catch (e) {
      this.logger.error({ err: e }, 'cannot follow the operations store yet; retrying');
      const retry = setTimeout(() => void this.follow(), 5000);
      retry.unref();
    }
  }

  onApplicationBootstrap(): void {
    this.worker.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.unsubscribe?.().catch(() => undefined);
    await this.store.close();
  }

  /**
   * Stops the worker (see OperationWorker.stop): running operations get the grace period,
   * then are handed back at once. Then ends every event stream and wait. Submissions are
   * still accepted meanwhile; they stay queued.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.pruneTimer);
      await this.worker.stop(this.settings.shutdownGraceSeconds * 1000);
      this.closing.abort();
      this.hub.close();
    })();
    return this.stopping;
  }

  private onSignal(signal: StoreSignal): void {
    switch (signal.type) {
      case 'event':
        this.hub.signalled(signal.id, signal.seq);
        // An operation's first event is its submission: work to claim.
        if (signal.seq === 1) this.worker.pump();
        break;
      case 'cancel':
        this.worker.cancelLocal(signal.id);
        break;
      case 'queued':
        this.worker.pump();
        break;
      case 'image':
        this.wakeImageWaiters(signal.id);
        break;
      case 'reconnected':
        this.hub.reconnected();
        this.worker.pump();
        break;
    }
  }

  // ---- submissions and queries -------------------------------------------------------------

  /**
   * Records a new operation as `queued`, or, when the principal's `idempotencyKey` already names
   * an operation with the same fingerprint, returns that one (a different fingerprint is
   * IDEMPOTENCY_KEY_REUSED). QUEUE_FULL beyond SKIFF_QUEUE_MAX.
   */
  async submit(submission: OperationSubmission): Promise<SubmitResult> {
    const { principal, draft, idempotencyKey } = submission;
    if (!this.worker.hasRunner(draft.kind)) throw new Error(`no runner is registered for operations of kind "${draft.kind}"`);
    const labels = validateLabels(submission.labels ?? {});
    const request = JSON.parse(JSON.stringify(draft.request)) as typeof draft.request;
    const hash = requestHash(draft.kind, request, labels);
    if (idempotencyKey !== undefined) {
      const existing = await this.store.findByIdempotencyKey(principal.name, idempotencyKey);
      if (existing) return this.replay(existing, hash);
    }
    const queued = await this.store.countByState('queued');
    if (queued >= this.settings.queueMax) throw new QueueFullError(this.settings.queueMax);
    const id = newOperationId();
    const secrets = submission.secrets && Object.values(submission.secrets).some((v) => v !== undefined) ? submission.secrets : undefined;
    const sealed = secrets && this.box.enabled ? this.box.seal(secrets, id) : undefined;
    const operation = {
      id,
      kind: draft.kind,
      state: 'queued',
      owner: principal.name,
      labels,
      createdAt: new Date().toISOString(),
      request,
      progress: emptyProgress('queued'),
      attempts: 0,
    } as Operation;
    if (secrets && !sealed) this.memorySecrets.set(id, secrets);
    let outcome;
    try {
      outcome = await this.store.insert({
        operation,
        idempotencyKey,
        requestHash: hash,
        hadSecrets: secrets !== undefined,
        sealedSecrets: sealed,
        // Credentials only this process knows pin the operation here while it lives.
        lease: secrets && !sealed ? { owner: this.settings.replicaId, expiresAt: Date.now() + this.settings.leaseSeconds * 1000 } : undefined,
      });
    } catch (e) {
      this.memorySecrets.delete(id);
      throw e;
    }
    if (!outcome.created) {
      this.memorySecrets.delete(id);
      return this.replay(outcome.operation, hash);
    }
    this.hub.publish(id, [outcome.event]);
    this.logger.log({ operationId: id, kind: draft.kind, principal: principal.name }, 'operation queued');
    // Other replicas learn of it from its first event's signal (PostgreSQL NOTIFY at commit).
    this.worker.pump();
    return { operation: publicOperation(outcome.operation), created: true };
  }

  private replay(existing: StoredOperation, hash: string): SubmitResult {
    if (existing.requestHash !== hash) throw new IdempotencyKeyReusedError(existing.id);
    return { operation: publicOperation(existing), created: false };
  }

  /** The operation if the principal may see it; OPERATION_NOT_FOUND otherwise. */
  private async visible(principal: Principal, id: string): Promise<StoredOperation> {
    const op = OPERATION_ID_PATTERN.test(id) ? await this.store.get(id) : undefined;
    if (!op || (op.owner !== principal.name && !hasScope(principal, 'operations:read-all'))) throw new OperationNotFoundError(id);
    return op;
  }

  async get(principal: Principal, id: string): Promise<Operation> {
    return publicOperation(await this.visible(principal, id));
  }

  /**
   * The operation once it has finished, or as it is when `seconds` have passed, `signal` is
   * aborted or the service stops, whichever comes first. Counts against the long-poll caps.
   */
  async waitFor(principal: Principal, id: string, seconds: number, signal?: AbortSignal): Promise<Operation> {
    const op = await this.visible(principal, id);
    if (isFinished(op.state) || seconds <= 0 || signal?.aborted || this.closing.signal.aborted) return publicOperation(op);
    const release = this.waits.take(principal.name);
    try {
      let last: Operation = publicOperation(op);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.hub.unwatch(id, watcher);
          signal?.removeEventListener('abort', done);
          this.closing.signal.removeEventListener('abort', done);
          resolve();
        };
        const watcher: Watcher = (event) => {
          if (event?.type === 'state') last = event.data;
          if (event === null || isFinished(last.state)) done();
        };
        const timer = setTimeout(done, seconds * 1000);
        signal?.addEventListener('abort', done, { once: true });
        this.closing.signal.addEventListener('abort', done, { once: true });
        this.hub.watch(id, op.lastSeq, watcher);
      });
      const now = await this.store.get(id).catch(() => undefined);
      return now ? publicOperation(now) : last;
    } finally {
      release();
    }
  }

  /** Newest first; the principal's own unless it has `operations:read-all`. */
  async list(principal: Principal, query: ListOperationsQuery = {}): Promise<OperationPage> {
    const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new InvalidArgumentError(`pageSize must be an integer between 1 and ${MAX_PAGE_SIZE}`);
    }
    for (const [name, value] of [['createdAfter', query.createdAfter], ['createdBefore', query.createdBefore]] as const) {
      if (value !== undefined && Number.isNaN(Date.parse(value))) throw new InvalidArgumentError(`${name} must be an RFC 3339 date-time`);
    }
    const rows = await this.store.list({
      owner: hasScope(principal, 'operations:read-all') ? undefined : principal.name,
      state: query.state,
      kind: query.kind,
      labels: query.labels,
      createdAfter: query.createdAfter === undefined ? undefined : new Date(query.createdAfter).toISOString(),
      createdBefore: query.createdBefore === undefined ? undefined : new Date(query.createdBefore).toISOString(),
      beforeId: query.pageToken === undefined ? undefined : decodePageToken(query.pageToken),
      limit: pageSize + 1,
    });
    const page = rows.slice(0, pageSize).map(publicOperation);
    return rows.length > pageSize ? { operations: page, nextPageToken: encodePageToken(page[page.length - 1]!.id) } : { operations: page };
  }

  /** May the principal change it (cancel, forget)? Its owner, or an `operations:read-all` operator: exactly who sees it. */
  private changeable(principal: Principal, id: string): Promise<StoredOperation> {
    return this.visible(principal, id);
  }

  /**
   * Cancels: a queued operation at once; a running one becomes `cancelling` and the replica
   * running it (this one or another, told through the store) stops it; `cancelling` stays as it
   * is; a finished one is a conflict. Records who cancelled and why.
   */
  async cancel(principal: Principal, id: string, reason?: string): Promise<Operation> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const op = await this.changeable(principal, id);
      const cancellation = { by: principal.name, at: new Date().toISOString(), ...(reason ? { reason } : {}) };
      switch (op.state) {
        case 'queued': {
          const out = await this.store.transition(
            id,
            { state: 'cancelled', finishedAt: cancellation.at, progress: { ...op.progress, phase: 'cancelled' }, cancellation, sealedSecrets: null, lease: null },
            { states: ['queued'] },
          );
          if (!out) continue; // claimed meanwhile: cancel it as running
          this.hub.publish(id, out.events);
          this.memorySecrets.delete(id);
          this.logger.log({ operationId: id, by: principal.name }, 'queued operation cancelled');
          return publicOperation(out.operation);
        }
        case 'running': {
          const out = await this.store.transition(id, { state: 'cancelling', cancellation }, { states: ['running'] });
          if (!out) continue;
          this.hub.publish(id, out.events);
          this.worker.cancelLocal(id);
          await this.store.signal({ type: 'cancel', id }).catch((e: unknown) => this.logger.warn({ operationId: id, err: e }, 'could not signal the cancel; the running replica sees it at its next lease renewal'));
          return publicOperation(out.operation);
        }
        case 'cancelling':
          return publicOperation(op);
        default:
          throw new OperationConflictError(`operation ${id} has already ${op.state === 'cancelled' ? 'been cancelled' : op.state}; only queued or running operations can be cancelled`);
      }
    }
    return publicOperation(await this.visible(principal, id));
  }

  /** Deletes a finished operation and its events; an unfinished one is a conflict. */
  async forget(principal: Principal, id: string): Promise<void> {
    const op = await this.changeable(principal, id);
    if (!isFinished(op.state)) {
      throw new OperationConflictError(`operation ${id} is ${op.state}; cancel it and wait until it has finished before deleting it`);
    }
    await this.store.delete(id);
    this.memorySecrets.delete(id);
    this.hub.end(id);
    this.logger.log({ operationId: id, by: principal.name }, 'operation forgotten');
  }

  /**
   * The operation's events, for SSE: first what `options.afterSeq` asks for (see
   * EventStreamOptions), then each new event as it is stored, whichever replica wrote it. The
   * iteration ends after the final `state` event, when the operation is forgotten, when
   * `options.signal` aborts, or when the service stops. Unknown id → OPERATION_NOT_FOUND and
   * over a cap → TOO_MANY_REQUESTS, both thrown here, before anything is iterated. A consumer
   * that stops early must call `return()` (for-await does).
   */
  async events(principal: Principal, id: string, options: EventStreamOptions = {}): Promise<AsyncIterableIterator<OperationEvent>> {
    const op = await this.visible(principal, id);
    const release = this.streams.take(principal.name);
    const queue: OperationEvent[] = [];
    /** Events were dropped (the queue was full): they are read back from the store. */
    let behind = false;
    let ended = this.closing.signal.aborted;
    let wake: (() => void) | undefined;
    const watcher: Watcher = (event) => {
      if (event === null) ended = true;
      else if (queue.length < MAX_QUEUED_STREAM_EVENTS) queue.push(event);
      else behind = true;
      wake?.();
    };
    const onAbort = () => {
      ended = true;
      wake?.();
    };
    const lastSeq = op.lastSeq;
    const resume = options.afterSeq !== undefined && options.afterSeq <= lastSeq;
    const finishedAtOpen = isFinished(op.state);
    this.hub.watch(id, lastSeq, watcher);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.closing.signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      this.hub.unwatch(id, watcher);
      options.signal?.removeEventListener('abort', onAbort);
      this.closing.signal.removeEventListener('abort', onAbort);
      release();
    };
    const isFinal = (e: OperationEvent) => e.type === 'state' && isFinished(e.data.state);
    const store = this.store;
    const REPLAY_PAGE = 1000;

    const stream = (async function* (): AsyncGenerator<OperationEvent> {
      try {
        let seen: number;
        if (resume) {
          seen = options.afterSeq!;
          // Replayed a page at a time up to the seq seen at open; later ones come from the hub.
          while (seen < lastSeq) {
            const page = await store.eventsAfter(id, seen, REPLAY_PAGE);
            if (page.length === 0) break;
            for (const event of page) {
              if (event.seq > lastSeq) break;
              yield event;
              seen = event.seq;
              if (isFinal(event)) return;
            }
          }
        } else {
          seen = lastSeq;
          const event: OperationEvent = { seq: lastSeq, type: 'state', data: publicOperation(op), at: new Date().toISOString() };
          yield event;
          if (isFinal(event)) return;
        }
        if (finishedAtOpen) return;
        for (;;) {
          // Nothing queued after a dropped event may go first: `behind` is checked before each.
          while (queue.length > 0 && !behind) {
            const event = queue.shift()!;
            if (event.seq <= seen) continue;
            yield event;
            seen = event.seq;
            if (isFinal(event)) return;
          }
          if (behind) {
            if (ended || options.signal?.aborted) return;
            // Cleared before the read: what is dropped from now on is read by the next round.
            behind = false;
            for (;;) {
              const page = await store.eventsAfter(id, seen, REPLAY_PAGE);
              for (const event of page) {
                yield event;
                seen = event.seq;
                if (isFinal(event)) return;
              }
              if (page.length < REPLAY_PAGE) break;
            }
            continue;
          }
          if (ended || options.signal?.aborted) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        cleanup();
      }
    })();
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

  /**
   * A sync's images, a page at a time in plan order, optionally in one state. A sync finished
   * before images were stored as rows pages over its result's list.
   */
  async images(principal: Principal, id: string, query: { state?: SyncImageTaskState; pageSize?: number; pageToken?: string } = {}): Promise<{ operation: Operation; images: SyncImageRow[]; nextPageToken?: string }> {
    const op = await this.visible(principal, id);
    if (op.kind !== 'sync') throw new InvalidArgumentError(`operation ${id} is a ${op.kind}; only syncs have images`);
    const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new InvalidArgumentError(`pageSize must be an integer between 1 and ${MAX_PAGE_SIZE}`);
    let afterIndex: number | undefined;
    if (query.pageToken !== undefined) {
      const text = /^[A-Za-z0-9_-]{1,16}$/.test(query.pageToken) ? Buffer.from(query.pageToken, 'base64url').toString('utf8') : '';
      if (!/^i\d{1,9}$/.test(text)) throw new InvalidArgumentError('pageToken is not a token this service issued');
      afterIndex = Number(text.slice(1));
    }
    const counts = await this.store.countSyncImages(id);
    const stored = Object.entries(counts).some(([k, n]) => k !== 'bytes' && n > 0);
    const rows: SyncImageRow[] =
      !stored && op.result
        ? // Stored before per-image rows: page over the result's own list.
          op.result.images
            .map((image, index) => ({ operationId: id, index, accessKey: 'default', ...image }))
            .filter((r) => (query.state === undefined || r.state === query.state) && (afterIndex === undefined || r.index > afterIndex))
            .slice(0, pageSize + 1)
        : await this.store.listSyncImages(id, { state: query.state, afterIndex, limit: pageSize + 1 });
    const page = rows.slice(0, pageSize);
    const next = rows.length > pageSize ? Buffer.from(`i${page[page.length - 1]!.index}`, 'utf8').toString('base64url') : undefined;
    return { operation: publicOperation(op), images: page, ...(next ? { nextPageToken: next } : {}) };
  }

  /** Deletes operations that finished more than the retention period ago. Never throws. */
  async prune(): Promise<number> {
    try {
      const before = new Date(Date.now() - this.settings.retentionHours * 3_600_000).toISOString();
      const ids = await this.store.pruneFinishedBefore(before);
      for (const id of ids) this.hub.end(id);
      if (ids.length > 0) this.logger.log({ count: ids.length }, `pruned operations finished before ${before}`);
      return ids.length;
    } catch (e) {
      this.logger.error({ err: e }, 'pruning old operations failed');
      return 0;
    }
  }
}
