import type { TransferProgress } from '../copy-engine/transfer-progress';
import type { OperationError } from '../errors/operation-error';
import type { Cancellation, Operation, OperationRequest, OperationResult } from './operation';
import type { OperationEvent, OperationEventType, StoredOperation } from './operation-store';

/**
 * Rows ↔ domain values, shared by the two store adapters (their columns are the same; SQLite
 * keeps timestamps as text and booleans as integers, PostgreSQL as timestamptz and boolean).
 */
export const COLUMNS =
  'id, kind, state, principal, created_at, started_at, finished_at, request, progress, result, error, labels, idempotency_key, request_hash, had_secrets, secrets, cancellation, replica_id, lease_owner, lease_version, lease_expires_at, attempts, last_error, deadline_at, last_seq';

export type Row = Record<string, unknown>;

function iso(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  return v instanceof Date ? v.toISOString() : String(v);
}

function parsed<T>(v: unknown): T | undefined {
  return v === null || v === undefined ? undefined : (JSON.parse(String(v)) as T);
}

/**
 * A stored error: an OperationError, or (rows written before schema 2) a problem object,
 * read back as the OperationError it came from.
 */
export function readError(v: unknown): OperationError | undefined {
  const raw = parsed<Record<string, unknown>>(v);
  if (!raw) return undefined;
  if (typeof raw['message'] === 'string') return raw as unknown as OperationError;
  const out: OperationError = { code: String(raw['code'] ?? 'INTERNAL') as OperationError['code'], message: String(raw['detail'] ?? '') };
  for (const k of ['registry', 'upstreamStatus', 'upstreamCode', 'retryable'] as const) {
    if (raw[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = raw[k];
  }
  return out;
}

/** An old sync result's per-image problems, read back as OperationErrors. */
function readResult(v: unknown): OperationResult | undefined {
  const r = parsed<Record<string, unknown>>(v);
  if (r && Array.isArray(r['images'])) {
    for (const image of r['images'] as Record<string, unknown>[]) {
      if (image['error'] !== undefined) image['error'] = readError(JSON.stringify(image['error']));
    }
  }
  return r as OperationResult | undefined;
}

export function toStored(row: Row): StoredOperation {
  const op = {
    id: String(row['id']),
    kind: row['kind'],
    state: row['state'],
    owner: String(row['principal']),
    labels: parsed<Record<string, string>>(row['labels']) ?? {},
    createdAt: iso(row['created_at'])!,
    request: parsed<OperationRequest>(row['request'])!,
    progress: parsed<TransferProgress>(row['progress'])!,
    attempts: Number(row['attempts'] ?? 0),
    requestHash: String(row['request_hash']),
    hadSecrets: row['had_secrets'] === 1 || row['had_secrets'] === true,
    leaseVersion: Number(row['lease_version'] ?? 0),
    lastSeq: Number(row['last_seq'] ?? 0),
  } as StoredOperation;
  const startedAt = iso(row['started_at']);
  if (startedAt) op.startedAt = startedAt;
  const finishedAt = iso(row['finished_at']);
  if (finishedAt) op.finishedAt = finishedAt;
  const result = readResult(row['result']);
  if (result) op.result = result as never;
  const error = readError(row['error']);
  if (error) op.error = error;
  const cancellation = parsed<Cancellation>(row['cancellation']);
  if (cancellation) op.cancellation = cancellation;
  if (row['replica_id'] !== null && row['replica_id'] !== undefined) op.replicaId = String(row['replica_id']);
  if (row['idempotency_key'] !== null && row['idempotency_key'] !== undefined) op.idempotencyKey = String(row['idempotency_key']);
  if (row['secrets'] !== null && row['secrets'] !== undefined) op.sealedSecrets = String(row['secrets']);
  if (row['lease_owner'] !== null && row['lease_owner'] !== undefined) op.leaseOwner = String(row['lease_owner']);
  if (row['lease_expires_at'] !== null && row['lease_expires_at'] !== undefined) op.leaseExpiresAt = Number(row['lease_expires_at']);
  const lastError = readError(row['last_error']);
  if (lastError) op.lastError = lastError;
  const deadlineAt = iso(row['deadline_at']);
  if (deadlineAt) op.deadlineAt = deadlineAt;
  return op;
}

/** The client-facing Operation (without the store's bookkeeping). */
export function publicOperation(op: StoredOperation | Operation): Operation {
  const {
    idempotencyKey: _k,
    requestHash: _h,
    hadSecrets: _s,
    sealedSecrets: _ss,
    leaseOwner: _lo,
    leaseVersion: _lv,
    leaseExpiresAt: _le,
    lastError: _le2,
    deadlineAt: _d,
    lastSeq: _ls,
    ...rest
  } = op as StoredOperation;
  return rest as Operation;
}

export function toEvent(row: Row): OperationEvent {
  const type = String(row['type']) as OperationEventType;
  const data = JSON.parse(String(row['data'])) as unknown;
  const event = { seq: Number(row['seq']), type, data, at: iso(row['at'])! } as OperationEvent;
  if (event.type === 'state') {
    // Events written before schema 2 lack these fields.
    const op = event.data as Partial<Operation> & Record<string, unknown>;
    op.owner ??= 'local';
    op.labels ??= {};
    op.attempts ??= 0;
    if (op.error) op.error = readError(JSON.stringify(op.error));
  }
  return event;
}

export function json(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}
