/**
 * Hostile docker-archive files, crafted here byte by byte, through the HTTP API (inspect,
 * list-tags, copy): every one is refused with a clear 422 problem (ARCHIVE_INVALID) naming the
 * entry at fault — or, for content that lies about its digest, fails the copy with
 * DIGEST_MISMATCH — and nothing is ever written outside the service's own temp area, which is
 * empty again afterwards.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256Digest } from './support/images';
import { inspectImage } from './support/images-api';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';

let svc: SkiffService;
/** The sandbox: `box/root` is the storage root; anything appearing elsewhere in `box` escaped. */
let box: string;
let root: string;


const MAX_ENTRIES = 64;
const MAX_BYTES = 8 * 1024 * 1024;

/** A raw tar entry: anything a hostile archive may say. */
interface RawEntry {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' dir, '6' fifo. */
  type?: string;
  content?: Buffer | string;
  linkname?: string;
  /** The header's size field when it lies (octal number, or 12 raw bytes for base-256). */
  size?: number | Buffer;
}

function header(e: RawEntry, contentLength: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(e.name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  const size = e.size ?? contentLength;
  if (Buffer.isBuffer(size)) size.copy(h, 124);
  else h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(e.type ?? '0', 156, 'ascii');
  if (e.linkname !== undefined) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function rawTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    parts.push(header(e, content.length), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A small valid image: one layer, its config, and the manifest.json entries naming them. */
const layer = rawTar([{ name: 'hello.txt', content: 'hello from a crafted layer\n' }]);
const diffId = sha256Digest(layer);
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['X=1'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
const configName = `${sha256Digest(config).slice(7)}.json`;
const layerName = `${diffId.slice(7)}/layer.tar`;
const manifest = (over: Record<string, unknown> = {}) => JSON.stringify([{ Config: configName, RepoTags: ['crafted/app:1'], Layers: [layerName], ...over }]);
const valid = (extra: RawEntry[] = [], m: string = manifest()): RawEntry[] => [
  { name: `${diffId.slice(7)}/`, type: '5' },
  { name: layerName, content: layer },
  { name: configName, content: config },
  ...extra,
  { name: 'manifest.json', content: m },
];

function write(name: string, bytes: Buffer): string {
  const p = join(root, 'hostile', name);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, bytes);
  return `docker-archive:hostile/${name}`;
}

const inspect = (image: string) => inspectImage(svc, { image });

async function listTags(repository: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${svc.url}/v1/images/tags?${new URLSearchParams({ repository })}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function copyOut(source: string, destination: string): Promise<{ state: string; error?: { code: string; status: number; detail: string } }> {
  const res = await fetch(`${svc.url}/v1/copies`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=60' },
    body: JSON.stringify({ source, destination }),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { state: string; error?: { code: string; status: number; detail: string } };
}

/** Every path under `dir` except the storage root and the service's data dir. */
function strayFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (p === root || p === svc.dataDir) continue;
      out.push(relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function serviceTemp(): string[] {
  const t = join(svc.dataDir, 'tmp');
  return existsSync(t) ? readdirSync(t) : [];
}

/**
 * Inspect, list-tags and copy must all refuse the archive with ARCHIVE_INVALID, naming
 * `pattern`. `tagsOk`: the fault is in one image, not in the archive or manifest.json, so
 * list-tags (which reads only manifest.json) answers.
 */
async function refused(image: string, pattern: RegExp, opts: { tagsOk?: boolean } = {}): Promise<void> {
  const res = await inspect(image);
  assert.equal(res.status, 422, `${image}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body['code'], 'ARCHIVE_INVALID');
  assert.equal(res.body['title'], 'Invalid or unsafe image archive');
  assert.match(String(res.body['detail']), pattern, image);
  const tagsRes = await listTags(image.replace(/^(docker-archive:[^:]+).*$/, '$1'));
  assert.equal(tagsRes.status, opts.tagsOk ? 200 : 422, `list-tags ${image}: ${JSON.stringify(tagsRes.body)}`);
  const op = await copyOut(image, `docker-archive:out/${image.replace(/\W+/g, '_')}.tar`);
  assert.equal(op.state, 'failed');
  assert.equal(op.error!.code, 'ARCHIVE_INVALID');
  assert.equal(op.error!.status, 422);
}

before(async () => {
  box = makeTmpDirSync('skiff-hostile-');
  root = join(box, 'x', 'y', 'root');
  mkdirSync(join(root, 'out'), { recursive: true });
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: root, SKIFF_ARCHIVE_MAX_ENTRIES: String(MAX_ENTRIES), SKIFF_ARCHIVE_MAX_BYTES: String(MAX_BYTES) });
});

after(async () => {
  try {
    // nothing escaped: the sandbox holds only the storage root's ancestors and the root itself
    assert.deepEqual(strayFiles(box), ['x', 'x/y']);
    assert.deepEqual(serviceTemp(), []);
    for (const f of readdirSync(join(root, 'out'))) assert.fail(`a refused copy left ${f}`);
  } finally {
    await svc?.stop();
  }
});

describe('hostile docker-archive files are refused with 422 and write nothing', () => {
  it('the crafted archive itself is valid (the control): skiff and skopeo read it alike', async () => {
    const image = write('valid.tar', rawTar(valid()));
    const res = await inspect(image);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const theirs = await skopeo(['inspect', `docker-archive:${join(root, 'hostile/valid.tar')}`]);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.equal(res.body['Digest'], (JSON.parse(theirs.stdout) as { Digest: string }).Digest);
  });

  it('names with ".." or an absolute path', async () => {
    await refused(write('dotdot.tar', rawTar(valid([{ name: '../../../../escaped-by-dotdot', content: 'x' }]))), /"\.\.\/\.\.\/\.\.\/\.\.\/escaped-by-dotdot".*"\.\."/);
    await refused(write('absolute.tar', rawTar(valid([{ name: `${box}/escaped-by-absolute`, content: 'x' }]))), /absolute names are not allowed/);
  });

  it('symbolic and hard links that leave the archive', async () => {
    const outLink = [{ name: 'evil/', type: '5' }, { name: 'evil/layer.tar', type: '2', linkname: '../../../../../etc/passwd' }];
    await refused(write('symlink-out.tar', rawTar(valid(outLink, manifest({ Layers: ['evil/layer.tar'] })))), /"evil\/layer\.tar": symbolic link .* leaves the archive/);
    await refused(write('symlink-abs.tar', rawTar(valid([{ name: 'abs', type: '2', linkname: '/etc/passwd' }]))), /"abs": symbolic link to an absolute path/);
    // each link lexically inside, but the chain climbs out through a link to ".."
    const chain = [{ name: 'd/', type: '5' }, { name: 'd/up', type: '2', linkname: '..' }, { name: 'esc', type: '2', linkname: 'd/up/d/up/..' }];
    await refused(write('symlink-chain.tar', rawTar(valid(chain))), /"esc": symbolic link resolves outside the archive/);
    await refused(write('through-link.tar', rawTar(valid([{ name: 'l', type: '2', linkname: '.' }, { name: 'l/inner', content: 'x' }]))), /"l\/inner": its parent "l" is a symbolic link/);
    await refused(write('hardlink-out.tar', rawTar(valid([{ name: 'h', type: '1', linkname: '../../etc/passwd' }]))), /"h": hard link to "\.\.\/\.\.\/etc\/passwd" leaves the archive/);
  });

  it('device files and FIFOs', async () => {
    await refused(write('device.tar', rawTar(valid([{ name: 'dev/sda', type: '4' }]))), /"dev\/sda": device files are not allowed/);
    await refused(write('chardev.tar', rawTar(valid([{ name: 'null', type: '3' }]))), /"null": device files are not allowed/);
    await refused(write('fifo.tar', rawTar(valid([{ name: 'pipe', type: '6' }]))), /"pipe": FIFOs are not allowed/);
  });

  it('duplicate names that would shadow an earlier entry', async () => {
    const shadow = rawTar([...valid(), { name: 'manifest.json', content: manifest({ Layers: ['elsewhere.tar'] }) }]);
    await refused(write('duplicate.tar', shadow), /"manifest\.json": a second entry with the same name would shadow the first/);
  });

  it('absurd header sizes (refused before reading), too many entries, too many bytes', async () => {
    const base256 = Buffer.alloc(12, 0xff);
    base256[0] = 0x80;
    await refused(write('huge-base256.tar', rawTar([{ name: 'huge', size: base256 }], { end: false })), /"huge": its header announces an invalid size/);
    await refused(write('huge-octal.tar', rawTar([{ name: 'big', size: 0o77777777777 }], { end: false })), /"big": its header announces 8589934591 bytes, more than the 8388608-byte limit/);
    const many = Array.from({ length: MAX_ENTRIES + 10 }, (_, i) => ({ name: `f/${i}`, content: 'x' }));
    await refused(write('many.tar', rawTar(valid(many))), new RegExp(`more than ${MAX_ENTRIES} entries`));
    await refused(write('bomb.tar.gz', gzipSync(rawTar([{ name: 'zeros', content: Buffer.alloc(MAX_BYTES * 2) }]))), /decompresses to more than the \d+-byte limit/);
  });

  it('not a tar, truncated, broken gzip', async () => {
    await refused(write('not-a-tar.tar', Buffer.from('{"manifest": "this is not a tar"}'.padEnd(1500, ' '))), /not a valid tar archive/);
    await refused(write('truncated.tar', rawTar(valid()).subarray(0, 700)), /not a valid tar archive/);
    const gz = gzipSync(rawTar(valid()));
    await refused(write('broken.tar.gz', Buffer.concat([gz.subarray(0, 40), Buffer.alloc(64, 0x41)])), /broken gzip/);
  });

  it('manifest.json lying about the files', async () => {
    await refused(write('no-manifest.tar', rawTar(valid().filter((e) => e.name !== 'manifest.json'))), /has no manifest\.json/);
    await refused(write('manifest-not-json.tar', rawTar(valid([], '[{"Config": '))), /manifest\.json is not valid JSON/);
    await refused(write('manifest-object.tar', rawTar(valid([], '{"Config": "x"}'))), /manifest\.json must be a JSON array/);
    await refused(write('missing-layer.tar', rawTar(valid([], manifest({ Layers: ['nowhere/layer.tar'] })))), /layer "nowhere\/layer\.tar" is not a file of the archive/, { tagsOk: true });
    await refused(write('config-escape.tar', rawTar(valid([], manifest({ Config: '../../../../etc/passwd' })))), /etc\/passwd.*leaves the archive/, { tagsOk: true });
    await refused(write('config-dir.tar', rawTar(valid([], manifest({ Config: `${diffId.slice(7)}/` })))), /config ".*" is not a file of the archive/, { tagsOk: true });
    await refused(write('layer-count.tar', rawTar(valid([], manifest({ Layers: [layerName, layerName] })))), /inconsistent layer count: 2 in manifest\.json, 1 in the config/, { tagsOk: true });
    // as skopeo: an invalid RepoTag only matters when tags are read (list-tags, choosing by name)
    const badTag = write('bad-tag.tar', rawTar(valid([], manifest({ RepoTags: ['Bad:tag'] }))));
    assert.equal((await inspect(badTag)).status, 200);
    const tagsRes = await listTags(badTag);
    assert.equal(tagsRes.status, 422);
    assert.match(String(tagsRes.body['detail']), /invalid tag "Bad:tag" in manifest\.json item @0/);
    const byName = await inspect(`${badTag}:crafted/app:1`);
    assert.equal(byName.status, 422);
    assert.equal((await skopeo(['list-tags', `docker-archive:${join(root, 'hostile/bad-tag.tar')}`])).code, 1, 'skopeo refuses it too');
  });

  it('a config whose DiffID lies about the layer: inspect works, the copy fails verification and leaves nothing', async () => {
    const lie = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest('something else')] } }));
    const image = write('diffid-lie.tar', rawTar([{ name: layerName, content: layer }, { name: `${sha256Digest(lie).slice(7)}.json`, content: lie }, { name: 'manifest.json', content: manifest({ Config: `${sha256Digest(lie).slice(7)}.json` }) }]));
    assert.equal((await inspect(image)).status, 200);
    const op = await copyOut(image, 'docker-archive:out/lie.tar');
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'DIGEST_MISMATCH');
    assert.ok(!existsSync(join(root, 'out/lie.tar')));
    assert.deepEqual(serviceTemp(), []);
  });
});
