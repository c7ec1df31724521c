import { emptyProgress, type OperationError, type OperationProgress, type OperationState } from './operation';
import { operationIdTimePrefix } from './operation-id';
import { COLUMNS, json, publicOperation, type Row, toEvent, toStored } from './operation-row';
import type {
  Claim,
  ClaimRequest,
  InsertOutcome,
  LeaseStatus,
  ListFilter,
  NewOperation,
  OperationEvent,
  OperationPatch,
  OperationStore,
  StoreSignal,
  StoredOperation,
  TransitionCondition,
} from './operation-store';

/** Runs SQL written with `?` placeholders (the PostgreSQL adapter numbers them). */
export interface SqlRunner {
  all(sql: string, params?: unknown[]): Promise<Row[]>;
  run(sql: string, params?: unknown[]): Promise<number>;
}

const PRUNE_BATCH = 500;

function inList(values: readonly unknown[], params: unknown[]): string {
  params.push(...values);
  return values.map(() => '?').join(', ');
}

const idAt = operationIdTimePrefix;

/**
 * The store logic both adapters share, in SQL that SQLite and PostgreSQL both run. An adapter
 * supplies transactions, the runner, how booleans and "now" are written, the row lock of
 * `claim`, and how event signals leave a transaction.
 */
export abstract class SqlOperationStore implements OperationStore {
  abstract readonly engine: 'sqlite' | 'postgres';
  /** Outside transactions. */
  protected abstract readonly q: SqlRunner;
  protected abstract tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
  protected abstract bool(value: boolean): unknown;
  /** SQL for the current time in epoch ms (pushing a parameter if it needs one). */
  protected abstract nowMs(params: unknown[]): string;
  /** Appended to claim's SELECT (PostgreSQL: `FOR UPDATE SKIP LOCKED`). */
  protected abstract readonly claimLock: string;
  /** Called inside the transaction that appended events up to `seq` (PostgreSQL: NOTIFY). */
  protected abstract eventsAppended(q: SqlRunner, id: string, seq: number): Promise<void>;
  protected abstract isUniqueViolation(e: unknown): boolean;

  abstract signal(signal: StoreSignal): Promise<void>;
  abstract subscribe(handler: (signal: StoreSignal) => void): Promise<() => Promise<void>>;
  abstract health(): Promise<string | undefined>;
  abstract close(): Promise<void>;

  // ---- writes ----------------------------------------------------------------------------

  async insert(n: NewOperation): Promise<InsertOutcome> {
    const op = n.operation;
    const attempt = () =>
      this.tx(async (q): Promise<InsertOutcome> => {
        if (n.idempotencyKey !== undefined) {
          const [existing] = await q.all(`SELECT ${COLUMNS} FROM operations WHERE principal = ? AND idempotency_key = ?`, [op.owner, n.idempotencyKey]);
          if (existing) return { created: false, operation: toStored(existing) };
        }
        const params = [
          op.id,
          op.kind,
          op.state,
          op.owner,
          op.createdAt,
          JSON.stringify(op.request),
          JSON.stringify(op.progress),
          JSON.stringify(op.labels),
          n.idempotencyKey ?? null,
          n.requestHash,
          this.bool(n.hadSecrets),
          n.sealedSecrets ?? null,
          n.lease?.owner ?? null,
          n.lease?.expiresAt ?? null,
        ];
        await q.run(
          `INSERT INTO operations (id, kind, state, principal, created_at, request, progress, labels, idempotency_key, request_hash, had_secrets, secrets, lease_owner, lease_expires_at, last_seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
          params,
        );
        for (const [key, value] of Object.entries(op.labels)) {
          await q.run('INSERT INTO operation_labels (operation_id, key, value) VALUES (?, ?, ?)', [op.id, key, value]);
        }
        const event: OperationEvent = { seq: 1, type: 'state', data: publicOperation(op), at: op.createdAt };
        await this.appendEvents(q, op.id, [event]);
        const [row] = await q.all(`SELECT ${COLUMNS} FROM operations WHERE id = ?`, [op.id]);
        return { created: true, operation: toStored(row!), event };
      });
    try {
      return await attempt();
    } catch (e) {
      // Another process took the key between the lookup and the insert: answer as for a retry.
      if (n.idempotencyKey !== undefined && this.isUniqueViolation(e)) {
        const existing = await this.findByIdempotencyKey(op.owner, n.idempotencyKey);
        if (existing) return { created: false, operation: existing };
      }
      throw e;
    }
  }

  private async appendEvents(q: SqlRunner, id: string, events: OperationEvent[]): Promise<void> {
    for (const e of events) {
      await q.run('INSERT INTO operation_events (operation_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)', [id, e.seq, e.type, JSON.stringify(e.data), e.at]);
    }
    if (events.length > 0) await this.eventsAppended(q, id, events[events.length - 1]!.seq);
  }

  /** The UPDATE of a transition, inside `q`'s transaction; events appended. */
  private async applyTransition(q: SqlRunner, id: string, patch: OperationPatch, condition: TransitionCondition): Promise<{ operation: StoredOperation; events: OperationEvent[] } | undefined> {
    const sets: string[] = [];
    const params: unknown[] = [];
    const set = (column: string, value: unknown) => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.state !== undefined) set('state', patch.state);
    if (patch.startedAt !== undefined) set('started_at', patch.startedAt);
    if (patch.finishedAt !== undefined) set('finished_at', patch.finishedAt);
    if (patch.progress !== undefined) set('progress', JSON.stringify(patch.progress));
    if (patch.result !== undefined) set('result', json(patch.result));
    if (patch.error !== undefined) set('error', json(patch.error));
    if (patch.cancellation !== undefined) set('cancellation', JSON.stringify(patch.cancellation));
    if (patch.sealedSecrets !== undefined) set('secrets', null);
    if (patch.lastError !== undefined) set('last_error', json(patch.lastError));
    if (patch.lease !== undefined) {
      set('lease_owner', patch.lease?.owner ?? null);
      set('lease_expires_at', patch.lease?.expiresAt ?? null);
      if (patch.lease) set('replica_id', patch.lease.owner);
    }
    if (patch.attemptsDelta) {
      sets.push('attempts = attempts + ?');
      params.push(patch.attemptsDelta);
    }
    const withResult = patch.state === 'succeeded' && patch.result !== undefined && patch.result !== null;
    const count = (patch.state !== undefined ? 1 : 0) + (withResult ? 1 : 0);
    sets.push(`last_seq = last_seq + ${count}`);
    let where = `id = ? AND state IN (${inList(condition.states, [])})`;
    params.push(id, ...condition.states);
    if (condition.leaseVersion !== undefined) {
      where += ' AND lease_version = ?';
      params.push(condition.leaseVersion);
    }
    const [row] = await q.all(`UPDATE operations SET ${sets.join(', ')} WHERE ${where} RETURNING ${COLUMNS}`, params);
    if (!row) return undefined;
    const operation = toStored(row);
    const at = new Date().toISOString();
    const events: OperationEvent[] = [];
    let seq = operation.lastSeq - count;
    if (withResult) events.push({ seq: ++seq, type: 'result', data: patch.result!, at });
    if (patch.state !== undefined) events.push({ seq: ++seq, type: 'state', data: publicOperation(operation), at });
    await this.appendEvents(q, id, events);
    return { operation, events };
  }

  transition(id: string, patch: OperationPatch, condition: TransitionCondition): Promise<{ operation: StoredOperation; events: OperationEvent[] } | undefined> {
    return this.tx((q) => this.applyTransition(q, id, patch, condition));
  }

  recordProgress(id: string, leaseVersion: number, progress: OperationProgress): Promise<OperationEvent | undefined> {
    return this.tx(async (q) => {
      const [row] = await q.all(
        `UPDATE operations SET progress = ?, last_seq = last_seq + 1 WHERE id = ? AND lease_version = ? AND state IN ('running', 'cancelling') RETURNING last_seq`,
        [JSON.stringify(progress), id, leaseVersion],
      );
      if (!row) return undefined;
      const event: OperationEvent = { seq: Number(row['last_seq']), type: 'progress', data: progress, at: new Date().toISOString() };
      await this.appendEvents(q, id, [event]);
      return event;
    });
  }

  claim(request: ClaimRequest): Promise<Claim | undefined> {
    return this.tx(async (q) => {
      // Parameters in the order their placeholders appear.
      const params: unknown[] = [request.owner];
      const nowA = this.nowMs(params);
      const nowB = this.nowMs(params);
      const [row] = await q.all(
        `SELECT ${COLUMNS} FROM operations
         WHERE (state = 'queued' AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ${nowA}))
            OR (state IN ('running', 'cancelling') AND lease_expires_at < ${nowB})
         ORDER BY id LIMIT 1 ${this.claimLock}`,
        params,
      );
      if (!row) return undefined;
      const seen = toStored(row);
      const takeover = seen.state !== 'queued';
      const now = new Date();
      const lastError: OperationError | undefined = takeover
        ? { code: 'ABORTED', message: `replica ${seen.leaseOwner ?? '?'} stopped renewing the lease of attempt ${seen.attempts} (it died or lost the database)`, retryable: true }
        : undefined;
      const leaseParams: unknown[] = [];
      const expires = `${this.nowMs(leaseParams)} + ?`;
      leaseParams.push(request.leaseMs);
      const [updated] = await q.all(
        `UPDATE operations SET state = ?, started_at = ?, finished_at = NULL, progress = ?, lease_owner = ?, replica_id = ?,
                lease_version = lease_version + 1, lease_expires_at = ${expires}, attempts = attempts + 1,
                last_error = COALESCE(?, last_error), deadline_at = COALESCE(deadline_at, ?), last_seq = last_seq + 1
         WHERE id = ? AND state = ? AND lease_version = ? RETURNING ${COLUMNS}`,
        [
          seen.state === 'cancelling' ? 'cancelling' : 'running',
          now.toISOString(),
          JSON.stringify(emptyProgress('starting')),
          request.owner,
          request.owner,
          ...leaseParams,
          json(lastError),
          new Date(now.getTime() + request.deadlineMs).toISOString(),
          seen.id,
          seen.state,
          seen.leaseVersion,
        ],
      );
      if (!updated) return undefined;
      const operation = toStored(updated);
      const event: OperationEvent = { seq: operation.lastSeq, type: 'state', data: publicOperation(operation), at: now.toISOString() };
      await this.appendEvents(q, operation.id, [event]);
      return { operation, leaseVersion: operation.leaseVersion, takeover, previousOwner: seen.leaseOwner, event };
    });
  }

  async renew(owner: string, leaseMs: number): Promise<LeaseStatus[]> {
    const params: unknown[] = [];
    const expires = `${this.nowMs(params)} + ?`;
    params.push(leaseMs, owner);
    const rows = await this.tx((q) =>
      q.all(`UPDATE operations SET lease_expires_at = ${expires} WHERE lease_owner = ? AND state IN ('queued', 'running', 'cancelling') RETURNING id, lease_version, state`, params),
    );
    return rows.map((r) => ({ id: String(r['id']), leaseVersion: Number(r['lease_version']), state: r['state'] as OperationState }));
  }

  expireLeases(owner: string | undefined): Promise<number> {
    return this.tx((q) =>
      owner === undefined
        ? q.run(`UPDATE operations SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL AND state IN ('queued', 'running', 'cancelling')`)
        : q.run(`UPDATE operations SET lease_expires_at = 0 WHERE lease_owner = ? AND state IN ('queued', 'running', 'cancelling')`, [owner]),
    );
  }

  delete(id: string): Promise<boolean> {
    return this.tx(async (q) => {
      await q.run('DELETE FROM operation_events WHERE operation_id = ?', [id]);
      await q.run('DELETE FROM operation_labels WHERE operation_id = ?', [id]);
      await q.run('DELETE FROM sync_images WHERE operation_id = ?', [id]);
      return (await q.run('DELETE FROM operations WHERE id = ?', [id])) > 0;
    });
  }

  async pruneFinishedBefore(before: string): Promise<string[]> {
    const pruned: string[] = [];
    for (;;) {
      const ids = await this.tx(async (q) => {
        const rows = await q.all(`SELECT id FROM operations WHERE finished_at IS NOT NULL AND finished_at < ? AND state IN ('succeeded', 'failed', 'cancelled') LIMIT ${PRUNE_BATCH}`, [before]);
        const batch = rows.map((r) => String(r['id']));
        if (batch.length === 0) return batch;
        for (const table of ['operation_events', 'operation_labels', 'sync_images']) {
          const params: unknown[] = [];
          await q.run(`DELETE FROM ${table} WHERE operation_id IN (${inList(batch, params)})`, params);
        }
        const params: unknown[] = [];
        await q.run(`DELETE FROM operations WHERE id IN (${inList(batch, params)})`, params);
        return batch;
      });
      pruned.push(...ids);
      if (ids.length < PRUNE_BATCH) return pruned;
    }
  }

  // ---- reads -----------------------------------------------------------------------------

  async get(id: string): Promise<StoredOperation | undefined> {
    const [row] = await this.q.all(`SELECT ${COLUMNS} FROM operations WHERE id = ?`, [id]);
    return row && toStored(row);
  }

  async findByIdempotencyKey(owner: string, key: string): Promise<StoredOperation | undefined> {
    const [row] = await this.q.all(`SELECT ${COLUMNS} FROM operations WHERE principal = ? AND idempotency_key = ?`, [owner, key]);
    return row && toStored(row);
  }

  async list(filter: ListFilter): Promise<StoredOperation[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      where.push(sql);
      params.push(...values);
    };
    if (filter.owner !== undefined) add('principal = ?', filter.owner);
    if (filter.state !== undefined) add('state = ?', filter.state);
    if (filter.kind !== undefined) add('kind = ?', filter.kind);
    for (const [key, value] of filter.labels ?? []) {
      add('EXISTS (SELECT 1 FROM operation_labels l WHERE l.operation_id = operations.id AND l.key = ? AND l.value = ?)', key, value);
    }
    // Ids start with their creation time: a bound on it (widened by a second for ids made in
    // a burst) lets the id index do the work; the exact comparison follows.
    if (filter.createdAfter !== undefined) add('id > ? AND created_at > ?', idAt(Date.parse(filter.createdAfter) - 1000), filter.createdAfter);
    if (filter.createdBefore !== undefined) add('id < ? AND created_at < ?', idAt(Date.parse(filter.createdBefore) + 1000), filter.createdBefore);
    if (filter.beforeId !== undefined) add('id < ?', filter.beforeId);
    params.push(filter.limit);
    const rows = await this.q.all(`SELECT ${COLUMNS} FROM operations ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`, params);
    return rows.map(toStored);
  }

  async countByState(state: OperationState): Promise<number> {
    const [row] = await this.q.all('SELECT count(*) AS n FROM operations WHERE state = ?', [state]);
    return Number(row?.['n'] ?? 0);
  }

  async runningByReplica(): Promise<Map<string, number>> {
    const params: unknown[] = [];
    const rows = await this.q.all(`SELECT lease_owner AS owner, count(*) AS n FROM operations WHERE state IN (${inList(['running', 'cancelling'], params)}) AND lease_owner IS NOT NULL GROUP BY lease_owner`, params);
    return new Map(rows.map((r) => [String(r['owner']), Number(r['n'])]));
  }

  async eventsAfter(id: string, afterSeq: number, limit = 100_000): Promise<OperationEvent[]> {
    const rows = await this.q.all('SELECT seq, type, data, at FROM operation_events WHERE operation_id = ? AND seq > ? ORDER BY seq LIMIT ?', [id, afterSeq, limit]);
    return rows.map(toEvent);
  }
}

