import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreUnavailableError } from '../database/database-errors';
import type { Database } from '../database/database.module';
import type { Queryable } from '../database/postgres-database';
import { rateLimitOptions, SharedRateLimitStorage } from './rate-limit-storage';

/**
 * The storage's own decisions (answer mapping, failure policy, pruning cadence) on a scripted
 * Queryable; what the SQL does on a real PostgreSQL is test/rate-limit-fleet.e2e-spec.ts.
 */
class ScriptedDb implements Queryable {
  counts: unknown[][] = [];
  prunes: unknown[][] = [];
  /** What the next count statement does. */
  answer: () => Promise<unknown[]> = async () => [{ hits: '1', remaining_ms: '30000' }];
  pruned = 0;

  async query<R>(_text: string, params: unknown[] = []): Promise<R[]> {
    this.counts.push(params);
    return (await this.answer()) as R[];
  }

  async execute(_text: string, params: unknown[] = []): Promise<number> {
    this.prunes.push(params);
    return this.pruned;
  }
}

function storage(db: Queryable, extra: Partial<ConstructorParameters<typeof SharedRateLimitStorage>[1]> = {}) {
  const warnings: string[] = [];
  let clock = 1_000_000;
  const s = new SharedRateLimitStorage(db, { warn: (m) => warnings.push(m), now: () => clock, ...extra });
  return { s, warnings, advance: (ms: number) => (clock += ms) };
}

describe('SharedRateLimitStorage', () => {
  it("answers the database's count: not blocked up to the limit, blocked beyond it until the window ends", async () => {
    const db = new ScriptedDb();
    const { s } = storage(db);
    db.answer = async () => [{ hits: '10', remaining_ms: '12001' }];
    assert.deepEqual(await s.increment('default:alice', 60_000, 10, 60_000, 'default'), { totalHits: 10, timeToExpire: 13, isBlocked: false, timeToBlockExpire: 0 });
    assert.deepEqual(db.counts[0], ['default:alice', 60_000, 10]);
    db.answer = async () => [{ hits: 11, remaining_ms: 12001 }];
    assert.deepEqual(await s.increment('default:alice', 60_000, 10, 60_000, 'default'), { totalHits: 11, timeToExpire: 13, isBlocked: true, timeToBlockExpire: 13 });
    db.answer = async () => [{ hits: 11, remaining_ms: 0 }];
    assert.equal((await s.increment('default:alice', 60_000, 10, 60_000, 'default')).timeToBlockExpire, 1, 'never a Retry-After of 0');
  });

  it('a database that fails does not fail the request: counted in memory, one warning, no asking again during the backoff', async () => {
    const db = new ScriptedDb();
    const { s, warnings, advance } = storage(db, { backoffMs: 5000, warnEveryMs: 60_000 });
    db.answer = async () => {
      throw new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:5432');
    };
    for (let i = 1; i <= 3; i++) {
      const r = await s.increment('default:bob', 60_000, 2, 60_000, 'default');
      assert.equal(r.totalHits, i);
      assert.equal(r.isBlocked, i > 2, 'the in-memory count still limits');
    }
    assert.equal(db.counts.length, 1, 'asked once, then counted in memory during the backoff');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /STORE_UNAVAILABLE: the operations database is unavailable: connect ECONNREFUSED/);
    assert.match(warnings[0]!, /counting in this replica's memory/);
    advance(5001);
    await s.increment('default:bob', 60_000, 2, 60_000, 'default');
    assert.equal(db.counts.length, 2, 'asked again after the backoff');
    assert.equal(warnings.length, 1, 'the warning is rate-limited');
    advance(60_000);
    await s.increment('default:bob', 60_000, 2, 60_000, 'default');
    assert.equal(warnings.length, 2);
    assert.match(warnings[1]!, /\(4 request\(s\) counted in memory since the last warning\)/);
    db.answer = async () => [{ hits: 1, remaining_ms: 1000 }];
    advance(5001);
    assert.equal((await s.increment('default:bob', 60_000, 2, 60_000, 'default')).totalHits, 1, 'back on the database once it answers');
  });

  it('a database that does not answer in time does not hold the request: counted in memory; its late failure is handled', async () => {
    const db = new ScriptedDb();
    const { s, warnings } = storage(db, { timeoutMs: 20 });
    let fail: (e: Error) => void = () => undefined;
    db.answer = () => new Promise((_, reject) => (fail = reject));
    const r = await s.increment('default:carol', 60_000, 5, 60_000, 'default');
    assert.equal(r.totalHits, 1);
    assert.equal(r.isBlocked, false);
    assert.match(warnings[0]!, /no answer within 20 ms/);
    fail(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('an unexpected answer (no row) counts in memory too', async () => {
    const db = new ScriptedDb();
    const { s, warnings } = storage(db);
    db.answer = async () => [];
    assert.equal((await s.increment('default:dan', 60_000, 5, 60_000, 'default')).totalHits, 1);
    assert.match(warnings[0]!, /answered no row/);
  });

  it('prunes expired rows at most once per interval, a bounded batch, again at once after a full batch', async () => {
    const db = new ScriptedDb();
    const { s, advance } = storage(db, { pruneEveryMs: 60_000, pruneBatch: 100 });
    await s.increment('k', 60_000, 5, 60_000, 'default');
    await s.increment('k', 60_000, 5, 60_000, 'default');
    assert.deepEqual(db.prunes, [[100]]);
    advance(60_000);
    db.pruned = 100;
    await s.increment('k', 60_000, 5, 60_000, 'default');
    db.pruned = 3;
    await new Promise((resolve) => setImmediate(resolve));
    await s.increment('k', 60_000, 5, 60_000, 'default');
    assert.equal(db.prunes.length, 3, 'a full batch lets the next count prune again');
    await new Promise((resolve) => setImmediate(resolve));
    await s.increment('k', 60_000, 5, 60_000, 'default');
    assert.equal(db.prunes.length, 3);
  });

  it('a failed prune is nobody\'s failure', async () => {
    const db = new ScriptedDb();
    db.execute = async () => {
      throw new StoreUnavailableError('gone');
    };
    const { s } = storage(db);
    assert.equal((await s.increment('k', 60_000, 5, 60_000, 'default')).totalHits, 1);
    await new Promise((resolve) => setImmediate(resolve));
  });
});

describe('rateLimitOptions', () => {
  it('counts in the shared database on PostgreSQL, in memory (the throttler default) on SQLite', () => {
    const pg = rateLimitOptions(10, { engine: 'postgres', query: async () => [], execute: async () => 0 } as unknown as Database, () => undefined);
    const sqlite = rateLimitOptions(10, { engine: 'sqlite' } as unknown as Database, () => undefined);
    assert.ok(!Array.isArray(pg) && pg.storage instanceof SharedRateLimitStorage);
    assert.ok(!Array.isArray(sqlite) && sqlite.storage === undefined);
    for (const o of [pg, sqlite]) assert.deepEqual(!Array.isArray(o) && o.throttlers, [{ name: 'default', ttl: 60_000, limit: 10 }]);
  });
});
