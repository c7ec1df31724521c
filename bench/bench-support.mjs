// Shared pieces of the copy, local, sync and soak benchmarks: the test support (real
// registries, the built service, skopeo in its sandbox), the issue's workloads (a 329 MiB,
// 6-layer image; a multi-arch image), skiff and skopeo runs, statistics and result files.
// Not a benchmark itself.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const root = join(import.meta.dirname, '..');
const support = (m) => import(join(root, '.test-build/test/support', m));
export const { startRegistry, stopAll } = await support('registry.js');
export const { pushImage, pushMultiArch, pushBlob, sha256Digest } = await support('images.js');
export const { startSkiff } = await support('skiff-service.js');
export const { skopeo } = await support('skopeo.js');
export const { makeTmpDirSync } = await support('tmp.js');
const { makeTar, gzipStored } = await support('tar.js');

export const MiB = 1024 * 1024;
export const num = (name, dflt) => Number(process.env[name] ?? dflt);

/** `size` deterministic incompressible bytes (AES-CTR of zeros keyed by `seed`: fast and repeatable). */
export function randomBytesFor(size, seed) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

const WORDS = 'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there one all we their its been has more if when will would who so no what up out about can into than them only other new some could these two may first then do any like my now over such our man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');

/**
 * `size` bytes of deterministic text-like content (words and numbers from a fixed list, as
 * source files and package metadata look): gzip (level 6) makes it about 2.7× smaller. A 4 MiB
 * block is generated and repeated at shifting offsets; deflate's 32 KiB window never sees the
 * repetition, so it compresses as unique text would.
 */
export function compressibleBytes(size, seed) {
  const block = Buffer.alloc(4 * MiB);
  let s = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  let off = 0;
  const parts = [];
  while (off < block.length) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const w = s % 11 === 0 ? String(s % 100000) : WORDS[s % WORDS.length];
    parts.push(w, s % 9 === 0 ? '\n' : ' ');
    off += w.length + 1;
  }
  Buffer.from(parts.join('')).copy(block);
  const out = Buffer.alloc(size);
  for (let o = 0, i = 0; o < size; i++) o += block.copy(out, o, (i * 7919) % MiB);
  return out;
}

/** A gzip'd single-file tar layer (as test support's makeLayer builds them), really compressed or stored. */
function layerOf(path, content, gzip) {
  const tar = makeTar([
    { path: path.split('/')[0], type: 'dir', mtime: 1704067200 },
    { path, type: 'file', mtime: 1704067200, content },
  ]);
  const bytes = gzip ? gzipSync(tar, { level: 6 }) : gzipStored(tar);
  return { bytes, digest: sha256Digest(bytes), diffId: sha256Digest(tar), size: bytes.length, uncompressedSize: tar.length };
}

/**
 * The issue's large image: 6 layers, 329 MiB as pushed at scale 1 — three incompressible
 * (80, 64 and 48 MiB, stored in gzip as random data is), three of text-like content
 * (122 MiB each, gzip'd to about 45.5 MiB). Decompressed 558 MiB (docker-archive's size).
 * `scale` multiplies every layer (the RSS runs use 2 to show memory does not grow with layers).
 * Built once and kept in bench/results/cache/ (gzip of the text takes a minute).
 */
export function largeImageLayers(scale = 1, seed = 'bench-large') {
  const dir = join(root, 'bench/results/cache', `${seed}-x${scale}`);
  const metaFile = join(dir, 'layers.json');
  if (existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
    return meta.map((m, i) => ({ ...m, bytes: readFileSync(join(dir, `layer-${i}.gz`)) }));
  }
  const mb = (n) => Math.round(n * scale * MiB);
  const specs = [
    ['data/0.bin', () => randomBytesFor(mb(80), `${seed}-0`), false],
    ['text/1.txt', () => compressibleBytes(mb(122), `${seed}-1`), true],
    ['data/2.bin', () => randomBytesFor(mb(64), `${seed}-2`), false],
    ['text/3.txt', () => compressibleBytes(mb(122), `${seed}-3`), true],
    ['data/4.bin', () => randomBytesFor(mb(48), `${seed}-4`), false],
    ['text/5.txt', () => compressibleBytes(mb(122), `${seed}-5`), true],
  ];
  console.log(`building the ${specs.length}-layer image (scale ${scale}) once into bench/results/cache/…`);
  const layers = specs.map(([path, content, gzip]) => layerOf(path, content(), gzip));
  mkdirSync(dir, { recursive: true });
  layers.forEach((l, i) => writeFileSync(join(dir, `layer-${i}.gz`), l.bytes));
  writeFileSync(metaFile, JSON.stringify(layers.map(({ bytes: _, ...m }) => m)));
  return layers;
}

/** Pushes the large image; returns its size as pushed and decompressed (bytes). */
export async function pushLargeImage(reg, repo, tag, scale = 1, seed = 'bench-large') {
  const layers = largeImageLayers(scale, seed);
  const size = layers.reduce((n, l) => n + l.size, 0);
  const uncompressed = layers.reduce((n, l) => n + l.uncompressedSize, 0);
  await pushImage(reg, repo, tag, { layers, os: 'linux', architecture: 'amd64', format: 'v2s2' });
  return { size, uncompressed, layers: layers.length };
}

/** A multi-arch image: an OCI index over 4 platforms, each one 16 MiB layer (incompressible). */
export async function pushMultiArchImage(reg, repo, tag) {
  await pushMultiArch(reg, repo, tag, {
    format: 'oci',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'ppc64le' },
    ],
    files: (p) => ({ [`bin/${p.architecture}`]: randomBytesFor(16 * MiB, `multi-${p.architecture}${p.variant ?? ''}`) }),
  });
}

/** Runs an operation-submitting request (copy or sync) to its end; throws unless it succeeded. */
export async function runOperation(svc, path, body) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=300' },
    body: JSON.stringify(body),
  });
  let op = await res.json();
  if (!res.ok && !op.id) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(op)}`);
  while (!['succeeded', 'failed', 'cancelled'].includes(op.state)) {
    op = await (await fetch(`${svc.url}/v1/operations/${op.id}?waitSeconds=60`)).json();
  }
  if (op.state !== 'succeeded') throw new Error(`${path} ${op.state}: ${JSON.stringify(op.error)}`);
  return op;
}

/** Times `fn` (ms). */
export async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** skopeo with a long timeout; throws on failure. */
export async function runSkopeo(args, timeoutMs = 900_000) {
  const r = await skopeo(args, { timeoutMs });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

/** Peak RSS of a process while sampling (every 20 ms), from /proc. */
export class RssSampler {
  constructor(pid, everyMs = 20) {
    this.pid = pid;
    this.peakKb = 0;
    this.samples = [];
    this.timer = setInterval(() => {
      const kb = rssKb(pid);
      this.peakKb = Math.max(this.peakKb, kb);
    }, everyMs);
  }
  stop() {
    clearInterval(this.timer);
    return this.peakKb / 1024;
  }
}

export function rssKb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Median, min, max of a list (ms or any unit). */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)] + (s.length % 2 === 0 ? (s[s.length / 2] - s[s.length / 2 - 1]) / 2 : 0), min: s[0], max: s[s.length - 1], n: s.length, all: xs.map((x) => Math.round(x)) };
}

/** The machine's load averages (what `uptime` prints). */
export function load() {
  return loadavg().map((x) => Number(x.toFixed(2)));
}

/** Runs a tool's cases in round order, alternating which tool goes first every round. */
export function orderOf(round, tools = ['skopeo', 'skiff']) {
  return round % 2 === 0 ? tools : [...tools].reverse();
}

/**
 * Prints and returns one case's summary: each tool's median (and range), the ratio of the
 * medians (skiff time / skopeo time, lower is better), and the ratio's range over rounds
 * (each round's skiff time over the same round's skopeo time).
 */
export function summarize(name, times, goal) {
  const sk = stats(times.skiff);
  const so = stats(times.skopeo);
  const perRound = times.skiff.map((t, i) => t / times.skopeo[i]).filter((r) => Number.isFinite(r));
  const rr = stats(perRound);
  const ratio = sk.median / so.median;
  const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  console.log(
    `${name}: skiff ${fmt(sk.median)} (${fmt(sk.min)}–${fmt(sk.max)}), skopeo ${fmt(so.median)} (${fmt(so.min)}–${fmt(so.max)}) → ratio ${ratio.toFixed(2)} (per round ${rr.min.toFixed(2)}–${rr.max.toFixed(2)})${goal !== undefined ? `, goal ≤ ${goal}` : ''}`,
  );
  return { skiffMs: Math.round(sk.median), skopeoMs: Math.round(so.median), ratio: Number(ratio.toFixed(3)), ratioRange: [Number(rr.min.toFixed(3)), Number(rr.max.toFixed(3))], goal, skiff: sk.all, skopeo: so.all };
}

export function writeResult(name, result) {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, `bench/results/${name}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2) + '\n');
  console.log(`written: bench/results/${name}.json`);
}

/** Runs a command, resolving with its exit code and output (for the curl floor). */
export function sh(script) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) => {
      const r = { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (code !== 0) reject(new Error(`sh failed (${code}): ${r.stderr}`));
      else resolve(r);
    });
  });
}

/** Service environment knobs passed through to skiff when set. */
export function serviceEnv(extra = {}) {
  const env = { SKIFF_LOG_LEVEL: 'warn', ...extra };
  for (const k of ['SKIFF_COPY_PER_HOST_CONCURRENCY', 'SKIFF_SYNC_CONCURRENCY', 'BENCH_NODE_OPTIONS']) {
    if (process.env[k]) env[k === 'BENCH_NODE_OPTIONS' ? 'NODE_OPTIONS' : k] = process.env[k];
  }
  return env;
}
