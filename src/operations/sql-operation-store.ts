import { emptyProgress, type TransferProgress } from '../copy-engine/transfer-progress';
import type { OperationError } from '../errors/operation-error';
import type { OperationState } from './operation';
import { operationIdTimePrefix } from './operation-id';
import { COLUMNS, json, publicOperation, readError, type Row, toEvent, toStored } from './operation-row';
import type {
  Claim,
  ClaimRequest,
  InsertOutcome,
  LeaseStatus,
  ListFilter,
  NewOperation,
  SyncImageClaim,
  SyncImageLease,
  OperationEvent,
  OperationPatch,
  OperationStore,
  StoreSignal,
  StoredOperation,
  TransitionCondition,
} from './operation-store';
import type { SyncImageCounts, SyncImageFilter, SyncImageOutcome, SyncImageRow, SyncImageTaskState } from './sync-image';

/**
 * How a transaction commits. `durable: false` is for bookkeeping a crash may lose: the commit
 * returns without waiting for the disk (SQLite: no fsync of the WAL, `synchronous = NORMAL`;
 * PostgreSQL: `synchronous_commit = off`). It stays atomic and ordered, and a crash of the
 * process keeps it (SQLite's WAL is written, only not flushed; PostgreSQL has it); a crash of
 * the machine may lose it and the relaxed commits before it since the last durable one, never
 * the database's consistency. What uses it is redone or re-derived after such a loss: claiming
 * an operation (it is queued again and runs again, as after a crash of its replica), progress
 * (reset when an operation runs again), a sync's image list (planned again when a run finds
 * none) and each image's claim or outcome (claimed again and found up to date), lease renewals
 * and blob-transfer leases (leases lapse). Durable: submitting (the caller holds the id) and
 * every other state change (a caller may have seen the end of an operation); each durable
 * commit also flushes the relaxed ones before it.
 */
export interface TxOptions {
  durable?: boolean;
}

const RELAXED: TxOptions = { durable: false };

/** The most sync images one claim takes (a worker asks for its free image slots). */
const MAX_IMAGE_CLAIM = 64;

/** Runs SQL written with `?` placeholders (the PostgreSQL adapter numbers them). */
export interface SqlRunner {
  all(sql: string, params?: unknown[]): Promise<Row[]>;
  run(sql: string, params?: unknown[]): Promise<number>;
}

const PRUNE_BATCH = 500;
const IMAGE_COLUMNS = 'operation_id, idx, source, destination, access_key, state, digest, bytes, error, source_digest, referrers, replica_id';
const IMAGE_INSERT_BATCH = 200;

function toImage(r: Row): SyncImageRow {
  const image: SyncImageRow = {
    operationId: String(r['operation_id']),
    index: Number(r['idx']),
    source: String(r['source']),
    destination: String(r['destination']),
    accessKey: String(r['access_key']),
    state: r['state'] as SyncImageTaskState,
  };
  if (r['digest'] !== null && r['digest'] !== undefined) image.digest = String(r['digest']);
  if (r['bytes'] !== null && r['bytes'] !== undefined) image.bytes = Number(r['bytes']);
  const error = readError(r['error']);
  if (error) image.error = error;
  if (r['source_digest'] !== null && r['source_digest'] !== undefined) image.sourceDigest = String(r['source_digest']);
  if (r['referrers'] !== null && r['referrers'] !== undefined) image.referrers = Number(r['referrers']);
  if (r['replica_id'] !== null && r['replica_id'] !== undefined) image.replicaId = String(r['replica_id']);
  return image;
}

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
  protected abstract tx<T>(fn: (q: SqlRunner) => Promise<T>, opts?: TxOptions): Promise<T>;
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
        const [row] = await q.all(
          `INSERT INTO operations (id, kind, state, principal, created_at, request, progress, labels, idempotency_key, request_hash, had_secrets, secrets, lease_owner, lease_expires_at, last_seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING ${COLUMNS}`,
          params,
        );
        const labels = Object.entries(op.labels);
        if (labels.length > 0) {
          const lp: unknown[] = [];
          await q.run(`INSERT INTO operation_labels (operation_id, key, value) VALUES ${labels.map(([k, v]) => (lp.push(op.id, k, v), '(?, ?, ?)')).join(', ')}`, lp);
        }
        const event: OperationEvent = { seq: 1, type: 'state', data: publicOperation(op), at: op.createdAt };
        await this.appendEvents(q, op.id, [event]);
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

  recordProgress(id: string, leaseVersion: number, progress: TransferProgress): Promise<OperationEvent | undefined> {
    return this.tx(async (q) => {
      const [row] = await q.all(
        `UPDATE operations SET progress = ?, last_seq = last_seq + 1 WHERE id = ? AND lease_version = ? AND state IN ('running', 'cancelling') RETURNING last_seq`,
        [JSON.stringify(progress), id, leaseVersion],
      );
      if (!row) return undefined;
      const event: OperationEvent = { seq: Number(row['last_seq']), type: 'progress', data: progress, at: new Date().toISOString() };
      await this.appendEvents(q, id, [event]);
      return event;
    }, RELAXED);
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
    }, RELAXED);
  }

  async renew(owner: string, leaseMs: number): Promise<LeaseStatus[]> {
    const params: unknown[] = [];
    const expires = `${this.nowMs(params)} + ?`;
    params.push(leaseMs, owner);
    const rows = await this.tx((q) =>
      q.all(`UPDATE operations SET lease_expires_at = ${expires} WHERE lease_owner = ? AND state IN ('queued', 'running', 'cancelling') RETURNING id, lease_version, state`, params),
      RELAXED,
    );
    return rows.map((r) => ({ id: String(r['id']), leaseVersion: Number(r['lease_version']), state: r['state'] as OperationState }));
  }

  async lapseLease(id: string, leaseVersion: number): Promise<boolean> {
    const changed = await this.tx((q) => q.run(`UPDATE operations SET lease_expires_at = 0 WHERE id = ? AND lease_version = ? AND state IN ('running', 'cancelling')`, [id, leaseVersion]), RELAXED);
    return changed > 0;
  }

  expireLeases(owner: string | undefined): Promise<number> {
    return this.tx(async (q) => {
      if (owner === undefined) {
        await q.run(`UPDATE sync_images SET lease_expires_at = 0 WHERE state = 'running'`);
        await q.run('UPDATE blob_transfers SET expires_at = 0');
        return q.run(`UPDATE operations SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL AND state IN ('queued', 'running', 'cancelling')`);
      }
      await q.run(`UPDATE sync_images SET lease_expires_at = 0 WHERE lease_owner = ? AND state = 'running'`, [owner]);
      await q.run('UPDATE blob_transfers SET expires_at = 0 WHERE owner = ?', [owner]);
      return q.run(`UPDATE operations SET lease_expires_at = 0 WHERE lease_owner = ? AND state IN ('queued', 'running', 'cancelling')`, [owner]);
    });
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
    // Transfer leases whose holder died without releasing them (long lapsed) go too.
    const params: unknown[] = [];
    const now = this.nowMs(params);
    await this.tx((q) => q.run(`DELETE FROM blob_transfers WHERE expires_at < ${now} - 3600000`, params));
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

  // ---- a sync's images ---------------------------------------------------------------------

  addSyncImages(operationId: string, images: readonly Omit<SyncImageRow, 'operationId'>[], pinnedTo?: string): Promise<void> {
    return this.tx(async (q) => {
      for (let i = 0; i < images.length; i += IMAGE_INSERT_BATCH) {
        const batch = images.slice(i, i + IMAGE_INSERT_BATCH);
        const params: unknown[] = [];
        const values = batch.map((img) => {
          params.push(operationId, img.index, img.source, img.destination, img.accessKey, img.state, img.digest ?? null, img.bytes ?? null, json(img.error), img.sourceDigest ?? null, img.referrers ?? null, null, pinnedTo ?? null);
          return '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
        });
        await q.run(`INSERT INTO sync_images (${IMAGE_COLUMNS}, pinned_to) VALUES ${values.join(', ')}`, params);
      }
    }, RELAXED);
  }

  async repinSyncImages(operationId: string, owner: string): Promise<void> {
    await this.tx((q) => q.run(`UPDATE sync_images SET pinned_to = ? WHERE operation_id = ? AND pinned_to IS NOT NULL AND state IN ('pending', 'running')`, [owner, operationId]), RELAXED);
  }

  async claimSyncImage(owner: string, leaseMs: number): Promise<SyncImageClaim | undefined> {
    return (await this.claimSyncImages(owner, leaseMs, 1))[0];
  }

  claimSyncImages(owner: string, leaseMs: number, limit: number): Promise<SyncImageClaim[]> {
    const n = Math.max(1, Math.min(Math.floor(limit), MAX_IMAGE_CLAIM));
    return this.tx(async (q) => {
      const params: unknown[] = [owner];
      const now = this.nowMs(params);
      const rows = await q.all(
        `SELECT si.operation_id, si.idx, si.lease_version FROM sync_images si JOIN operations o ON o.id = si.operation_id
         WHERE o.state = 'running' AND (si.pinned_to IS NULL OR si.pinned_to = ?)
           AND (si.state = 'pending' OR (si.state = 'running' AND si.lease_expires_at < ${now}))
         ORDER BY si.operation_id, si.idx LIMIT ${n} ${this.claimLock ? 'FOR UPDATE OF si SKIP LOCKED' : ''}`,
        params,
      );
      const claims: SyncImageClaim[] = [];
      for (const row of rows) {
        const lease: unknown[] = [owner, owner];
        const expires = `${this.nowMs(lease)} + ?`;
        lease.push(leaseMs, row['operation_id'], row['idx'], row['lease_version']);
        const [updated] = await q.all(
          `UPDATE sync_images SET state = 'running', lease_owner = ?, replica_id = ?, lease_version = lease_version + 1, lease_expires_at = ${expires}
           WHERE operation_id = ? AND idx = ? AND lease_version = ? RETURNING ${IMAGE_COLUMNS}, lease_version`,
          lease,
        );
        if (updated) claims.push({ image: toImage(updated), leaseVersion: Number(updated['lease_version']) });
      }
      return claims;
    }, RELAXED);
  }

  async finishSyncImage(operationId: string, index: number, leaseVersion: number, outcome: SyncImageOutcome): Promise<boolean> {
    const c = outcome.counters;
    const changed = await this.tx((q) =>
      q.run(
        `UPDATE sync_images SET state = ?, destination = ?, digest = ?, bytes = ?, error = ?, source_digest = ?, referrers = ?, lease_owner = NULL, lease_expires_at = NULL,
                bytes_total = ?, bytes_skipped = ?, blobs_total = ?, blobs_done = ?, blobs_skipped = ?, blobs_mounted = ?
         WHERE operation_id = ? AND idx = ? AND lease_version = ? AND state = 'running'`,
        [
          outcome.state,
          outcome.destination,
          outcome.digest ?? null,
          outcome.bytes ?? null,
          json(outcome.error),
          outcome.sourceDigest ?? null,
          outcome.referrers ?? null,
          c?.bytesTotal ?? 0,
          c?.bytesSkipped ?? 0,
          c?.blobsTotal ?? 0,
          c?.blobsDone ?? 0,
          c?.blobsSkipped ?? 0,
          c?.blobsMounted ?? 0,
          operationId,
          index,
          leaseVersion,
        ],
      ),
      RELAXED,
    );
    return changed > 0;
  }

  async renewSyncImages(owner: string, leaseMs: number, live: readonly SyncImageLease[]): Promise<(SyncImageLease & { syncState: OperationState })[]> {
    if (live.length === 0) return [];
    const which = (params: unknown[], prefix: string) =>
      live
        .map((l) => {
          params.push(l.operationId, l.index, l.leaseVersion);
          return `(${prefix}operation_id = ? AND ${prefix}idx = ? AND ${prefix}lease_version = ?)`;
        })
        .join(' OR ');
    const renewParams: unknown[] = [];
    const expires = `${this.nowMs(renewParams)} + ?`;
    renewParams.push(leaseMs, owner);
    const renewWhich = which(renewParams, '');
    const readParams: unknown[] = [owner];
    const readWhich = which(readParams, 'si.');
    const rows = await this.tx(async (q) => {
      await q.run(`UPDATE sync_images SET lease_expires_at = ${expires} WHERE lease_owner = ? AND state = 'running' AND (${renewWhich})`, renewParams);
      return q.all(
        `SELECT si.operation_id, si.idx, si.lease_version, o.state AS sync_state FROM sync_images si JOIN operations o ON o.id = si.operation_id
         WHERE si.lease_owner = ? AND si.state = 'running' AND (${readWhich})`,
        readParams,
      );
    }, RELAXED);
    return rows.map((r) => ({ operationId: String(r['operation_id']), index: Number(r['idx']), leaseVersion: Number(r['lease_version']), syncState: r['sync_state'] as OperationState }));
  }

  dropPendingSyncImages(operationId: string): Promise<number> {
    return this.tx((q) => q.run(`DELETE FROM sync_images WHERE operation_id = ? AND state = 'pending'`, [operationId]));
  }

  async countSyncImages(operationId: string): Promise<SyncImageCounts> {
    const rows = await this.q.all(
      `SELECT state, count(*) AS n, COALESCE(sum(bytes), 0) AS bytes, sum(bytes_total) AS bt, sum(bytes_skipped) AS bs, sum(blobs_total) AS lt,
              sum(blobs_done) AS ld, sum(blobs_skipped) AS ls, sum(blobs_mounted) AS lm
       FROM sync_images WHERE operation_id = ? GROUP BY state`,
      [operationId],
    );
    const counts: SyncImageCounts = { pending: 0, running: 0, copied: 0, skipped: 0, failed: 0, planned: 0, bytes: 0, bytesTotal: 0, bytesSkipped: 0, blobsTotal: 0, blobsDone: 0, blobsSkipped: 0, blobsMounted: 0 };
    for (const r of rows) {
      counts[r['state'] as SyncImageTaskState] = Number(r['n']);
      counts.bytes += Number(r['bytes']);
      counts.bytesTotal += Number(r['bt'] ?? 0);
      counts.bytesSkipped += Number(r['bs'] ?? 0);
      counts.blobsTotal += Number(r['lt'] ?? 0);
      counts.blobsDone += Number(r['ld'] ?? 0);
      counts.blobsSkipped += Number(r['ls'] ?? 0);
      counts.blobsMounted += Number(r['lm'] ?? 0);
    }
    return counts;
  }

  async listSyncImages(operationId: string, filter: SyncImageFilter): Promise<SyncImageRow[]> {
    const params: unknown[] = [operationId];
    let where = 'operation_id = ?';
    if (filter.state !== undefined) {
      where += ' AND state = ?';
      params.push(filter.state);
    }
    if (filter.afterIndex !== undefined) {
      where += ' AND idx > ?';
      params.push(filter.afterIndex);
    }
    params.push(filter.limit);
    return (await this.q.all(`SELECT ${IMAGE_COLUMNS} FROM sync_images WHERE ${where} ORDER BY idx LIMIT ?`, params)).map(toImage);
  }

  // ---- blob transfers ------------------------------------------------------------------------

  acquireTransfer(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.tx(async (q) => {
      const p1: unknown[] = [key, owner];
      const expires = `${this.nowMs(p1)} + ?`;
      p1.push(ttlMs);
      const p2: unknown[] = [];
      const now = this.nowMs(p2);
      const rows = await q.all(
        `INSERT INTO blob_transfers (key, owner, expires_at) VALUES (?, ?, ${expires})
         ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at WHERE blob_transfers.expires_at < ${now}
         RETURNING owner`,
        [...p1, ...p2],
      );
      return rows.length > 0;
    }, RELAXED);
  }

  async renewTransfer(key: string, owner: string, ttlMs: number): Promise<void> {
    const params: unknown[] = [];
    const expires = `${this.nowMs(params)} + ?`;
    params.push(ttlMs, key, owner);
    await this.tx((q) => q.run(`UPDATE blob_transfers SET expires_at = ${expires} WHERE key = ? AND owner = ?`, params), RELAXED);
  }

  async releaseTransfer(key: string, owner: string): Promise<void> {
    await this.tx((q) => q.run('DELETE FROM blob_transfers WHERE key = ? AND owner = ?', [key, owner]), RELAXED);
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

