// Benchmark: skiff's copy (POST /v1/copies until the operation succeeds) against `skopeo copy`
// on the same work, between local registries, interleaved in one run (which tool goes first
// alternates every round; every tool gets fresh destination registries). `npm run bench:copy`.
//   (a) registry → registry, cold: the 329 MiB, 6-layer image (bench-support.mjs)
//   (b) the same copy again, everything present
//   (c) multi-arch, 4 platforms × 16 MiB, multiArch=all / --all, cold
//   floor for (a): the blobs piped registry to registry by parallel `curl` with no checks
//   (GET | PUT per blob, all at once, then the manifest), in the same rounds
// Also the service's peak RSS during (a) (sampled every 20 ms), and during one copy of the
// same image with every layer BENCH_RSS_SCALE (2) times larger: memory must not grow with
// layer size. Knobs: BENCH_ROUNDS (5), BENCH_RSS_SCALE (2; 0 skips), BENCH_CURL (1; 0 skips),
// SKIFF_COPY_PER_HOST_CONCURRENCY (passed to the service), BENCH_NODE_OPTIONS (the service's
// NODE_OPTIONS, e.g. --cpu-prof). Results: bench/results/copy.json.
import {
  RssSampler,
  load,
  num,
  orderOf,
  pushLargeImage,
  pushMultiArchImage,
  runOperation,
  runSkopeo,
  serviceEnv,
  sh,
  startRegistry,
  startSkiff,
  stopAll,
  summarize,
  timed,
  writeResult,
} from './bench-support.mjs';

const ROUNDS = num('BENCH_ROUNDS', 5);
const RSS_SCALE = num('BENCH_RSS_SCALE', 2);
const CURL = num('BENCH_CURL', 1) !== 0;

const loadBefore = load();
const src = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
const large = await pushLargeImage(src, 'bench/large', 'v1');
console.log(`source: bench/large:v1 ${(large.size / 2 ** 20).toFixed(1)} MiB in ${large.layers} layers; bench/multi:v1 4 platforms`);
await pushMultiArchImage(src, 'bench/multi', 'v1');
const larger = RSS_SCALE > 0 ? await pushLargeImage(src, 'bench/larger', 'v1', RSS_SCALE) : undefined;

const svc = await startSkiff(serviceEnv());
const s = (r) => `docker://${src.host}/${r}`;
const skiffCopy = (source, dst, extra = {}) => runOperation(svc, '/v1/copies', { source, destination: `docker://${dst.host}/${source.slice(source.indexOf('/', 9) + 1)}`, sourceTlsVerify: false, destinationTlsVerify: false, ...extra });
const skopeoCopy = (source, dst, extra = []) => runSkopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, source, `docker://${dst.host}/${source.slice(source.indexOf('/', 9) + 1)}`]);

/** The curl floor: every blob of bench/large:v1 piped GET → PUT at once, then the manifest. */
async function curlCopy(dst) {
  const accept = 'application/vnd.docker.distribution.manifest.v2+json';
  const repo = 'bench/large';
  const manifest = await (await fetch(`${src.url}/v2/${repo}/manifests/v1`, { headers: { accept } })).json();
  const digests = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
  const blob = (d) =>
    `( loc=$(curl -sf -X POST -D - -o /dev/null '${dst.url}/v2/${repo}/blobs/uploads/' | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); ` +
    `curl -sf '${src.url}/v2/${repo}/blobs/${d}' | curl -sf -T - -H 'content-type: application/octet-stream' "$loc&digest=${d}" -o /dev/null ) &`;
  const script = `set -e\n${digests.map(blob).join('\n')}\nwait\ncurl -sf -H 'accept: ${accept}' '${src.url}/v2/${repo}/manifests/v1' | curl -sf -T - -H 'content-type: ${accept}' '${dst.url}/v2/${repo}/manifests/v1' -o /dev/null\n`;
  return script;
}

const cases = ['a', 'b', 'c'];
const times = Object.fromEntries(cases.map((k) => [k, { skiff: [], skopeo: [] }]));
const floor = [];
const peaks = [];
for (let round = 0; round < ROUNDS; round++) {
  const tools = CURL ? [...orderOf(round), 'curl'] : orderOf(round);
  for (const tool of tools) {
    const dst = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
    if (tool === 'skiff') {
      const sampler = new RssSampler(svc.pid);
      times.a.skiff.push((await timed(() => skiffCopy(s('bench/large:v1'), dst))).ms);
      peaks.push(sampler.stop());
      times.b.skiff.push((await timed(() => skiffCopy(s('bench/large:v1'), dst))).ms);
      times.c.skiff.push((await timed(() => skiffCopy(s('bench/multi:v1'), dst, { multiArch: 'all' }))).ms);
    } else if (tool === 'skopeo') {
      times.a.skopeo.push((await timed(() => skopeoCopy(s('bench/large:v1'), dst))).ms);
      times.b.skopeo.push((await timed(() => skopeoCopy(s('bench/large:v1'), dst))).ms);
      times.c.skopeo.push((await timed(() => skopeoCopy(s('bench/multi:v1'), dst, ['--all']))).ms);
    } else {
      const script = await curlCopy(dst);
      floor.push((await timed(() => sh(script))).ms);
    }
    await dst.stop();
  }
  const last = (k, t) => (times[k][t].at(-1) / 1000).toFixed(2);
  console.log(`round ${round + 1}: (a) skiff ${last('a', 'skiff')} s, skopeo ${last('a', 'skopeo')} s${CURL ? `, curl ${(floor.at(-1) / 1000).toFixed(2)} s` : ''}; (c) skiff ${last('c', 'skiff')} s, skopeo ${last('c', 'skopeo')} s; peak RSS ${peaks.at(-1).toFixed(0)} MB`);
}

let largerPeak;
if (larger) {
  const dst = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
  const sampler = new RssSampler(svc.pid);
  const { ms } = await timed(() => skiffCopy(s('bench/larger:v1'), dst));
  largerPeak = sampler.stop();
  console.log(`larger image (${(larger.size / 2 ** 20).toFixed(0)} MiB, layers ×${RSS_SCALE}): ${(ms / 1000).toFixed(2)} s, peak RSS ${largerPeak.toFixed(0)} MB`);
  await dst.stop();
}

const result = { rounds: ROUNDS, loadBefore, loadAfter: load(), imageMiB: Number((large.size / 2 ** 20).toFixed(1)), cases: {} };
result.cases.registryCold = summarize(`(a) registry → registry, cold, ${result.imageMiB} MiB`, times.a, 0.9);
result.cases.registryPresent = summarize('(b) the same copy again, everything present', times.b);
result.cases.multiArchAll = summarize('(c) multi-arch all, 4 platforms, cold', times.c, 0.6);
if (CURL) {
  result.cases.curlFloor = summarize('floor: curl pipes (a) with no checks', { skiff: floor, skopeo: times.a.skopeo });
}
result.peakRssMb = { largeImage: Math.round(Math.max(...peaks)), perRound: peaks.map(Math.round), ...(larger ? { largerImage: Math.round(largerPeak), largerImageMiB: Number((larger.size / 2 ** 20).toFixed(1)) } : {}) };
console.log(`service peak RSS: ${result.peakRssMb.largeImage} MB during (a)${larger ? `, ${result.peakRssMb.largerImage} MB with layers ×${RSS_SCALE}` : ''} (goal ≤ 150 MB, flat)`);
console.log(`load average before ${loadBefore.join(' ')}, after ${result.loadAfter.join(' ')}`);
writeResult('copy', result);
await svc.stop();
await stopAll();
