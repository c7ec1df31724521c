// Benchmark: registry → `oci:` layout and registry → `docker-archive:` with skiff (POST
// /v1/copies until the operation succeeds) against `skopeo copy` on the same image, interleaved
// in one run (which tool goes first alternates every round). Both write to the same disk (the
// service's storage root and skopeo's paths are in one temp directory). `npm run bench:local`.
// The image is the 329 MiB, 6-layer one of bench-support.mjs (docker-archive decompresses it
// to 558 MiB). Also the service's peak RSS during each skiff copy, and an inspect of the image
// as a docker-archive: and as an oci-archive: (both written by skopeo), skiff's HTTP API
// against `skopeo inspect`. Knobs: BENCH_ROUNDS (5),
// BENCH_NODE_OPTIONS (the service's NODE_OPTIONS). Results: bench/results/local.json.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  RssSampler,
  load,
  makeTmpDirSync,
  num,
  orderOf,
  pushLargeImage,
  runOperation,
  runSkopeo,
  serviceEnv,
  startRegistry,
  startSkiff,
  stopAll,
  summarize,
  timed,
  writeResult,
} from './bench-support.mjs';

const ROUNDS = num('BENCH_ROUNDS', 5);
const loadBefore = load();
const src = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
const large = await pushLargeImage(src, 'bench/large', 'v1');
console.log(`source: bench/large:v1 ${(large.size / 2 ** 20).toFixed(1)} MiB in ${large.layers} layers (${(large.uncompressed / 2 ** 20).toFixed(0)} MiB decompressed)`);
const storageRoot = makeTmpDirSync('skiff-bench-root-');
const svc = await startSkiff(serviceEnv({ SKIFF_STORAGE_ROOT: storageRoot }));
const image = `docker://${src.host}/bench/large:v1`;

const cases = {
  oci: { skiff: (n) => `oci:skiff-${n}:v1`, skopeo: (n) => `oci:${storageRoot}/skopeo-${n}:v1`, goal: 0.9 },
  'docker-archive': { skiff: (n) => `docker-archive:skiff-${n}.tar:bench/large:v1`, skopeo: (n) => `docker-archive:${storageRoot}/skopeo-${n}.tar:bench/large:v1`, goal: 1.0 },
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, { skiff: [], skopeo: [] }]));
const peaks = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  const line = [];
  for (const [name, c] of Object.entries(cases)) {
    for (const tool of orderOf(round)) {
      const n = `${name}-${round}`;
      if (tool === 'skiff') {
        const sampler = new RssSampler(svc.pid);
        times[name].skiff.push((await timed(() => runOperation(svc, '/v1/copies', { source: image, destination: c.skiff(n), sourceTlsVerify: false }))).ms);
        peaks[name].push(sampler.stop());
      } else {
        times[name].skopeo.push((await timed(() => runSkopeo(['copy', '--src-tls-verify=false', image, c.skopeo(n)]))).ms);
      }
      rmSync(join(storageRoot, `${tool}-${n}`), { recursive: true, force: true });
      rmSync(join(storageRoot, `${tool}-${n}.tar`), { force: true });
    }
    line.push(`${name} skiff ${(times[name].skiff.at(-1) / 1000).toFixed(2)} s, skopeo ${(times[name].skopeo.at(-1) / 1000).toFixed(2)} s`);
  }
  console.log(`round ${round + 1}: ${line.join('; ')}`);
}
// Inspect of the image as an archive: skopeo wrote both once; each tool inspects them in turn.
await runSkopeo(['copy', '--src-tls-verify=false', image, `docker-archive:${storageRoot}/inspect.tar:bench/large:v1`]);
await runSkopeo(['copy', '--src-tls-verify=false', image, `oci-archive:${storageRoot}/inspect-oci.tar:v1`]);
const archives = {
  'inspect docker-archive:': { skiff: 'docker-archive:inspect.tar', skopeo: `docker-archive:${storageRoot}/inspect.tar` },
  'inspect oci-archive:': { skiff: 'oci-archive:inspect-oci.tar:v1', skopeo: `oci-archive:${storageRoot}/inspect-oci.tar:v1` },
};
const inspectTimes = Object.fromEntries(Object.keys(archives).map((k) => [k, { skiff: [], skopeo: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, a] of Object.entries(archives)) {
    for (const tool of orderOf(round)) {
      if (tool === 'skiff') {
        inspectTimes[name].skiff.push(
          (
            await timed(async () => {
              const res = await fetch(`${svc.url}/v1/images/inspect?image=${encodeURIComponent(a.skiff)}`);
              if (!res.ok) throw new Error(`${name}: HTTP ${res.status} ${await res.text()}`);
              await res.arrayBuffer();
            })
          ).ms,
        );
      } else {
        inspectTimes[name].skopeo.push((await timed(() => runSkopeo(['inspect', a.skopeo]))).ms);
      }
    }
  }
}
const result = { rounds: ROUNDS, loadBefore, loadAfter: load(), imageMiB: Number((large.size / 2 ** 20).toFixed(1)), cases: {}, peakRssMb: {} };
for (const [name, c] of Object.entries(cases)) {
  result.cases[name] = summarize(`registry → ${name}, ${result.imageMiB} MiB`, times[name], c.goal);
  result.peakRssMb[name] = Math.round(Math.max(...peaks[name]));
}
for (const name of Object.keys(archives)) result.cases[name] = summarize(`${name} ${result.imageMiB} MiB archive`, inspectTimes[name]);
console.log(`service peak RSS: ${Object.entries(result.peakRssMb).map(([k, v]) => `${k} ${v} MB`).join(', ')}`);
console.log(`load average before ${loadBefore.join(' ')}, after ${result.loadAfter.join(' ')}`);
writeResult('local', result);
await svc.stop();
await stopAll();
rmSync(storageRoot, { recursive: true, force: true });
