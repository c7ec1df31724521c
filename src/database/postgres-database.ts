import { Client, Pool, type PoolClient, type QueryResultRow } from 'pg';
import { StartupRefusedError, storeErrorOf } from './database-errors';
import { POSTGRES_MIGRATIONS } from './migrations';

/** Runs SQL; the pool or one transaction's client. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  /** Runs a statement; answers how many rows it changed. */
  execute(text: string, params?: unknown[]): Promise<number>;
}

export interface PostgresOpenOptions {
  url: string;
  poolSize: number;
  /** How long start-up keeps trying to reach the server before it gives up. */
  connectTimeoutMs?: number;
  /** Told about connection trouble the pool or the listener met (the caller logs it). */
  warn?: (message: string, error?: unknown) => void;
  /**
   * How often the LISTEN connection is checked with a round trip; one unanswered for as long
   * counts as a lost connection (default LISTEN_HEARTBEAT_MS).
   */
  listenHeartbeatMs?: number;
}

/** Key of the advisory lock under which migrations run (any constant shared by all replicas). */
const MIGRATION_LOCK = 0x736b6966; // "skif"
const STATEMENT_TIMEOUT_MS = 30_000;
/** The LISTEN connection's heartbeat period (and how long one may go unanswered). */
const LISTEN_HEARTBEAT_MS = 10_000;
/** TCP keepalive probes start after this much idle time (the OS then finds a dead peer). */
const KEEPALIVE_DELAY_MS = 10_000;

/** A LISTEN connection that reconnects by itself; `close()` ends it. */
export interface Listener {
  close(): Promise<void>;
}

/** An error as its message and code only (pg errors carry their whole client). */
function compact(e: unknown): { message: string; code?: string } | undefined {
  if (e === undefined) return undefined;
  const err = e as { message?: unknown; code?: unknown };
  return { message: typeof err.message === 'string' ? err.message : String(e), ...(typeof err.code === 'string' ? { code: err.code } : {}) };
}

/** The server URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/**
 * PostgreSQL shared by every replica, through a `pg` pool. Migrations run at open under
 * `pg_advisory_lock`, so exactly one replica applies them while the others wait. Every error
 * leaves here mapped by `storeErrorOf` (STORE_UNAVAILABLE, INSUFFICIENT_STORAGE). An idle
 * client's error never crashes the process: the pool drops it and the next query reconnects.
 */
export class PostgresDatabase implements Queryable {
  readonly engine = 'postgres' as const;
  readonly pool: Pool;
  private closed = false;

  private constructor(private readonly options: PostgresOpenOptions) {
    this.pool = new Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'skiff',
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
    this.pool.on('error', (e) => options.warn?.('an idle PostgreSQL connection failed; it is replaced on the next query', compact(e)));
    // pg-pool hands a client released by pool.query (inside the socket's parse loop) to a waiting
    // pool.connect() whose caller can listen for its errors only a microtask later; an error the
    // server sends in the same packet (a FATAL at shutdown) would then be an 'error' event without
    // a listener, which ends the process. Every client keeps a listener of its own for its whole
    // life: the failure still reaches the client's next query (not queryable → STORE_UNAVAILABLE).
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Connects (retrying while the server starts), migrates under the advisory lock. */
  static async open(options: PostgresOpenOptions): Promise<PostgresDatabase> {
    const db = new PostgresDatabase(options);
    const deadline = Date.now() + (options.connectTimeoutMs ?? 30_000);
    for (;;) {
      try {
        await db.migrate();
        return db;
      } catch (e) {
        if (e instanceof StartupRefusedError) {
          await db.close();
          throw e;
        }
        if (Date.now() > deadline) {
          await db.close();
          throw new StartupRefusedError(`cannot use the PostgreSQL database ${redactUrl(options.url)} (SKIFF_DATABASE_URL): ${(e as Error).message}`);
        }
        options.warn?.(`PostgreSQL ${redactUrl(options.url)} not usable yet; retrying`, compact(e));
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await client.query(`CREATE TABLE IF NOT EXISTS skiff_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        const applied = new Set((await client.query<{ version: number }>('SELECT version FROM skiff_schema_migrations')).rows.map((r) => Number(r.version)));
        const latest = POSTGRES_MIGRATIONS.length;
        const newest = Math.max(0, ...applied);
        if (newest > latest) throw new StartupRefusedError(`the PostgreSQL schema is at version ${newest}, newer than this skiff understands (${latest}); use a newer skiff`);
        for (const m of POSTGRES_MIGRATIONS) {
          if (applied.has(m.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO skiff_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
            await client.query('COMMIT');
          } catch (e) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw e;
          }
        }
        await client.query("INSERT INTO store_meta (key, value) VALUES ('store_id', gen_random_uuid()::text) ON CONFLICT (key) DO NOTHING");
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
  }

  async schemaVersion(): Promise<number> {
    const rows = await this.query<{ v: number | null }>('SELECT max(version) AS v FROM skiff_schema_migrations');
    return Number(rows[0]?.v ?? 0);
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, params)).rows;
    } catch (e) {
      throw storeErrorOf(e, 'PostgreSQL');
    }
  }

  async execute(text: string, params: unknown[] = []): Promise<number> {
    try {
      return (await this.pool.query(text, params)).rowCount ?? 0;
    } catch (e) {
      throw storeErrorOf(e, 'PostgreSQL');
    }
  }

  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw storeErrorOf(e, 'PostgreSQL');
    }
    // A checked-out client whose connection dies between statements emits 'error': without a
    // listener that would end the process. The next statement fails instead.
    let broken = false;
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    const tx: Queryable = {
      query: async <R extends QueryResultRow>(text: string, params: unknown[] = []) => {
        try {
          return (await client.query<R>(text, params)).rows;
        } catch (e) {
          throw storeErrorOf(e, 'PostgreSQL');
        }
      },
      execute: async (text: string, params: unknown[] = []) => {
        try {
          return (await client.query(text, params)).rowCount ?? 0;
        } catch (e) {
          throw storeErrorOf(e, 'PostgreSQL');
        }
      },
    };
    try {
      await tx.query('BEGIN');
      const out = await fn(tx);
      await tx.query('COMMIT');
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw e;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Readiness: one round trip within `timeoutMs`. */
  async ping(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * LISTENs on `channel` on a connection of its own, calling `onMessage` with each payload.
   * When the connection breaks it reconnects with backoff and calls `onReconnect` (the
   * caller catches up on what it may have missed meanwhile). A connection that silently
   * died (half-open: a NAT or firewall dropped it, the server's host vanished) is found by
   * TCP keepalive and by a heartbeat round trip every `listenHeartbeatMs`: one unanswered
   * for as long counts as lost, its socket is destroyed, and the listener reconnects.
   */
  async listen(channel: string, onMessage: (payload: string) => void, onReconnect: () => void): Promise<Listener> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
    const heartbeatMs = this.options.listenHeartbeatMs ?? LISTEN_HEARTBEAT_MS;
    let client: Client | undefined;
    /** The client LISTENing now, and how to drop it. */
    let live: { client: Client; lost: (e?: unknown) => void } | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    let delay = 250;
    const connect = async (first: boolean): Promise<void> => {
      // Connecting and LISTEN, too, count as lost when unanswered for a heartbeat: a reconnect
      // that hangs (nothing answers behind a NAT or balancer) would otherwise never end, and
      // with it the listener, which only a lost connection reschedules.
      const c = new Client({
        connectionString: this.options.url,
        application_name: 'skiff-listen',
        keepAlive: true,
        keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
        connectionTimeoutMillis: heartbeatMs,
        query_timeout: heartbeatMs,
      });
      c.on('notification', (n) => {
        if (n.channel === channel && n.payload !== undefined) onMessage(n.payload);
      });
      const lost = (e?: unknown) => {
        if (client !== c) return;
        client = undefined;
        if (live?.client === c) live = undefined;
        c.removeAllListeners('error');
        c.on('error', () => undefined);
        c.end().catch(() => undefined);
        // A half-open socket would keep waiting for the server's goodbye.
        c.connection.stream.destroy();
        if (stopped) return;
        this.options.warn?.('the PostgreSQL LISTEN connection was lost; reconnecting', compact(e));
        schedule();
      };
      c.on('error', lost);
      c.on('end', () => lost());
      client = c;
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
        if (client !== c) return;
        live = { client: c, lost };
        delay = 250;
        if (!first) onReconnect();
      } catch (e) {
        if (first) {
          client = undefined;
          await c.end().catch(() => undefined);
          throw storeErrorOf(e, 'PostgreSQL');
        }
        lost(e);
      }
    };
    const schedule = () => {
      if (stopped || retry) return;
      retry = setTimeout(() => {
        retry = undefined;
        void connect(false);
      }, delay);
      retry.unref();
      delay = Math.min(delay * 2, 5000);
    };
    let beating = false;
    const heartbeat = setInterval(() => {
      const current = live;
      if (!current || beating || stopped) return;
      beating = true;
      // Unanswered within heartbeatMs, it fails (the client's query_timeout).
      current.client
        .query('SELECT 1')
        .then(
          () => undefined,
          (e: unknown) => current.lost(e),
        )
        .finally(() => {
          beating = false;
        });
    }, heartbeatMs);
    heartbeat.unref();
    try {
      await connect(true);
    } catch (e) {
      clearInterval(heartbeat);
      throw e;
    }
    return {
      close: async () => {
        stopped = true;
        clearInterval(heartbeat);
        clearTimeout(retry);
        const c = client;
        client = undefined;
        live = undefined;
        if (!c) return;
        // A half-open connection never answers the goodbye: its socket goes after a short wait.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([c.end().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
        clearTimeout(timer);
        c.connection.stream.destroy();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }
}
