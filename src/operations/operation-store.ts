import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { ProblemDto } from '../http/problem';
import type { Operation, OperationKind, OperationProgress, OperationState } from './operation-runner';

/**
 * Durable state of operations on embedded SQLite (`node:sqlite`, WAL). The only code that
 * touches SQL. Plain TypeScript, synchronous: every call is one short statement (or one
 * transaction through `transaction()`), so a caller that makes several calls without awaiting
 * in between sees no interleaving from this process. Several processes may open the same file
 * (busy_timeout covers lock waits), but only one of them should run the worker.
 */

/** An operation with the bookkeeping that is never shown to clients. */
export interface StoredOperation extends Operation {
  idempotencyKey?: string;
  /** sha256 of the canonical JSON of (kind, request). */
  requestHash: string;
  /** The request carried secrets (they live in memory only, never here). */
  hadSecrets: boolean;
}

export type OperationEventType = 'state' | 'progress' | 'result';

/** One entry of an operation's event log; `seq` counts from 1 per operation. */
export interface OperationEvent {
  seq: number;
  type: OperationEventType;
  data: unknown;
  at: string;
}

/** Fields an update may change; `null` clears a column. */
export interface OperationPatch {
  state?: OperationState;
  startedAt?: string | null;
  finishedAt?: string | null;
  progress?: OperationProgress;
  result?: Record<string, unknown> | null;
  error?: ProblemDto | null;
}

export interface ListFilter {
  state?: OperationState;
  kind?: OperationKind;
  /** Only ids strictly below this one (the cursor of the previous page). */
  beforeId?: string;
  limit: number;
}

/** The schema, one entry per version; `PRAGMA user_version` records how many were applied. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE operations (
     id              TEXT PRIMARY KEY,
     kind            TEXT NOT NULL,
     state           TEXT NOT NULL,
     created_at      TEXT NOT NULL,
     started_at      TEXT,
     finished_at     TEXT,
     request         TEXT NOT NULL,
     progress        TEXT NOT NULL,
     result          TEXT,
     error           TEXT,
     idempotency_key TEXT UNIQUE,
     request_hash    TEXT NOT NULL,
     had_secrets     INTEGER NOT NULL DEFAULT 0
   ) STRICT;
   CREATE INDEX operations_state_id ON operations (state, id);
   CREATE INDEX operations_kind_id ON operations (kind, id);
   CREATE INDEX operations_finished_at ON operations (finished_at) WHERE finished_at IS NOT NULL;
   CREATE TABLE operation_events (
     operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
     seq          INTEGER NOT NULL,
     type         TEXT NOT NULL,
     data         TEXT NOT NULL,
     at           TEXT NOT NULL,
     PRIMARY KEY (operation_id, seq)
   ) STRICT, WITHOUT ROWID;`,
];

const COLUMNS = 'id, kind, state, created_at, started_at, finished_at, request, progress, result, error, idempotency_key, request_hash, had_secrets';

type Row = Record<string, unknown>;

function json(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}

function toOperation(row: Row): StoredOperation {
  const op: StoredOperation = {
    id: row['id'] as string,
    kind: row['kind'] as OperationKind,
    state: row['state'] as OperationState,
    createdAt: row['created_at'] as string,
    request: JSON.parse(row['request'] as string) as Record<string, unknown>,
    progress: JSON.parse(row['progress'] as string) as OperationProgress,
    requestHash: row['request_hash'] as string,
    hadSecrets: row['had_secrets'] === 1,
  };
  if (row['started_at'] !== null) op.startedAt = row['started_at'] as string;
  if (row['finished_at'] !== null) op.finishedAt = row['finished_at'] as string;
  if (row['result'] !== null) op.result = JSON.parse(row['result'] as string) as Record<string, unknown>;
  if (row['error'] !== null) op.error = JSON.parse(row['error'] as string) as ProblemDto;
  if (row['idempotency_key'] !== null) op.idempotencyKey = row['idempotency_key'] as string;
  return op;
}

/** The client-facing Operation (without the store's bookkeeping). */
export function publicOperation(op: StoredOperation): Operation {
  const { idempotencyKey: _k, requestHash: _h, hadSecrets: _s, ...rest } = op;
  return rest;
}

export class IdempotencyKeyTakenError extends Error {
  constructor(readonly idempotencyKey: string) {
    super(`idempotency key already used: ${idempotencyKey}`);
  }
}

export class OperationStore {
  private readonly db: DatabaseSync;
  private readonly stmt: {
    get: StatementSync;
    byKey: StatementSync;
    insert: StatementSync;
    nextQueued: StatementSync;
    byStates: StatementSync;
    appendEvent: StatementSync;
    eventsAfter: StatementSync;
    lastSeq: StatementSync;
    deleteEvents: StatementSync;
    deleteOperation: StatementSync;
    prune: StatementSync;
  };
  /** Statements whose SQL depends on the call (update, list), prepared once per shape. */
  private readonly dynamic = new Map<string, StatementSync>();
  private txDepth = 0;
  private closed = false;

  private constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(path, { timeout: 5000, enableForeignKeyConstraints: true });
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.migrate();
    this.stmt = {
      get: this.db.prepare(`SELECT ${COLUMNS} FROM operations WHERE id = ?`),
      byKey: this.db.prepare(`SELECT ${COLUMNS} FROM operations WHERE idempotency_key = ?`),
      insert: this.db.prepare(
        `INSERT INTO operations (${COLUMNS}) VALUES (:id, :kind, :state, :created_at, :started_at, :finished_at, :request, :progress, :result, :error, :idempotency_key, :request_hash, :had_secrets)`,
      ),
      nextQueued: this.db.prepare(`SELECT ${COLUMNS} FROM operations WHERE state = 'queued' ORDER BY id LIMIT 1`),
      byStates: this.db.prepare(`SELECT ${COLUMNS} FROM operations WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id`),
      appendEvent: this.db.prepare(
        `INSERT INTO operation_events (operation_id, seq, type, data, at)
         SELECT :id, COALESCE(MAX(seq), 0) + 1, :type, :data, :at FROM operation_events WHERE operation_id = :id
         RETURNING seq`,
      ),
      eventsAfter: this.db.prepare('SELECT seq, type, data, at FROM operation_events WHERE operation_id = ? AND seq > ? ORDER BY seq'),
      lastSeq: this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM operation_events WHERE operation_id = ?'),
      deleteEvents: this.db.prepare('DELETE FROM operation_events WHERE operation_id = ?'),
      deleteOperation: this.db.prepare('DELETE FROM operations WHERE id = ?'),
      prune: this.db.prepare(`SELECT id FROM operations WHERE finished_at IS NOT NULL AND finished_at < ? AND state IN ('succeeded', 'failed', 'cancelled')`),
    };
  }

  /** Opens (creating or migrating) the database at `path`. */
  static open(path: string): OperationStore {
    return new OperationStore(path);
  }

  get schemaVersion(): number {
    return Number((this.db.prepare('PRAGMA user_version').get() as Row)['user_version']);
  }

  private migrate(): void {
    const current = this.schemaVersion;
    if (current > MIGRATIONS.length) {
      throw new Error(`${this.path}: schema version ${current} is newer than this skiff understands (${MIGRATIONS.length}); use a newer skiff`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  private prepared(sql: string): StatementSync {
    let stmt = this.dynamic.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.dynamic.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs `fn` in one transaction (nested calls join the outer one); rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    if (this.txDepth > 0) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    this.txDepth++;
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.txDepth--;
    }
  }

  /** Inserts a new operation; throws IdempotencyKeyTakenError when its key is already used. */
  insert(op: StoredOperation): void {
    try {
      this.stmt.insert.run({
        id: op.id,
        kind: op.kind,
        state: op.state,
        created_at: op.createdAt,
        started_at: op.startedAt ?? null,
        finished_at: op.finishedAt ?? null,
        request: JSON.stringify(op.request),
        progress: JSON.stringify(op.progress),
        result: json(op.result),
        error: json(op.error),
        idempotency_key: op.idempotencyKey ?? null,
        request_hash: op.requestHash,
        had_secrets: op.hadSecrets ? 1 : 0,
      });
    } catch (e) {
      if (op.idempotencyKey !== undefined && /UNIQUE constraint failed: operations\.idempotency_key/.test((e as Error).message)) {
        throw new IdempotencyKeyTakenError(op.idempotencyKey);
      }
      throw e;
    }
  }

  get(id: string): StoredOperation | undefined {
    const row = this.stmt.get.get(id) as Row | undefined;
    return row && toOperation(row);
  }

  findByIdempotencyKey(key: string): StoredOperation | undefined {
    const row = this.stmt.byKey.get(key) as Row | undefined;
    return row && toOperation(row);
  }

  /**
   * Applies `patch` to the operation, only if its state is one of `ifState` (when given).
   * Returns the updated operation, or undefined when it does not exist or the condition failed.
   */
  update(id: string, patch: OperationPatch, ifState?: readonly OperationState[]): StoredOperation | undefined {
    const sets: string[] = [];
    const params: Record<string, SQLInputValue> = { id };
    const column = (name: string, value: SQLInputValue) => {
      sets.push(`${name} = :${name}`);
      params[name] = value;
    };
    if (patch.state !== undefined) column('state', patch.state);
    if (patch.startedAt !== undefined) column('started_at', patch.startedAt);
    if (patch.finishedAt !== undefined) column('finished_at', patch.finishedAt);
    if (patch.progress !== undefined) column('progress', JSON.stringify(patch.progress));
    if (patch.result !== undefined) column('result', json(patch.result));
    if (patch.error !== undefined) column('error', json(patch.error));
    if (sets.length === 0) return this.get(id);
    let where = 'id = :id';
    if (ifState !== undefined) {
      where += ' AND state IN (SELECT value FROM json_each(:states))';
      params['states'] = JSON.stringify(ifState);
    }
    const row = this.prepared(`UPDATE operations SET ${sets.join(', ')} WHERE ${where} RETURNING ${COLUMNS}`).get(params) as Row | undefined;
    return row && toOperation(row);
  }

  /** Newest first (by id), filtered, at most `limit` rows. */
  list(filter: ListFilter): StoredOperation[] {
    const where: string[] = [];
    const params: Record<string, SQLInputValue> = { limit: filter.limit };
    if (filter.state !== undefined) {
      where.push('state = :state');
      params['state'] = filter.state;
    }
    if (filter.kind !== undefined) {
      where.push('kind = :kind');
      params['kind'] = filter.kind;
    }
    if (filter.beforeId !== undefined) {
      where.push('id < :before');
      params['before'] = filter.beforeId;
    }
    const sql = `SELECT ${COLUMNS} FROM operations ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT :limit`;
    return (this.prepared(sql).all(params) as Row[]).map(toOperation);
  }

  /** The oldest queued operation (FIFO by id). */
  nextQueued(): StoredOperation | undefined {
    const row = this.stmt.nextQueued.get() as Row | undefined;
    return row && toOperation(row);
  }

  /** Every operation in one of `states`, oldest first. */
  findByStates(states: readonly OperationState[]): StoredOperation[] {
    return (this.stmt.byStates.all(JSON.stringify(states)) as Row[]).map(toOperation);
  }

  /** Appends an event to the operation's log and returns it with its sequence number. */
  appendEvent(id: string, type: OperationEventType, data: unknown, at: string): OperationEvent {
    const row = this.stmt.appendEvent.get({ id, type, data: JSON.stringify(data), at }) as Row;
    return { seq: Number(row['seq']), type, data, at };
  }

  /** The operation's events with seq > afterSeq, in order. */
  eventsAfter(id: string, afterSeq: number): OperationEvent[] {
    return (this.stmt.eventsAfter.all(id, afterSeq) as Row[]).map((r) => ({
      seq: Number(r['seq']),
      type: r['type'] as OperationEventType,
      data: JSON.parse(r['data'] as string) as unknown,
      at: r['at'] as string,
    }));
  }

  /** The sequence number of the operation's latest event (0 when none). */
  lastSeq(id: string): number {
    return Number((this.stmt.lastSeq.get(id) as Row)['seq']);
  }

  /** Deletes the operation and its events; false when it did not exist. */
  delete(id: string): boolean {
    return this.transaction(() => {
      this.stmt.deleteEvents.run(id);
      return Number(this.stmt.deleteOperation.run(id).changes) > 0;
    });
  }

  /** Deletes finished operations (and their events) that finished before `before`; returns their ids. */
  pruneFinishedBefore(before: string): string[] {
    return this.transaction(() => {
      const ids = (this.stmt.prune.all(before) as Row[]).map((r) => r['id'] as string);
      for (const id of ids) {
        this.stmt.deleteEvents.run(id);
        this.stmt.deleteOperation.run(id);
      }
      return ids;
    });
  }

  /** True until close(). */
  /** A trivial read, for readiness checks; throws when the database is unusable. */
  ping(): void {
    this.prepared('SELECT count(*) AS n FROM operations').get();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
