// Benchmark: skiff's inspect through the HTTP API against `skopeo inspect` processes, on the
// same image in a local registry, in one run. Run with `npm run bench` (it builds first).
//
// Measures, alternating rounds of each so machine noise hits both alike:
//   - skiff: sequential warm requests (p50/p95 latency) and concurrent requests/second
//   - skopeo: sequential `skopeo inspect` runs (p50/p95 latency, runs/second)
// and prints the ratios. Timings on a shared 2-core machine are noisy: read the ratios.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const support = (m) => import(join(root, '.test-build/test/support', m));
const { startRegistry, stopAll } = await support('registry.js');
const { pushImage, makeLayer } = await support('images.js');
const { startSkiff } = await support('skiff-service.js');
const { skopeo } = await support('skopeo.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SKIFF_SEQ = Number(process.env.BENCH_SKIFF_REQUESTS ?? 200);
const SKOPEO_SEQ = Number(process.env.BENCH_SKOPEO_RUNS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
// Requests before measuring: a long-running service has its code optimised by V8 and its
// caches and connection pools filled; the first hundred or so requests of a fresh process do not.
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${x.toFixed(2)} ms`;

const reg = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
const layers = [makeLayer({ 'etc/hello': 'hello\n' }), makeLayer({ 'usr/bin/tool': Buffer.alloc(64 * 1024, 7) })];
await pushImage(reg, 'bench/app', '1.0', { layers, os: 'linux', architecture: 'amd64', format: 'v2s2', config: { Env: ['PATH=/usr/bin'], Labels: { a: 'b' } } });
for (const t of ['1.1', '1.2', 'latest']) await pushImage(reg, 'bench/app', t, { layers, os: 'linux', architecture: 'amd64', format: 'v2s2' });
const image = `docker://${reg.host}/bench/app:1.0`;
const svc = await startSkiff({ SKIFF_LOG_LEVEL: 'warn' });
const url = `${svc.url}/v1/images/inspect?image=${encodeURIComponent(image)}&tlsVerify=false`;
// A lean keep-alive HTTP client (undici's request, as a generated client would use) so the
// figure is the service's latency, not the WHATWG fetch wrapper's.
const { Agent, request } = await import(join(root, 'node_modules/undici/index.js'));
const client = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });

async function skiffOnce() {
  const t0 = performance.now();
  const res = await request(url, { dispatcher: client });
  await res.body.arrayBuffer();
  if (res.statusCode !== 200) throw new Error(`skiff answered ${res.statusCode}`);
  return performance.now() - t0;
}
async function skopeoOnce() {
  const t0 = performance.now();
  const r = await skopeo(['inspect', '--tls-verify=false', image]);
  if (r.code !== 0) throw new Error(`skopeo failed: ${r.stderr}`);
  return performance.now() - t0;
}

for (let i = 0; i < WARMUP; i++) await skiffOnce(); // warm: JIT, connection pool, ping and token caches
await skopeoOnce(); // and skopeo's binary in the page cache
const skiffLat = [];
const skopeoLat = [];
const skiffRps = [];
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < SKOPEO_SEQ; i++) skopeoLat.push(await skopeoOnce());
  for (let i = 0; i < SKIFF_SEQ; i++) skiffLat.push(await skiffOnce());
  const t0 = performance.now();
  let done = 0;
  const until = t0 + 3000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await skiffOnce();
        done++;
      }
    }),
  );
  skiffRps.push(done / ((performance.now() - t0) / 1000));
}

const result = {
  date: new Date().toISOString(),
  image,
  rounds: ROUNDS,
  skiff: { requests: skiffLat.length, p50: pct(skiffLat, 50), p95: pct(skiffLat, 95), rps: Math.max(...skiffRps), concurrency: CONCURRENCY },
  skopeo: { runs: skopeoLat.length, p50: pct(skopeoLat, 50), p95: pct(skopeoLat, 95), rps: 1000 / (skopeoLat.reduce((a, b) => a + b, 0) / skopeoLat.length) },
};
result.ratioP50 = result.skopeo.p50 / result.skiff.p50;
result.ratioP95 = result.skopeo.p95 / result.skiff.p95;
result.ratioThroughput = result.skiff.rps / result.skopeo.rps;

console.log(`inspect of ${image}`);
console.log(`  skiff  (warm, HTTP API): p50 ${ms(result.skiff.p50)}  p95 ${ms(result.skiff.p95)}  ${result.skiff.rps.toFixed(0)} req/s at concurrency ${CONCURRENCY}  (${result.skiff.requests} sequential requests)`);
console.log(`  skopeo (one process each): p50 ${ms(result.skopeo.p50)}  p95 ${ms(result.skopeo.p95)}  ${result.skopeo.rps.toFixed(1)} runs/s  (${result.skopeo.runs} runs)`);
console.log(`  ratio: p50 ${result.ratioP50.toFixed(1)}x faster, p95 ${result.ratioP95.toFixed(1)}x faster, throughput ${result.ratioThroughput.toFixed(0)}x`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/inspect.json'), JSON.stringify(result, null, 2) + '\n');

await client.close();
await svc.stop();
await stopAll();
