// Benchmark: skiff's sync (POST /v1/syncs, Prefer: wait) against `skopeo sync --src yaml
// --dest docker` on the same generated set, alternating which goes first, each into its own
// empty destination registry:
//   (a) first sync: BENCH_REPOS repositories × BENCH_TAGS tags (default 4 × 5 = 20 images); every
//       image has the same BENCH_BASE_LAYERS base layers of BENCH_BASE_MB MB plus one layer of
//       its own of BENCH_LAYER_MB MB
//   (b) the same sync again, nothing new
// Prints each tool's median time (and range), the ratio skiff time / skopeo time (goals: (a) ≤ 0.4,
// (b) ≤ 0.2), the floor of (b) (its registry requests alone, by a bare HTTP client) and the load average. Run with `npm run bench:sync` (it builds first). Knobs:
// BENCH_ROUNDS (default 5), BENCH_REPOS, BENCH_TAGS, BENCH_BASE_LAYERS (2), BENCH_BASE_MB (8),
// BENCH_LAYER_MB (2), SKIFF_SYNC_CONCURRENCY and SKIFF_COPY_PER_HOST_CONCURRENCY (passed to the
// service), BENCH_NODE_OPTIONS. Results: bench/results/sync.json.
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { join } from 'node:path';
import { load, makeTmpDirSync, num, orderOf, runSkopeo, serviceEnv, startRegistry, startSkiff, stopAll, summarize, writeResult } from './bench-support.mjs';

const root = join(import.meta.dirname, '..');
const { pushImage, pushBlob, makeLayer, pseudoRandomBytes } = await import(join(root, '.test-build/test/support/images.js'));

const ROUNDS = num('BENCH_ROUNDS', 5);
const REPOS = num('BENCH_REPOS', 4);
const TAGS = num('BENCH_TAGS', 5);
const BASE_LAYERS = num('BENCH_BASE_LAYERS', 2);
const BASE_MB = num('BENCH_BASE_MB', 8);
const LAYER_MB = num('BENCH_LAYER_MB', 2);
const loadBefore = load();

const src = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
const MB = 1024 * 1024;
console.log(`pushing ${REPOS * TAGS} images in ${REPOS} repositories (${BASE_LAYERS}×${BASE_MB} MB shared base, ${LAYER_MB} MB own layer each)…`);
const bases = Array.from({ length: BASE_LAYERS }, (_, i) => makeLayer({ [`base/${i}.bin`]: pseudoRandomBytes(BASE_MB * MB, `sync-base-${i}`) }));
const repos = Array.from({ length: REPOS }, (_, r) => `bench/repo${r}`);
for (const repo of repos) {
  // shared blobs first, one at a time: the same blob pushed twice at once races in the registry
  for (const b of bases) await pushBlob(src, repo, b.bytes);
  await Promise.all(
    Array.from({ length: TAGS }, (_, t) =>
      pushImage(src, repo, `1.${t}.0`, {
        layers: [...bases, makeLayer({ [`app/${repo}-${t}.bin`]: pseudoRandomBytes(LAYER_MB * MB, `${repo}-${t}`) })],
        os: 'linux',
        architecture: 'amd64',
        format: 'v2s2',
        config: { Env: [`IMAGE=${repo}:${t}`] },
      }),
    ),
  );
}
const yaml = `${src.host}:\n  tls-verify: false\n  images:\n${repos.map((r) => `    ${r}: []\n`).join('')}`;
const yamlPath = join(makeTmpDirSync('skiff-bench-sync-'), 'sync.yaml');
writeFileSync(yamlPath, yaml);

const svc = await startSkiff(serviceEnv());

async function skiffSync(dest) {
  const t0 = performance.now();
  const res = await fetch(`${svc.url}/v1/syncs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=300' },
    body: JSON.stringify({ sourceType: 'yaml', yaml, destination: dest, destinationType: 'docker', destinationTlsVerify: false }),
  });
  let op = await res.json();
  while (!['succeeded', 'failed', 'cancelled'].includes(op.state)) {
    op = await (await fetch(`${svc.url}/v1/operations/${op.id}?waitSeconds=60`)).json();
  }
  const ms = performance.now() - t0;
  if (op.state !== 'succeeded' || op.result.counts.failed > 0) throw new Error(`skiff sync ${op.state}: ${JSON.stringify(op.error ?? op.result)}`);
  return { ms, counts: op.result.counts };
}

async function skopeoSync(dest) {
  const t0 = performance.now();
  await runSkopeo(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', yamlPath, dest]);
  return { ms: performance.now() - t0 };
}

/** repository → tag → digest under `prefix`, to check both tools produced the same thing. */
async function snapshot(reg, prefix) {
  const cat = await (await fetch(`${reg.url}/v2/_catalog?n=1000`)).json();
  const out = {};
  for (const repo of cat.repositories.filter((r) => r.startsWith(`${prefix}/`)).sort()) {
    const { tags } = await (await fetch(`${reg.url}/v2/${repo}/tags/list`)).json();
    for (const t of [...tags].sort()) {
      const res = await fetch(`${reg.url}/v2/${repo}/manifests/${t}`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
      out[`${repo.slice(prefix.length)}:${t}`] = res.headers.get('docker-content-digest');
    }
  }
  return out;
}

/**
 * The floor of (b): the requests a re-sync cannot do without, issued by a bare HTTP client
 * (undici, keep-alive, SKIFF_SYNC_CONCURRENCY images at once, default 8): every source tag
 * list, then per image a HEAD of the source manifest and of the destination's, together.
 */
const floorAgent = new Agent({ connections: 16 });
async function resyncFloor(dst, snap) {
  const destImages = Object.keys(snap).map((k) => [`mirror${k.slice(0, k.lastIndexOf(':'))}`, k.slice(k.lastIndexOf(':') + 1)]);
  const accept = 'application/vnd.docker.distribution.manifest.v2+json';
  const t0 = performance.now();
  const lists = await Promise.all(repos.map(async (r) => (await (await request(`${src.url}/v2/${r}/tags/list`, { dispatcher: floorAgent })).body.json()).tags.map((t) => [r, t])));
  const images = lists.flat();
  let next = 0;
  const head = async (url) => (await request(url, { method: 'HEAD', headers: { accept }, dispatcher: floorAgent })).body.dump();
  await Promise.all(
    Array.from({ length: num('SKIFF_SYNC_CONCURRENCY', 8) }, async () => {
      while (next < images.length) {
        const i = next++;
        const [r, t] = images[i];
        const [dr, dt] = destImages[i % destImages.length];
        await Promise.all([head(`${src.url}/v2/${r}/manifests/${t}`), head(`${dst.url}/v2/${dr}/manifests/${dt}`)]);
      }
    }),
  );
  return performance.now() - t0;
}

const times = { a: { skiff: [], skopeo: [] }, b: { skiff: [], skopeo: [] } };
const floor = [];
for (let round = 0; round < ROUNDS; round++) {
  const snapshots = {};
  for (const tool of orderOf(round)) {
    const dst = await startRegistry({ mode: 'plain', blobDescriptorCache: true });
    const dest = `${dst.host}/mirror`;
    const run = tool === 'skiff' ? skiffSync : skopeoSync;
    const first = await run(dest);
    const again = await run(dest);
    if (tool === 'skiff' && again.counts.skipped !== REPOS * TAGS) throw new Error(`the re-sync copied images again: ${JSON.stringify(again.counts)}`);
    times.a[tool].push(first.ms);
    times.b[tool].push(again.ms);
    snapshots[tool] = await snapshot(dst, 'mirror');
    if (tool === 'skiff') floor.push(await resyncFloor(dst, snapshots[tool]));
    await dst.stop();
    console.log(`round ${round + 1} ${tool}: first ${(first.ms / 1000).toFixed(2)} s, again ${(again.ms / 1000).toFixed(2)} s`);
  }
  if (JSON.stringify(snapshots.skiff) !== JSON.stringify(snapshots.skopeo) || Object.keys(snapshots.skiff).length !== REPOS * TAGS) {
    throw new Error('skiff and skopeo produced different destinations');
  }
}
const result = {
  rounds: ROUNDS,
  loadBefore,
  loadAfter: load(),
  images: REPOS * TAGS,
  repositories: REPOS,
  baseLayers: BASE_LAYERS,
  baseMb: BASE_MB,
  layerMb: LAYER_MB,
  cases: {
    first: summarize(`(a) sync ${REPOS * TAGS} images into an empty registry`, times.a, 0.4),
    again: summarize('(b) re-sync, nothing new', times.b, 0.2),
    againFloor: summarize('floor of (b): its registry requests by a bare HTTP client', { skiff: floor, skopeo: times.b.skopeo }),
  },
};
console.log(`load average before ${loadBefore.join(' ')}, after ${result.loadAfter.join(' ')}`);
writeResult('sync', result);
await svc.stop();
await stopAll();
await floorAgent.close();
