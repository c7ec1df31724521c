import { DomainError } from '../errors/domain-error';

/**
 * What the database layer throws, as domain errors: a full disk is 507 INSUFFICIENT_STORAGE
 * (never a crash), an unreachable or failing database 503 STORE_UNAVAILABLE. Both adapters
 * run every statement's error through `storeErrorOf`, so callers see these codes and nothing
 * engine-specific.
 */

/** The database's disk is full (SQLITE_FULL, PostgreSQL 53100, ENOSPC/EDQUOT). */
export class StoreFullError extends DomainError {
  constructor(where: string) {
    super('INSUFFICIENT_STORAGE', `the operations database has no space left (${where}); free space on its volume, then retry`, { retryable: true });
  }
}

/** The database cannot be reached or answered with an error that is not the caller's. */
export class StoreUnavailableError extends DomainError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', `the operations database is unavailable: ${detail}`, { retryable: true, retryAfterSeconds: 5 }, options);
  }
}

/**
 * The service must not start on this database; the message names the file or server and the
 * way out. Printed without a stack trace (see `openDatabaseOrExit`).
 */
export class StartupRefusedError extends Error {}

const SQLITE_FULL = 13;
const PG_DISK_FULL = '53100';
const PG_UNAVAILABLE = /^(08|53|57P|58)/;
const NET = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|terminating connection|the database system is (starting up|shutting down)|Client was closed/i;

/** The SQLite primary result code of a node:sqlite error, if it is one. */
export function sqliteCode(e: unknown): number | undefined {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** Maps an engine error to StoreFullError / StoreUnavailableError; anything else is returned as it is. */
export function storeErrorOf(e: unknown, where: string): unknown {
  if (e instanceof DomainError) return e;
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (sqliteCode(e) === SQLITE_FULL || code === PG_DISK_FULL || code === 'ENOSPC' || code === 'EDQUOT' || /database or disk is full/i.test(message)) {
    return new StoreFullError(where);
  }
  if (PG_UNAVAILABLE.test(code) || NET.test(code) || NET.test(message)) return new StoreUnavailableError(message, { cause: e });
  return e;
}
