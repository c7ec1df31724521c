import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { storeErrorOf } from '../database/database-errors';
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

  constructor(readonly database: SqliteDatabase) {
    super();
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
   * A relaxed transaction (TxOptions) commits under `synchronous = NORMAL`: in WAL mode the
   * commit is written to the WAL without an fsync — which node:sqlite would otherwise wait for
   * on the event loop (tens of milliseconds on a busy disk, for every progress update and
   * every image of a sync). The next durable commit flushes it with its own. Transactions run
   * one at a time under the lock, so the setting applies to this commit only.
   */
  protected tx<T>(fn: (q: SqlRunner) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    return this.serial(async () => {
      const relaxed = opts.durable === false;
      if (relaxed) this.guard(() => this.database.db.exec('PRAGMA synchronous = NORMAL'));
      try {
        this.guard(() => this.database.db.exec('BEGIN IMMEDIATE'));
        try {
          const out = await fn(this.raw);
          this.guard(() => this.database.db.exec('COMMIT'));
          return out;
        } catch (e) {
          try {
            this.database.db.exec('ROLLBACK');
          } catch {
            // already rolled back by SQLite (e.g. after SQLITE_FULL)
          }
          throw e;
        }
      } finally {
        if (relaxed) this.guard(() => this.database.db.exec('PRAGMA synchronous = FULL'));
      }
    });
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
    if (this.database.damage) return `${this.database.path} is damaged (${this.database.damage}); restore a backup or start fresh (README: "Backups")`;
    try {
      await this.q.all('SELECT count(*) FROM operations WHERE id = ?', ['']);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  async close(): Promise<void> {
    await this.serial(async () => this.database.close());
  }
}
