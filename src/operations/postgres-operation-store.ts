import type { Listener, PostgresDatabase, Queryable } from '../database/postgres-database';
import type { Row } from './operation-row';
import type { StoreSignal } from './operation-store';
import { SqlOperationStore, type SqlRunner, type TxOptions } from './sql-operation-store';

/** The NOTIFY channel every replica listens on. */
export const SIGNAL_CHANNEL = 'skiff_operations';

/** `?` placeholders → `$1…$n` (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function runner(q: Queryable): SqlRunner {
  return {
    all: (sql, params = []) => q.query<Row>(numbered(sql), params),
    run: (sql, params = []) => q.execute(numbered(sql), params),
  };
}

function encode(signal: StoreSignal): string {
  switch (signal.type) {
    case 'event':
      return `e:${signal.id}:${signal.seq}`;
    case 'cancel':
      return `c:${signal.id}`;
    case 'image':
      return `i:${signal.id}`;
    default:
      return signal.type === 'queued' ? 'q' : 'r';
  }
}

function decode(payload: string): StoreSignal | undefined {
  const [t, id, seq] = payload.split(':');
  if (t === 'e' && id && seq) return { type: 'event', id, seq: Number(seq) };
  if (t === 'c' && id) return { type: 'cancel', id };
  if (t === 'i' && id) return { type: 'image', id };
  if (t === 'q') return { type: 'queued' };
  return undefined;
}

/**
 * The operations store on PostgreSQL, shared by every replica. Claims lock the row they take
 * with `FOR UPDATE SKIP LOCKED`; lease times are the server's clock (replicas' clocks may
 * differ); every transaction that appends events NOTIFYs them, so watchers on any replica wake.
 */
export class PostgresOperationStore extends SqlOperationStore {
  readonly engine = 'postgres' as const;
  protected readonly claimLock = 'FOR UPDATE SKIP LOCKED';
  protected readonly q: SqlRunner;

  constructor(readonly database: PostgresDatabase) {
    super();
    this.q = runner(database);
  }

  /** A relaxed transaction (TxOptions) commits with `synchronous_commit = off` (for it alone). */
  protected tx<T>(fn: (q: SqlRunner) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    return this.database.transaction(async (tx) => {
      if (opts.durable === false) await tx.execute('SET LOCAL synchronous_commit = off', []);
      return fn(runner(tx));
    });
  }

  protected bool(value: boolean): unknown {
    return value;
  }

  protected nowMs(): string {
    return '(extract(epoch from clock_timestamp()) * 1000)::bigint';
  }

  protected async eventsAppended(q: SqlRunner, id: string, seq: number): Promise<void> {
    await q.all('SELECT pg_notify(?, ?)', [SIGNAL_CHANNEL, encode({ type: 'event', id, seq })]);
  }

  protected isUniqueViolation(e: unknown): boolean {
    const cause = (e as { cause?: { code?: unknown }; code?: unknown } | null) ?? {};
    return cause.code === '23505' || cause.cause?.code === '23505';
  }

  async signal(signal: StoreSignal): Promise<void> {
    await this.database.query('SELECT pg_notify($1, $2)', [SIGNAL_CHANNEL, encode(signal)]);
  }

  async subscribe(handler: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    const listener: Listener = await this.database.listen(
      SIGNAL_CHANNEL,
      (payload) => {
        const s = decode(payload);
        if (s) handler(s);
      },
      () => handler({ type: 'reconnected' }),
    );
    return () => listener.close();
  }

  async health(): Promise<string | undefined> {
    try {
      await this.database.ping();
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  async close(): Promise<void> {
    await this.database.close();
  }
}
