import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { StoreUnavailableError, storeErrorOf } from '../database/database-errors';
import { DomainError } from '../errors/domain-error';
import { WalFlusher } from '../database/wal-flusher';
import type { SqliteDatabase } from '../database/sqlite-database';
import type { Row } from './operation-row';
import type { StoreSignal } from './operation-store';
import { SqlOperationStore, type SqlRunner, type TxOptions } from './sql-operation-store';

const STATEMENT_CACHE_SIZE = 256;

/**
 * The operations store on embedded SQLite. One process uses a data directory (skiff.pid), so
 * signals are a no-op: the operations service delivers its own. node:sqlite is synchronous;
 * every call (and every transaction, whose body awaits only these calls) runs under one
 * in-process lock, so nothing interleaves inside a transaction.
 */
export class SqliteOperationStore extends SqlOperationStore {
  readonly engine = 'sqlite' as const;
  protected readonly claimLock = '';
  private lock: Promise<unknown> = Promise.resolve();
  private readonly raw: SqlRunner;
  protected readonly q: SqlRunner;

  /**
   * Prepared statements by SQL text. Preparing took a visible share of a re-sync (every
   * statement was prepared again for every image); the store's SQL is a few dozen texts, plus
   * IN-lists and batches whose length varies, so the cache is bounded (emptied when full).
   */
  private readonly statements = new Map<string, StatementSync>();

  /** Makes durable commits durable off the event loop (see tx). */
  private readonly wal: WalFlusher;

  constructor(readonly database: SqliteDatabase) {
    super();
    database.db.exec('PRAGMA synchronous = NORMAL');
    this.wal = new WalFlusher(`${database.path}-wal`);
    const stmt = (sql: string): StatementSync => {
      let s = this.statements.get(sql);
      if (!s) {
        if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
        s = database.db.prepare(sql);
        this.statements.set(sql, s);
      }
      return s;
    };
    this.raw = {
      all: async (sql, params = []) => this.guard(() => stmt(sql).all(...(params as SQLInputValue[])) as Row[]),
      run: async (sql, params = []) => this.guard(() => Number(stmt(sql).run(...(params as SQLInputValue[])).changes)),
    };
    this.q = {
      all: (sql, params) => this.serial(() => this.raw.all(sql, params)),
      run: (sql, params) => this.serial(() => this.raw.run(sql, params)),
    };
  }

  /** A statement's failure: a corruption is noted (readiness fails from now on), a full disk is STORE_FULL. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.database.noteError(e);
      throw storeErrorOf(e, this.database.path);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Every transaction commits under `synchronous = NORMAL` (set in the constructor): in WAL
   * mode COMMIT writes the WAL without an fsync, which node:sqlite would otherwise wait for on
   * the event loop (milliseconds to tens of milliseconds on a busy disk, during which the whole
   * service stands still). A durable one (TxOptions) then waits, after the lock is released,
   * for the WalFlusher's fdatasync on the thread pool: the caller learns of the commit only
   * once it is on disk, other requests go on meanwhile, and durable commits made together
   * share one fdatasync. A relaxed one returns at once; the next flush makes it durable too.
   */
  protected async tx<T>(fn: (q: SqlRunner) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    const out = await this.serial(async () => {
      this.guard(() => this.database.db.exec('BEGIN IMMEDIATE'));
      try {
        const result = await fn(this.raw);
        this.guard(() => this.database.db.exec('COMMIT'));
        return result;
      } catch (e) {
        try {
          this.database.db.exec('ROLLBACK');
        } catch {
          // already rolled back by SQLite (e.g. after SQLITE_FULL)
        }
        throw e;
      }
    });
    if (opts.durable !== false) await this.flushCommits();
    return out;
  }

  /** How many fdatasyncs of the WAL durable commits have made (shared by commits made together). */
  get walFlushes(): number {
    return this.wal.syncs;
  }

  /** Waits until every commit so far is on disk (WalFlusher); a failure is the store's. */
  private async flushCommits(): Promise<void> {
    try {
      await this.wal.flush();
    } catch (e) {
      const known = storeErrorOf(e, this.database.path);
      throw known instanceof DomainError ? known : new StoreUnavailableError(`${this.database.path}: writing its commits to disk failed (${(e as Error).message})`, { cause: e });
    }
  }

  protected bool(value: boolean): unknown {
    return value ? 1 : 0;
  }

  protected nowMs(params: unknown[]): string {
    params.push(Date.now());
    return '?';
  }

  protected async eventsAppended(): Promise<void> {
    // one process: the operations service publishes its own events
  }

  protected isUniqueViolation(e: unknown): boolean {
    return /UNIQUE constraint failed/.test((e as Error)?.message ?? '');
  }

  async signal(_signal: StoreSignal): Promise<void> {
    // one process per SQLite data directory: nobody else to tell
  }

  async subscribe(): Promise<() => Promise<void>> {
    return async () => undefined;
  }

  async health(): Promise<string | undefined> {
    if (this.wal.failure) return `${this.database.path}: ${this.wal.failure.message}`;
    if (this.database.damage) return `${this.database.path} is damaged (${this.database.damage}); restore a backup or start fresh (README: "Backups")`;
    try {
      await this.q.all('SELECT count(*) FROM operations WHERE id = ?', ['']);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      await this.wal.close();
      this.database.close();
    });
  }
}
