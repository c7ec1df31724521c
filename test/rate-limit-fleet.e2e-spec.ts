/**
 * The per-principal rate limit (SKIFF_RATE_LIMIT_PER_MINUTE) on PostgreSQL holds for the
 * fleet, not per replica: the storage's contract on a real server (two pools as two
 * replicas, windows, pruning, an outage), then two real replicas behind which a principal
 * alternates, and a replica whose database is gone that still answers.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostgresDatabase } from '../src/database/postgres-database';
import { SharedRateLimitStorage } from '../src/http/rate-limit-storage';
import { postgresSkip, startPostgres, type TestPostgres } from './support/postgres';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const skip = postgresSkip();
const TOKENS = { alice: 'rate-alice-token-0123456789', bob: 'rate-bob-token-0123456789ab' } as const;
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

/** Waits, if needed, until the server's clock is early in a minute, so a minute's window does not end mid-test. */
async function earlyInAMinute(pg: TestPostgres, url: string): Promise<void> {
  const [row] = (await pg.sql('SELECT extract(second FROM clock_timestamp())::float8 AS s', url)) as { s: number }[];
  if (row!.s > 40) await sleep((61 - row!.s) * 1000);
}

describe('rate limit shared by the replicas on PostgreSQL', { skip }, () => {
  let pg: TestPostgres;
  let url: string;
  const dbs: PostgresDatabase[] = [];
  const live: SkiffService[] = [];

  before(async () => {
    pg = await startPostgres();
    url = await pg.createDatabase('ratelimit');
  });

  after(async () => {
    await Promise.all(live.map((s) => s.stop()));
    await Promise.all(dbs.map((d) => d.close()));
    await pg?.stop();
  });

  const open = async () => {
    const db = await PostgresDatabase.open({ url, poolSize: 2 });
    dbs.push(db);
    return db;
  };

  it('two storages on two pools count one budget per key; another key has its own; the block lasts until the window ends', async () => {
    const warnings: string[] = [];
    const [a, b] = await Promise.all([open(), open()]);
    const replicas = [new SharedRateLimitStorage(a, { warn: (m) => warnings.push(m) }), new SharedRateLimitStorage(b, { warn: (m) => warnings.push(m) })];
    await earlyInAMinute(pg, url);
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await replicas[i % 2]!.increment('default:alice', 60_000, 10, 60_000, 'default'));
    assert.deepEqual(answers.map((r) => r.totalHits), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11], 'one count for both, stopping at limit + 1');
    assert.deepEqual(answers.map((r) => r.isBlocked), [...Array(10).fill(false), true, true]);
    const blocked = answers[10]!;
    assert.ok(blocked.timeToBlockExpire >= 1 && blocked.timeToBlockExpire <= 60, `blocked until the minute ends: ${blocked.timeToBlockExpire}`);
    assert.equal(blocked.timeToBlockExpire, blocked.timeToExpire);
    assert.equal((await replicas[1]!.increment('default:bob', 60_000, 10, 60_000, 'default')).totalHits, 1, 'another principal is not affected');
    const rows = (await pg.sql("SELECT key, hits, expires_at - window_start AS span FROM rate_limit_hits WHERE key LIKE 'default:%' ORDER BY key", url)) as { key: string; hits: number; span: string }[];
    assert.deepEqual(rows.map((r) => [r.key, r.hits, Number(r.span)]), [
      ['default:alice', 11, 60_000],
      ['default:bob', 1, 60_000],
    ]);
    assert.deepEqual(warnings, []);
  });

  it('a new window starts a new count (windows of 1 s here), on whichever replica', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const replicas = [new SharedRateLimitStorage(a, { warn: () => undefined }), new SharedRateLimitStorage(b, { warn: () => undefined })];
    let blocked = false;
    for (let i = 0; i < 50 && !blocked; i++) blocked = (await replicas[i % 2]!.increment('short:carol', 1000, 2, 1000, 'default')).isBlocked;
    // Generous bound: counts until a request is blocked, then until a later window lets one through.
    let fresh = false;
    for (let i = 0; i < 200 && !fresh; i++) {
      const r = await replicas[i % 2]!.increment('short:carol', 1000, 2, 1000, 'default');
      fresh = !r.isBlocked && r.totalHits === 1;
      if (!fresh) await sleep(50);
    }
    assert.ok(blocked, 'three requests in one 1 s window are more than 2');
    assert.ok(fresh, 'a later window counts from 1');
  });

  it('expired rows are pruned, a bounded batch at a time, live ones kept', async () => {
    const db = await open();
    await pg.sql(`INSERT INTO rate_limit_hits (key, window_start, hits, expires_at) SELECT 'old:' || g, 0, 1, 1000 FROM generate_series(1, 250) g`, url);
    const s = new SharedRateLimitStorage(db, { warn: () => undefined, pruneEveryMs: 0, pruneBatch: 100 });
    let left = 250;
    for (let i = 0; i < 100 && left > 0; i++) {
      await s.increment('default:dora', 60_000, 1000, 60_000, 'default');
      await sleep(20);
      left = Number(((await pg.sql("SELECT count(*) AS n FROM rate_limit_hits WHERE key LIKE 'old:%'", url)) as { n: string }[])[0]!.n);
    }
    assert.equal(left, 0);
    const liveRows = (await pg.sql("SELECT hits FROM rate_limit_hits WHERE key = 'default:dora'", url)) as { hits: number }[];
    assert.equal(liveRows.length, 1, 'the live row is kept');
  });

  describe('over HTTP: two replicas, SKIFF_RATE_LIMIT_PER_MINUTE=10', () => {
    let r0: SkiffService;
    let r1: SkiffService;
    const get = async (svc: SkiffService, who: keyof typeof TOKENS) => {
      const res = await fetch(`${svc.url}/v1/registries/registry.example`, { headers: { authorization: `Bearer ${TOKENS[who]}` } });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as { code?: string; detail?: string } };
    };

    before(async () => {
      const work = makeTmpDirSync('skiff-rate-limit-');
      const principals = join(work, 'principals.yaml');
      writeFileSync(principals, `principals:\n  - {name: alice, tokenSha256: "${sha(TOKENS.alice)}", scopes: [images:read]}\n  - {name: bob, tokenSha256: "${sha(TOKENS.bob)}", scopes: [images:read]}\n`);
      const env = { SKIFF_DATABASE_URL: await pg.createDatabase('ratelimit_http'), SKIFF_PRINCIPALS_FILE: principals, SKIFF_RATE_LIMIT_PER_MINUTE: '10' };
      [r0, r1] = await Promise.all([startSkiff({ ...env, SKIFF_REPLICA_ID: 'r0' }), startSkiff({ ...env, SKIFF_REPLICA_ID: 'r1' })]);
      live.push(r0, r1);
    });

    it('a principal alternating between the replicas gets 429 after 10 requests in all, not 20; the answer is the usual one', async () => {
      await earlyInAMinute(pg, pg.adminUrl);
      const statuses: number[] = [];
      const remaining: string[] = [];
      let refused: Awaited<ReturnType<typeof get>> | undefined;
      for (let i = 0; i < 14; i++) {
        const a = await get(i % 2 ? r1 : r0, 'alice');
        statuses.push(a.status);
        if (a.status === 200) remaining.push(a.headers.get('x-ratelimit-remaining')!);
        else refused ??= a;
      }
      assert.deepEqual(statuses, [...Array(10).fill(200), ...Array(4).fill(429)]);
      assert.deepEqual(remaining, ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'], 'each replica sees the count of both');
      assert.equal(refused!.body.code, 'TOO_MANY_REQUESTS');
      assert.match(String(refused!.body.detail), /^principal alice sent more than 10 requests in 60 s \(SKIFF_RATE_LIMIT_PER_MINUTE\); retry after \d+ s$/);
      const retryAfter = Number(refused!.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal((await get(r1, 'bob')).status, 200, 'another principal is not affected');
    });

    it('with the database gone, requests are still answered (counted in memory) and the replica warns', async () => {
      await pg.pause();
      try {
        for (let i = 0; i < 3; i++) {
          const a = await get(r0, 'bob');
          assert.equal(a.status, 200, JSON.stringify(a.body));
        }
        for (let i = 0; i < 200 && !/per-principal rate limit cannot be counted in the database/.test(r0.log()); i++) await sleep(50);
        assert.match(r0.log(), /per-principal rate limit cannot be counted in the database \(STORE_UNAVAILABLE/);
      } finally {
        await pg.resume();
      }
    });
  });
});
