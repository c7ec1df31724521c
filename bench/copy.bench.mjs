// Benchmark: skiff's copy (POST /v1/copies until the operation succeeds) against
// `skopeo copy` on the same work, between local registries, alternating runs. Run with
// `npm run bench:copy` (it builds first).
//   (a) one large image: 8 layers of ~50 MB, half incompressible, into a cold destination
//   (b) the same copy again, everything already present
//   (c) a multi-arch image (4 platforms) with multiArch=all / --all
// Also reports the service's peak RSS during (a). Knobs: BENCH_ROUNDS (default 2),
// BENCH_LAYER_MB (default 50), SKIFF_COPY_PER_HOST_CONCURRENCY (passed to the service).
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const support = (m) => import(join(root, '.test-build/test/support', m));
const { startRegistry, stopAll } = await support('registry.js');
const { pushImage, pushMultiArch, makeLayer, pseudoRandomBytes } = await support('images.js');
const { startSkiff } = await support('skiff-service.js');
const { skopeo } = await support('skopeo.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const LAYER_MB = Number(process.env.BENCH_LAYER_MB ?? 50);
const env = {};
if (process.env.SKIFF_COPY_PER_HOST_CONCURRENCY) env.SKIFF_COPY_PER_HOST_CONCURRENCY = process.env.SKIFF_COPY_PER_HOST_CONCURRENCY;

const src = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
console.log(`pushing the source images (${8 * LAYER_MB} MB)…`);
const layers = [];
for (let i = 0; i < 8; i++) {
  const size = LAYER_MB * 1024 * 1024;
  // half incompressible (random), half compressible (repeated text)
  const content = i % 2 === 0 ? pseudoRandomBytes(size, `layer${i}`) : Buffer.alloc(size, `layer ${i} compressible text\n`);
  layers.push(makeLayer({ [`data/${i}.bin`]: content }));
}
await pushImage(src, 'bench/large', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'v2s2' });
layers.length = 0;
await pushMultiArch(src, 'bench/multi', 'v1', {
  format: 'oci',
  platforms: [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'linux', architecture: 'ppc64le' },
  ],
  files: (p) => ({ [`bin/${p.architecture}`]: pseudoRandomBytes(8 * 1024 * 1024, `multi-${p.architecture}${p.variant ?? ''}`) }),
});

const svc = await startSkiff({ SKIFF_LOG_LEVEL: 'warn', ...env });
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${svc.pid}/status`, 'utf8'))?.[1] ?? 0);

async function skiffCopy(source, destination, extra = {}) {
  const t0 = performance.now();
  const res = await fetch(`${svc.url}/v1/copies`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=300' },
    body: JSON.stringify({ source, destination, sourceTlsVerify: false, destinationTlsVerify: false, ...extra }),
  });
  let op = await res.json();
  while (!['succeeded', 'failed', 'cancelled'].includes(op.state)) {
    op = await (await fetch(`${svc.url}/v1/operations/${op.id}?waitSeconds=60`)).json();
  }
  if (op.state !== 'succeeded') throw new Error(`skiff copy ${op.state}: ${JSON.stringify(op.error)}`);
  return performance.now() - t0;
}
async function skopeoCopy(source, destination, extra = []) {
  const t0 = performance.now();
  const r = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, source, destination], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
  return performance.now() - t0;
}

const times = { a: { skiff: [], skopeo: [] }, b: { skiff: [], skopeo: [] }, c: { skiff: [], skopeo: [] } };
let peakRss = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const tool of round % 2 === 0 ? ['skopeo', 'skiff'] : ['skiff', 'skopeo']) {
    const dst = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
    const s = (r) => `docker://${src.host}/${r}`;
    const d = (r) => `docker://${dst.host}/${r}`;
    if (tool === 'skiff') {
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKb())), 50);
      times.a.skiff.push(await skiffCopy(s('bench/large:v1'), d('bench/large:v1')));
      clearInterval(sampler);
      times.b.skiff.push(await skiffCopy(s('bench/large:v1'), d('bench/large:v1')));
      times.c.skiff.push(await skiffCopy(s('bench/multi:v1'), d('bench/multi:v1'), { multiArch: 'all' }));
    } else {
      times.a.skopeo.push(await skopeoCopy(s('bench/large:v1'), d('bench/large:v1')));
      times.b.skopeo.push(await skopeoCopy(s('bench/large:v1'), d('bench/large:v1')));
      times.c.skopeo.push(await skopeoCopy(s('bench/multi:v1'), d('bench/multi:v1'), ['--all']));
    }
    await dst.stop();
    console.log(`round ${round + 1} ${tool} done`);
  }
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const result = { date: new Date().toISOString(), rounds: ROUNDS, layerMb: LAYER_MB, peakRssMb: peakRss / 1024, cases: {} };
const names = { a: `(a) large image, ${8 * LAYER_MB} MB, cold`, b: '(b) same copy again, all present', c: '(c) multi-arch, 4 platforms, all' };
for (const k of ['a', 'b', 'c']) {
  const sk = median(times[k].skiff);
  const so = median(times[k].skopeo);
  result.cases[k] = { skiffMs: sk, skopeoMs: so, ratio: so / sk };
  console.log(`${names[k]}: skiff ${(sk / 1000).toFixed(2)} s, skopeo ${(so / 1000).toFixed(2)} s → skiff ${(so / sk).toFixed(2)}x`);
}
console.log(`service peak RSS during (a): ${(peakRss / 1024).toFixed(0)} MB`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/copy.json'), JSON.stringify(result, null, 2) + '\n');
await svc.stop();
await stopAll();
