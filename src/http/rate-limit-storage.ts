import { ThrottlerStorageService, type ThrottlerModuleOptions, type ThrottlerStorage } from '@nestjs/throttler';
import type { Database } from '../database/database.module';
import type { Queryable } from '../database/postgres-database';
import { DomainError } from '../errors/domain-error';

/** What a count answers (@nestjs/throttler does not export the type from its entry point). */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * Where the per-principal request counts (SKIFF_RATE_LIMIT_PER_MINUTE) live. One process on
 * SQLite counts in memory (@nestjs/throttler's own store). Replicas on PostgreSQL count in
 * the shared table `rate_limit_hits`, so the limit holds for the fleet, not per replica.
 */
export function rateLimitOptions(limitPerMinute: number, db: Database, warn: (message: string) => void): ThrottlerModuleOptions {
  return {
    throttlers: [{ name: 'default', ttl: 60_000, limit: limitPerMinute }],
    ...(db.engine === 'postgres' ? { storage: new SharedRateLimitStorage(db, { warn }) } : {}),
  };
}

export interface SharedRateLimitStorageOptions {
  /** Told, at most once per `warnEveryMs`, that requests were counted in memory because the database could not be asked. */
  warn: (message: string) => void;
  /** A count the database has not answered within this is counted in memory instead (default 1000 ms). */
  timeoutMs?: number;
  /** After a failed count, requests are counted in memory without asking the database for this long (default 5000 ms). */
  backoffMs?: number;
  /** Expired rows are deleted at most this often by this process (default 60 s)… */
  pruneEveryMs?: number;
  /** …and at most this many per statement (default 1000; a full batch lets the next count prune again). */
  pruneBatch?: number;
  /** Minimum interval between two warnings (default 60 s). */
  warnEveryMs?: number;
  /** This process's clock, for the backoff, pruning and warning intervals only; windows follow the database server's clock. */
  now?: () => number;
}

/**
 * One statement per request: the row of (key, the current fixed window) is created at 1 or
 * incremented, and answers the count and how long the window still runs. Windows are `ttl`
 * long and aligned on multiples of it (minutes for the 60 s throttler) on the database
 * server's clock, so every replica agrees which window a request falls into. The count stops
 * at limit + 1 (a blocked caller's further requests change nothing that matters).
 */
const INCREMENT_SQL = `WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms)
INSERT INTO rate_limit_hits AS h (key, window_start, hits, expires_at)
  SELECT $1, now_ms - now_ms % $2::bigint, 1, now_ms - now_ms % $2::bigint + $2::bigint FROM clock
ON CONFLICT (key, window_start) DO UPDATE SET hits = LEAST(h.hits + 1, $3::integer + 1)
RETURNING h.hits, h.expires_at - (SELECT now_ms FROM clock) AS remaining_ms`;

/** Deletes at most $1 rows whose window has ended. */
const PRUNE_SQL = `DELETE FROM rate_limit_hits WHERE (key, window_start) IN (
  SELECT key, window_start FROM rate_limit_hits WHERE expires_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint LIMIT $1)`;

/**
 * @nestjs/throttler's storage on the shared PostgreSQL database: fleet-wide fixed windows.
 *
 * Contract of `increment(key, ttl, limit)`: counts one request of `key` in the current window
 * and answers `totalHits` (capped at limit + 1), `timeToExpire` (seconds until the window
 * ends, at least 1), `isBlocked` (more than `limit` requests in this window) and, when
 * blocked, `timeToBlockExpire` (= timeToExpire: blocked until the window ends, whatever
 * `blockDuration` says; skiff sets none, so the throttler's default, ttl). The guard turns a
 * block into 429 TOO_MANY_REQUESTS with that Retry-After, as with the in-memory store.
 *
 * Failure policy: a database that fails, or does not answer within `timeoutMs`, never fails
 * the request: it is counted in this process's memory instead (the limit then holds per
 * replica), a warning is logged at most every `warnEveryMs`, and for `backoffMs` the next
 * requests are counted in memory without asking (an outage adds no latency to each request).
 * Expired rows are deleted opportunistically, a bounded batch at most every `pruneEveryMs`,
 * after a successful count, never awaited by the request; a failed prune is only retried later.
 */
export class SharedRateLimitStorage implements ThrottlerStorage {
  private readonly memory = new ThrottlerStorageService();
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly pruneEveryMs: number;
  private readonly pruneBatch: number;
  private readonly warnEveryMs: number;
  private readonly now: () => number;
  /** Until when requests are counted in memory without asking the database. */
  private askAgainAt = 0;
  private lastPruneAt = Number.NEGATIVE_INFINITY;
  private pruning = false;
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  /** Requests counted in memory since the last warning. */
  private unwarned = 0;

  constructor(
    private readonly db: Queryable,
    private readonly options: SharedRateLimitStorageOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.backoffMs = options.backoffMs ?? 5000;
    this.pruneEveryMs = options.pruneEveryMs ?? 60_000;
    this.pruneBatch = options.pruneBatch ?? 1000;
    this.warnEveryMs = options.warnEveryMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    if (this.now() < this.askAgainAt) return this.inMemory(key, ttl, limit, blockDuration, throttlerName);
    let row: { hits: number | string; remaining_ms: number | string } | undefined;
    try {
      row = (await this.withTimeout(this.db.query<{ hits: number | string; remaining_ms: number | string }>(INCREMENT_SQL, [key, Math.max(1, Math.round(ttl)), limit])))[0];
      if (!row) throw new Error('the count statement answered no row');
    } catch (e) {
      this.askAgainAt = this.now() + this.backoffMs;
      this.failed(e);
      return this.inMemory(key, ttl, limit, blockDuration, throttlerName);
    }
    this.maybePrune();
    const totalHits = Number(row.hits);
    const timeToExpire = Math.max(1, Math.ceil(Number(row.remaining_ms) / 1000));
    const isBlocked = totalHits > limit;
    return { totalHits, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToExpire : 0 };
  }

  /** Ends the in-memory store's sweep timer (Nest calls it: the storage is the throttler's provider). */
  onApplicationShutdown(): void {
    this.memory.onApplicationShutdown();
  }

  private inMemory(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    this.unwarned++;
    return this.memory.increment(key, ttl, limit, blockDuration, throttlerName);
  }

  private async withTimeout<T>(query: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    // Promise.race handles a late rejection of `query` too: nothing is left unhandled.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([query, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(e: unknown): void {
    const now = this.now();
    if (now - this.lastWarnAt < this.warnEveryMs) return;
    this.lastWarnAt = now;
    const why = e instanceof DomainError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    // `unwarned` does not count yet the request this failure is about.
    const since = this.unwarned > 0 ? ` (${this.unwarned} request(s) counted in memory since the last warning)` : '';
    this.unwarned = 0;
    this.options.warn(
      `the per-principal rate limit cannot be counted in the database (${why}); counting in this replica's memory meanwhile, so the limit holds per replica${since}`,
    );
  }

  private maybePrune(): void {
    const now = this.now();
    if (this.pruning || now - this.lastPruneAt < this.pruneEveryMs) return;
    this.pruning = true;
    this.lastPruneAt = now;
    this.db.execute(PRUNE_SQL, [this.pruneBatch]).then(
      (deleted) => {
        this.pruning = false;
        // More may be left: the next count prunes again.
        if (deleted >= this.pruneBatch) this.lastPruneAt = Number.NEGATIVE_INFINITY;
      },
      () => {
        this.pruning = false;
      },
    );
  }
}
