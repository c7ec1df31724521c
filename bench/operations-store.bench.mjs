// Benchmark: the operations store at BENCH_OPERATIONS (default 100,000) finished operations,
// embedded SQLite and PostgreSQL side by side, through the operations service (what the HTTP
// handlers call, minus HTTP):
//   (a) submit throughput: BENCH_SUBMITS submissions, BENCH_SUBMIT_CONCURRENCY at a time
//   (b) list-page latency (50 a page) with filters: a principal's own, a label, state + kind,
//       a creation-time window, a page deep in the cursor; p50 and p95 over BENCH_LIST_RUNS
//   (c) replay of a 10,000-event operation (SSE with Last-Event-ID: 0)
// Goal: list page under 20 ms p50 and over 300 submits/s for both. Run with
// `npm run bench:operations` (it builds first). PostgreSQL comes from test/support/postgres.ts
// (a real server on loopback) with its durable defaults (fsync, synchronous commit), as SQLite
// makes every durable commit durable (a shared fdatasync of its WAL); BENCH_PG_FAST=1 uses the tests' fsync-off settings instead.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const load = (m) => import(join(root, '.test-build', m));
const { loadConfig } = await load('src/config/app-config.js');
const { SqliteDatabase } = await load('src/database/sqlite-database.js');
const { PostgresDatabase } = await load('src/database/postgres-database.js');
const { SqliteOperationStore } = await load('src/operations/sqlite-operation-store.js');
const { PostgresOperationStore } = await load('src/operations/postgres-operation-store.js');
const { OperationsService } = await load('src/operations/operations.service.js');
const { newOperationId, operationIdTimePrefix } = await load('src/operations/operation-id.js');
const { emptyProgress } = await load('src/copy-engine/transfer-progress.js');
const { startPostgres } = await load('test/support/postgres.js');
const { Logger } = await import('@nestjs/common');
Logger.overrideLogger(false);

const num = (name, dflt) => Number(process.env[name] ?? dflt);
const OPERATIONS = num('BENCH_OPERATIONS', 100_000);
const SUBMITS = num('BENCH_SUBMITS', 3000);
const SUBMIT_CONCURRENCY = num('BENCH_SUBMIT_CONCURRENCY', 16);
const LIST_RUNS = num('BENCH_LIST_RUNS', 200);
const EVENTS = 10_000;
const OWNERS = 20;

const request = { source: 'docker://registry.example/team/app:1.0', destination: 'docker://mirror.example/team/app:1.0', sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3 };
const result = { digest: 'sha256:' + 'a'.repeat(64), mediaType: 'application/vnd.oci.image.manifest.v1+json', manifests: [] };

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Rows for `n` finished operations, oldest first, spread over the last 30 days. */
function* seedRows(n) {
  const start = Date.now() - 30 * 86_400_000;
  for (let i = 0; i < n; i++) {
    const t = start + Math.floor((i * 30 * 86_400_000) / n);
    // An id of that time (newOperationId never goes back in time once it has made a later one).
    const id = operationIdTimePrefix(t) + newOperationId().slice(10);
    const created = new Date(t).toISOString();
    const finished = new Date(t + 5000).toISOString();
    const state = i % 10 === 0 ? 'failed' : i % 17 === 0 ? 'cancelled' : 'succeeded';
    const kind = i % 5 === 0 ? 'sync' : 'copy';
    const owner = `p${i % OWNERS}`;
    const labels = { team: `t${i % 50}`, env: i % 3 === 0 ? 'prod' : 'dev' };
    const op = { id, kind, state, owner, labels, createdAt: created, startedAt: created, finishedAt: finished, request, progress: { ...emptyProgress('done'), bytesTotal: 1000, bytesDone: 1000 }, attempts: 1, replicaId: 'seed', ...(state === 'succeeded' ? { result } : {}) };
    yield { op, created, finished };
  }
}

async function seedSqlite(store) {
  const db = store.database.db;
  const insOp = db.prepare(
    `INSERT INTO operations (id, kind, state, principal, created_at, started_at, finished_at, request, progress, result, labels, request_hash, replica_id, attempts, last_seq)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'h', 'seed', 1, 2)`,
  );
  const insLabel = db.prepare('INSERT INTO operation_labels (operation_id, key, value) VALUES (?, ?, ?)');
  const insEvent = db.prepare('INSERT INTO operation_events (operation_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)');
  db.exec('BEGIN');
  let i = 0;
  for (const { op, created, finished } of seedRows(OPERATIONS)) {
    insOp.run(op.id, op.kind, op.state, op.owner, created, created, finished, JSON.stringify(request), JSON.stringify(op.progress), op.result ? JSON.stringify(result) : null, JSON.stringify(op.labels));
    for (const [k, v] of Object.entries(op.labels)) insLabel.run(op.id, k, v);
    insEvent.run(op.id, 1, 'state', JSON.stringify({ ...op, state: 'queued' }), created);
    insEvent.run(op.id, 2, 'state', JSON.stringify(op), finished);
    if (++i % 20_000 === 0) {
      db.exec('COMMIT');
      db.exec('BEGIN');
    }
  }
  db.exec('COMMIT');
  db.exec('ANALYZE');
}

async function seedPostgres(store) {
  const db = store.database;
  const batch = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const ops = [];
    const opParams = [];
    const labels = [];
    const labelParams = [];
    const events = [];
    const eventParams = [];
    for (const { op, created, finished } of batch) {
      const b = opParams.length;
      ops.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, $${b + 10}, 'h', 'seed', 1, 2)`);
      opParams.push(op.id, op.kind, op.state, op.owner, created, finished, JSON.stringify(request), JSON.stringify(op.progress), op.result ? JSON.stringify(result) : null, JSON.stringify(op.labels));
      for (const [k, v] of Object.entries(op.labels)) {
        const l = labelParams.length;
        labels.push(`($${l + 1}, $${l + 2}, $${l + 3})`);
        labelParams.push(op.id, k, v);
      }
      for (const [seq, data, at] of [
        [1, { ...op, state: 'queued' }, created],
        [2, op, finished],
      ]) {
        const e = eventParams.length;
        events.push(`($${e + 1}, $${e + 2}, 'state', $${e + 3}, $${e + 4})`);
        eventParams.push(op.id, seq, JSON.stringify(data), at);
      }
    }
    await db.query(`INSERT INTO operations (id, kind, state, principal, created_at, started_at, finished_at, request, progress, result, labels, request_hash, replica_id, attempts, last_seq) VALUES ${ops.join(',')}`, opParams);
    await db.query(`INSERT INTO operation_labels (operation_id, key, value) VALUES ${labels.join(',')}`, labelParams);
    await db.query(`INSERT INTO operation_events (operation_id, seq, type, data, at) VALUES ${events.join(',')}`, eventParams);
    batch.length = 0;
  };
  for (const row of seedRows(OPERATIONS)) {
    batch.push(row);
    if (batch.length === 500) await flush();
  }
  await flush();
  await db.query('ANALYZE');
}

async function seedReplay(store) {
  const { operation } = await store.insert({ operation: { id: newOperationId(), kind: 'copy', state: 'queued', owner: 'p0', labels: {}, createdAt: new Date().toISOString(), request, progress: emptyProgress('queued'), attempts: 0 }, requestHash: 'replay', hadSecrets: false });
  const claim = await store.claim({ owner: 'bench', leaseMs: 600_000, deadlineMs: 86_400_000 });
  for (let i = 0; i < EVENTS - 4; i++) await store.recordProgress(operation.id, claim.leaseVersion, { ...emptyProgress('copying'), bytesTotal: EVENTS, bytesDone: i });
  await store.transition(operation.id, { state: 'succeeded', finishedAt: new Date().toISOString(), result, lease: null }, { states: ['running'], leaseVersion: claim.leaseVersion });
  return operation.id;
}

async function measure(name, store, dataDir) {
  const t0 = performance.now();
  if (store.engine === 'sqlite') await seedSqlite(store);
  else await seedPostgres(store);
  const seedSeconds = (performance.now() - t0) / 1000;
  const replayId = await seedReplay(store);
  const config = loadConfig({ SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'silent', SKIFF_QUEUE_MAX: '10000000', SKIFF_OPERATION_RETENTION_HOURS: '87600' }, dataDir);
  const svc = new OperationsService(config, store);
  svc.registerRunner({ kind: 'copy', run: async () => result });
  await svc.onModuleInit();
  // The worker is not started: submissions stay queued, as under a burst.
  const owner = (i) => ({ name: `p${i % OWNERS}`, scopes: new Set(['images:write']) });
  const operator = { name: 'ops', scopes: new Set(['operations:read-all']) };

  // (a) submits
  let next = 0;
  const s0 = performance.now();
  await Promise.all(
    Array.from({ length: SUBMIT_CONCURRENCY }, async () => {
      while (next < SUBMITS) {
        const i = next++;
        await svc.submit({ principal: owner(i), draft: { kind: 'copy', request: { ...request, destination: `docker://mirror.example/team/app:${i}` } }, labels: { team: `t${i % 50}` } });
      }
    }),
  );
  const submitsPerSecond = SUBMITS / ((performance.now() - s0) / 1000);

  // (b) list pages
  const now = Date.now();
  const deepPage = (await svc.list(operator, { pageSize: 500 })).nextPageToken;
  const cases = {
    'own (principal)': () => svc.list(owner(3), { pageSize: 50 }),
    'all, label team=t7': () => svc.list(operator, { labels: [['team', 't7']], pageSize: 50 }),
    'own, state=succeeded kind=sync': () => svc.list(owner(5), { state: 'succeeded', kind: 'sync', pageSize: 50 }),
    'all, created in a 1-day window': () => svc.list(operator, { createdAfter: new Date(now - 10 * 86_400_000).toISOString(), createdBefore: new Date(now - 9 * 86_400_000).toISOString(), pageSize: 50 }),
    'all, page after 500': () => svc.list(operator, { pageSize: 50, pageToken: deepPage }),
    'all, label team=t7 and env=prod': () => svc.list(operator, { labels: [['team', 't7'], ['env', 'prod']], pageSize: 50 }),
  };
  const list = {};
  for (const [label, run] of Object.entries(cases)) {
    const times = [];
    for (let i = 0; i < 10; i++) await run();
    for (let i = 0; i < LIST_RUNS; i++) {
      const t = performance.now();
      const page = await run();
      times.push(performance.now() - t);
      if (page.operations.length === 0) throw new Error(`${label}: empty page`);
    }
    times.sort((a, b) => a - b);
    list[label] = { p50: +percentile(times, 0.5).toFixed(2), p95: +percentile(times, 0.95).toFixed(2) };
  }

  // (c) replay
  const replays = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    let n = 0;
    for await (const _ of await svc.events(operator, replayId, { afterSeq: 0 })) n++;
    if (n !== EVENTS) throw new Error(`replayed ${n} events, expected ${EVENTS}`);
    replays.push(performance.now() - t);
  }
  replays.sort((a, b) => a - b);
  await svc.stop();
  await svc.onApplicationShutdown();
  return { name, seedSeconds: +seedSeconds.toFixed(1), submitsPerSecond: Math.round(submitsPerSecond), list, replayMs: +percentile(replays, 0.5).toFixed(1) };
}

const results = [];
const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-ops-'));
try {
  console.log(`seeding ${OPERATIONS} finished operations in SQLite…`);
  results.push(await measure('SQLite', new SqliteOperationStore(SqliteDatabase.open(join(dir, 'skiff.db'))), dir));
  const pg = await startPostgres({ durable: process.env.BENCH_PG_FAST !== '1' });
  try {
    console.log(`seeding ${OPERATIONS} finished operations in PostgreSQL…`);
    const url = await pg.createDatabase('bench');
    results.push(await measure('PostgreSQL', new PostgresOperationStore(await PostgresDatabase.open({ url, poolSize: 10 })), dir));
  } finally {
    await pg.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const r of results) {
  console.log(`\n${r.name}: ${OPERATIONS} operations seeded in ${r.seedSeconds} s`);
  console.log(`  submits: ${r.submitsPerSecond}/s (${SUBMITS}, ${SUBMIT_CONCURRENCY} at a time)`);
  for (const [label, t] of Object.entries(r.list)) console.log(`  list ${label.padEnd(34)} p50 ${String(t.p50).padStart(6)} ms   p95 ${String(t.p95).padStart(6)} ms`);
  console.log(`  replay of ${EVENTS} events: ${r.replayMs} ms`);
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
const out = join(root, 'bench/results', `operations-store-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ operations: OPERATIONS, submits: SUBMITS, results }, null, 2));
console.log(`\nwrote ${out}`);
