import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseDockerReference } from '../../image-spec/docker-reference';
import { LocalStorage } from '../../storage/local-storage';
import { DEFAULT_ARCHIVE_LIMITS } from '../archive/tar-policy';
import { TarWriter } from '../archive/tar-writer';
import { DockerArchiveReader, parseManifestJson } from './docker-archive-reader';

const dir = mkdtempSync(join(tmpdir(), 'skiff-da-reader-'));
const tempDir = join(dir, 'tmp');
let local: LocalStorage;
before(async () => {
  local = await LocalStorage.open({ storageRoot: dir, dataDir: dir, leaseMs: 30_000, minFreeBytes: 0 });
});
after(async () => {
  await local.close();
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;

async function archive(manifest: unknown, opts: { gzip?: boolean } = {}): Promise<string> {
  const path = join(dir, `a${n++}.tar`);
  const fh = await open(path, 'wx');
  const w = TarWriter.toFile(fh);
  await w.addBytes('manifest.json', Buffer.from(JSON.stringify(manifest)));
  await w.close();
  await fh.close();
  if (opts.gzip) {
    const { readFileSync } = await import('node:fs');
    writeFileSync(path, gzipSync(readFileSync(path)));
  }
  return path;
}

const open_ = (path: string) => DockerArchiveReader.open(path, { local, limits: DEFAULT_ARCHIVE_LIMITS, displayName: 'docker-archive:test' });
const item = (tags: string[] | null) => ({ Config: 'c.json', RepoTags: tags, Layers: ['l.tar'] });

test('list-tags as skopeo 1.9.3 prints it: the first stored spelling of each tag, @N for untagged images', async () => {
  const r = await open_(await archive([item(['x:1', 'docker.io/library/x:1', 'x:1']), item(null), item(['docker.io/library/x:1', 'localhost:5000/y:2'])]));
  try {
    assert.deepEqual(r.listTags(), ['x:1', 'x:1', 'x:1', '@1', 'x:1', 'localhost:5000/y:2']);
  } finally {
    await r.close();
  }
  const bad = await open_(await archive([item(['busybox'])]));
  assert.throws(() => bad.listTags(), /does not contain a tag/);
  await bad.close();
});

test('choosing an image: by normalised name, by @N, or the only one', async () => {
  const r = await open_(await archive([item(['a:1']), item(['example.com/b:2', 'c'])], { gzip: true }));
  try {
    assert.equal(r.choose({ named: parseDockerReference('docker.io/library/a:1') }).index, 0);
    assert.equal(r.choose({ named: parseDockerReference('example.com/b:2') }).index, 1);
    assert.equal(r.choose({ sourceIndex: 1 }).index, 1);
    assert.throws(() => r.choose({ sourceIndex: 2 }), (e: { code?: string }) => e.code === 'IMAGE_NOT_FOUND');
    assert.throws(() => r.choose({ named: parseDockerReference('a:2') }), (e: { code?: string }) => e.code === 'IMAGE_NOT_FOUND');
    assert.throws(() => r.choose({}), (e: { code?: string; message: string }) => e.code === 'INVALID_ARGUMENT' && /holds 2 images/.test(e.message));
  } finally {
    await r.close();
  }
  const { readdirSync } = await import('node:fs');
  assert.deepEqual(readdirSync(tempDir), [], 'the decompressed copy is removed on close');
});

test('manifest.json as json.Unmarshal into []ManifestItem reads it', () => {
  assert.deepEqual(parseManifestJson(Buffer.from('null')), []);
  assert.deepEqual(parseManifestJson(Buffer.from('[{"config":"c","repotags":null,"LAYERS":["l"],"Extra":1}]')), [{ Config: 'c', RepoTags: [], Layers: ['l'] }]);
  assert.throws(() => parseManifestJson(Buffer.from('{}')), /must be a JSON array/);
  assert.throws(() => parseManifestJson(Buffer.from('[{"Layers":"l"}]')), /Layers must be a list of strings/);
  assert.throws(() => parseManifestJson(Buffer.from('[1]')), /not an object/);
});

test('a missing archive is IMAGE_NOT_FOUND; one without manifest.json is ARCHIVE_INVALID', async () => {
  await assert.rejects(open_(join(dir, 'none.tar')), (e: { code?: string }) => e.code === 'IMAGE_NOT_FOUND');
  const empty = join(dir, 'empty.tar');
  writeFileSync(empty, Buffer.alloc(1024));
  await assert.rejects(open_(empty), (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && /no manifest\.json/.test(e.message));
  await assert.rejects(open_(dir), (e: { code?: string }) => e.code === 'ARCHIVE_INVALID');
});

test('a plain archive is read from the file it was opened as: another renamed over its path is never mixed in', async () => {
  const first = await archive([item(['first:1'])]);
  const r = await open_(first);
  try {
    const second = await archive([item(['second:2']), item(['second:3'])]);
    renameSync(second, first);
    const file = r.index.file('manifest.json')!;
    assert.deepEqual(JSON.parse((await r.index.read(file, 10_000, 'manifest.json')).toString()), [item(['first:1'])]);
    assert.deepEqual(r.listTags(), ['first:1']);
  } finally {
    await r.close();
  }
  // a FIFO planted at the path is refused, not waited on
  const fifo = join(dir, 'fifo.tar');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(open_(fifo), (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && /not a regular file/.test(e.message));
});
