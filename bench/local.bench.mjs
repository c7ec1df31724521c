// Benchmark: registry → oci: and registry → docker-archive: with skiff (POST /v1/copies until
// the operation succeeds) against `skopeo copy` on the same image, alternating runs, in one
// run. `npm run bench:local` (it builds first). Knobs: BENCH_ROUNDS (2), BENCH_LAYER_MB (50).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const support = (m) => import(join(root, '.test-build/test/support', m));
const { startRegistry, stopAll } = await support('registry.js');
const { pushImage, makeLayer, pseudoRandomBytes } = await support('images.js');
const { startSkiff } = await support('skiff-service.js');
const { skopeo } = await support('skopeo.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const LAYER_MB = Number(process.env.BENCH_LAYER_MB ?? 50);
const src = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
console.log(`pushing the source image (${8 * LAYER_MB} MB)…`);
let layers = [];
for (let i = 0; i < 8; i++) {
  const size = LAYER_MB * 1024 * 1024;
  const content = i % 2 === 0 ? pseudoRandomBytes(size, `layer${i}`) : Buffer.alloc(size, `layer ${i} compressible text\n`);
  layers.push(makeLayer({ [`data/${i}.bin`]: content }));
}
await pushImage(src, 'bench/large', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'v2s2' });
layers = [];
const storageRoot = mkdtempSync(join(tmpdir(), 'skiff-bench-root-'));
const svc = await startSkiff({ SKIFF_LOG_LEVEL: 'warn', SKIFF_STORAGE_ROOT: storageRoot });
const image = `docker://${src.host}/bench/large:v1`;

async function skiffCopy(destination) {
  const t0 = performance.now();
  const res = await fetch(`${svc.url}/v1/copies`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=300' },
    body: JSON.stringify({ source: image, destination, sourceTlsVerify: false }),
  });
  let op = await res.json();
  while (!['succeeded', 'failed', 'cancelled'].includes(op.state)) op = await (await fetch(`${svc.url}/v1/operations/${op.id}?waitSeconds=60`)).json();
  if (op.state !== 'succeeded') throw new Error(`skiff copy ${op.state}: ${JSON.stringify(op.error)}`);
  return performance.now() - t0;
}
async function skopeoCopy(destination) {
  const t0 = performance.now();
  const r = await skopeo(['copy', '--src-tls-verify=false', image, destination], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
  return performance.now() - t0;
}

const cases = {
  oci: { skiff: (n) => `oci:skiff-${n}:v1`, skopeo: (n) => `oci:${storageRoot}/skopeo-${n}:v1` },
  'docker-archive': { skiff: (n) => `docker-archive:skiff-${n}.tar:bench/large:v1`, skopeo: (n) => `docker-archive:${storageRoot}/skopeo-${n}.tar:bench/large:v1` },
};
const times = { oci: { skiff: [], skopeo: [] }, 'docker-archive': { skiff: [], skopeo: [] } };
for (let round = 0; round < ROUNDS; round++) {
  for (const tool of round % 2 === 0 ? ['skopeo', 'skiff'] : ['skiff', 'skopeo']) {
    for (const [name, c] of Object.entries(cases)) {
      const n = `${name}-${round}`;
      times[name][tool].push(tool === 'skiff' ? await skiffCopy(c.skiff(n)) : await skopeoCopy(c.skopeo(n)));
      rmSync(join(storageRoot, tool === 'skiff' ? `skiff-${n}` : `skopeo-${n}`), { recursive: true, force: true });
      rmSync(join(storageRoot, tool === 'skiff' ? `skiff-${n}.tar` : `skopeo-${n}.tar`), { force: true });
    }
  }
  console.log(`round ${round + 1} done`);
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const result = { date: new Date().toISOString(), rounds: ROUNDS, layerMb: LAYER_MB, cases: {} };
for (const name of Object.keys(cases)) {
  const sk = median(times[name].skiff);
  const so = median(times[name].skopeo);
  result.cases[name] = { skiffMs: sk, skopeoMs: so, ratio: so / sk };
  console.log(`registry → ${name} (${8 * LAYER_MB} MB): skiff ${(sk / 1000).toFixed(2)} s, skopeo ${(so / 1000).toFixed(2)} s → skiff ${(so / sk).toFixed(2)}x`);
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/local.json'), JSON.stringify(result, null, 2) + '\n');
await svc.stop();
await stopAll();
rmSync(storageRoot, { recursive: true, force: true });
