// Soak benchmark (issue #13: memory comes back down): copies and inspects against one service
// for several minutes, sampling its RSS every second. Copy workers cycle through cold copies
// registry → registry (a new repository each time), registry → oci: and registry → docker-archive:
// (removed after each copy) of a BENCH_SOAK_SCALE × 329 MiB image (default 0.3: ~99 MiB) and the
// multi-arch image; inspect workers inspect the source images (and a missing tag) in a loop.
// Prints RSS after the first minute, the steady state (median of the last minute), the peak,
// and RSS after the load stopped (idle for BENCH_SOAK_IDLE seconds); the goal is a steady state
// within 20% of the one-minute value. `npm run bench:soak`. Knobs: BENCH_SOAK_SECONDS (300),
// BENCH_SOAK_COPIERS (3), BENCH_SOAK_INSPECTORS (4), BENCH_SOAK_SCALE (0.3), BENCH_SOAK_IDLE (30),
// BENCH_NODE_OPTIONS. Results: bench/results/soak.json (with every sample).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  load,
  makeTmpDirSync,
  num,
  pushLargeImage,
  pushMultiArchImage,
  rssKb,
  runOperation,
  serviceEnv,
  startRegistry,
  startSkiff,
  stats,
  stopAll,
  writeResult,
} from './bench-support.mjs';

const SECONDS = num('BENCH_SOAK_SECONDS', 300);
const COPIERS = num('BENCH_SOAK_COPIERS', 3);
const INSPECTORS = num('BENCH_SOAK_INSPECTORS', 4);
const SCALE = num('BENCH_SOAK_SCALE', 0.3);
const IDLE = num('BENCH_SOAK_IDLE', 30);

const loadBefore = load();
const src = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
const dst = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
const image = await pushLargeImage(src, 'soak/image', 'v1', SCALE, 'bench-soak');
await pushMultiArchImage(src, 'soak/multi', 'v1');
console.log(`source: soak/image:v1 ${(image.size / 2 ** 20).toFixed(0)} MiB in ${image.layers} layers, soak/multi:v1 4 platforms`);
const storageRoot = makeTmpDirSync('skiff-soak-root-');
const svc = await startSkiff(serviceEnv({ SKIFF_STORAGE_ROOT: storageRoot }));
const ref = (r) => `docker://${src.host}/${r}`;

const samples = [];
const t0 = performance.now();
const sampler = setInterval(() => samples.push({ s: Number(((performance.now() - t0) / 1000).toFixed(1)), rssMb: Number((rssKb(svc.pid) / 1024).toFixed(1)) }), 1000);
const deadline = t0 + SECONDS * 1000;
const counts = { copies: 0, inspects: 0, failures: 0 };
let n = 0;

async function copier(w) {
  const kinds = ['registry', 'oci', 'docker-archive', 'multi'];
  for (let i = w; performance.now() < deadline; i++) {
    const kind = kinds[i % kinds.length];
    const id = `${w}-${n++}`;
    const destination =
      kind === 'registry' ? `docker://${dst.host}/soak/copy-${id}:v1` : kind === 'multi' ? `docker://${dst.host}/soak/multi-${id}:v1` : kind === 'oci' ? `oci:soak-${id}:v1` : `docker-archive:soak-${id}.tar:soak/image:v1`;
    try {
      await runOperation(svc, '/v1/copies', { source: ref(kind === 'multi' ? 'soak/multi:v1' : 'soak/image:v1'), destination, sourceTlsVerify: false, destinationTlsVerify: false, ...(kind === 'multi' ? { multiArch: 'all' } : {}) });
      counts.copies++;
    } catch (e) {
      counts.failures++;
      console.log(`copy ${kind} failed: ${e.message}`);
    }
    rmSync(join(storageRoot, `soak-${id}`), { recursive: true, force: true });
    rmSync(join(storageRoot, `soak-${id}.tar`), { force: true });
  }
}

async function inspector(w) {
  const images = ['soak/image:v1', 'soak/multi:v1', 'soak/image:missing'];
  for (let i = w; performance.now() < deadline; i++) {
    const res = await fetch(`${svc.url}/v1/images/inspect?image=${encodeURIComponent(ref(images[i % images.length]))}&tlsVerify=false`);
    await res.arrayBuffer();
    if (res.ok || res.status === 404) counts.inspects++;
    else counts.failures++;
  }
}

const progress = setInterval(() => console.log(`${Math.round((performance.now() - t0) / 1000)} s: RSS ${samples.at(-1)?.rssMb} MB, ${counts.copies} copies, ${counts.inspects} inspects`), 30_000);
await Promise.all([...Array.from({ length: COPIERS }, (_, w) => copier(w)), ...Array.from({ length: INSPECTORS }, (_, w) => inspector(w))]);
const loadEnd = (performance.now() - t0) / 1000;
clearInterval(progress);
await new Promise((r) => setTimeout(r, IDLE * 1000));
clearInterval(sampler);

const during = samples.filter((x) => x.s <= loadEnd);
const atMinute = during.filter((x) => x.s <= 60).at(-1)?.rssMb ?? NaN;
const lastMinute = stats(during.filter((x) => x.s > loadEnd - 60).map((x) => x.rssMb));
const peak = Math.max(...during.map((x) => x.rssMb));
const idle = samples.at(-1)?.rssMb ?? NaN;
const drift = lastMinute.median / atMinute - 1;
const result = {
  seconds: SECONDS,
  copiers: COPIERS,
  inspectors: INSPECTORS,
  imageMiB: Number((image.size / 2 ** 20).toFixed(1)),
  loadBefore,
  loadAfter: load(),
  counts,
  rssMb: { afterFirstMinute: atMinute, steadyStateMedian: lastMinute.median, steadyStateRange: [lastMinute.min, lastMinute.max], peak, idleAfter: idle, drift: Number(drift.toFixed(3)), goal: 'steady state within 20% of the one-minute value' },
  samples,
};
console.log(`${counts.copies} copies, ${counts.inspects} inspects, ${counts.failures} failures in ${Math.round(loadEnd)} s`);
console.log(`RSS: ${atMinute} MB after the first minute, steady state ${lastMinute.median} MB (last minute ${lastMinute.min}–${lastMinute.max}), peak ${peak} MB, ${idle} MB after ${IDLE} s idle → drift ${(drift * 100).toFixed(1)}% (goal within ±20%)`);
console.log(`load average before ${loadBefore.join(' ')}, after ${result.loadAfter.join(' ')}`);
writeResult('soak', result);
await svc.stop();
await stopAll();
rmSync(storageRoot, { recursive: true, force: true });
