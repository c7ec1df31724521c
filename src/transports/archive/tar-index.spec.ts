import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { extractTar } from './tar-extract';
import type { ArchiveLimits } from './tar-policy';
import { TarIndex } from './tar-index';
import { TarWriter, ustarHeader } from './tar-writer';

const dir = mkdtempSync(join(tmpdir(), 'skiff-tar-index-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A tar written with TarWriter (what the docker-archive destination writes). */
async function written(build: (w: TarWriter) => Promise<void>): Promise<string> {
  const path = join(dir, `t${n++}.tar`);
  const fh = await open(path, 'wx');
  const w = TarWriter.toFile(fh);
  await build(w);
  await w.close();
  await fh.close();
  return path;
}

test('TarWriter headers are Go archive/tar’s for containers/image (USTAR, 0444, mtime 0)', () => {
  const h = ustarHeader({ name: 'manifest.json', size: 229, type: 'file' });
  assert.equal(h.length, 512);
  assert.equal(h.subarray(100, 108).toString('latin1'), '0000444\0');
  assert.equal(h.subarray(124, 136).toString('latin1'), '00000000345\0');
  assert.equal(h.subarray(136, 148).toString('latin1'), '00000000000\0');
  assert.equal(h.subarray(257, 265).toString('latin1'), 'ustar\u000000');
  assert.match(h.subarray(148, 156).toString('latin1'), /^[0-7]{6}\0 $/);
  const l = ustarHeader({ name: 'x/layer.tar', size: 0, type: 'symlink', linkname: '../y.tar' });
  assert.equal(l.subarray(100, 108).toString('latin1'), '0000000\0');
  assert.equal(l[156], 0x32);
  const long = ustarHeader({ name: `${'d'.repeat(120)}/${'f'.repeat(90)}`, size: 1, type: 'file' });
  assert.equal(long.subarray(345, 465).toString('latin1'), 'd'.repeat(120));
});

test('indexes files in place, follows the archive’s own links and refuses paths that leave it', async () => {
  const path = await written(async (w) => {
    await w.addBytes('a/layer.tar', Buffer.alloc(1000, 1));
    await w.addSymlink('b/layer.tar', '../a/layer.tar');
    await w.addSymlink('c', 'b');
    await w.addBytes('empty', Buffer.alloc(0));
    await w.addBytes('manifest.json', Buffer.from('[]'));
  });
  const index = await TarIndex.build(path);
  const a = index.file('a/layer.tar')!;
  assert.equal(a.size, 1000);
  assert.deepEqual(index.file('b/layer.tar'), a);
  assert.deepEqual(index.file('./c/layer.tar'), a);
  assert.equal(index.file('nothing'), undefined);
  assert.equal(index.file('a'), undefined, 'a directory is not a file');
  assert.equal((await index.read(index.file('manifest.json')!, 100, 'manifest')).toString(), '[]');
  assert.equal((await index.read(index.file('empty')!, 100, 'empty')).length, 0);
  assert.deepEqual(await index.read(a, 2000, 'layer'), Buffer.alloc(1000, 1));
  await assert.rejects(index.read(a, 10, 'layer'), /more than the 10-byte limit/);
  assert.throws(() => index.file('../outside'), /leaves the archive/);
  assert.throws(() => index.file('/etc/passwd'), /absolute/);
});

test('refuses what extraction would refuse, without writing anything', async () => {
  const path = join(dir, 'hostile.tar');
  const h = ustarHeader({ name: 'ok', size: 0, type: 'symlink', linkname: '../../etc/passwd' });
  writeFileSync(path, Buffer.concat([h, Buffer.alloc(1024)]));
  await assert.rejects(TarIndex.build(path), (e: { code?: string; message: string }) => e.code === 'ARCHIVE_INVALID' && /"ok": symbolic link .* leaves the archive/.test(e.message));
  writeFileSync(path, Buffer.from('definitely not a tar archive'.padEnd(600, '!')));
  await assert.rejects(TarIndex.build(path), /not a valid tar archive/);
  const many = await written(async (w) => {
    for (let i = 0; i < 5; i++) await w.addBytes(`f${i}`, Buffer.from('x'));
  });
  await assert.rejects(TarIndex.build(many, { limits: { maxEntries: 3 } }), /more than 3 entries/);
});

/** The bytes of a tar-stream pack (PAX headers where USTAR cannot hold a name). */
async function packed(entries: { name: string; body?: Buffer; type?: 'file' | 'symlink'; linkname?: string; size?: number }[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = buffer(pack as unknown as Readable);
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, size: e.size ?? e.body?.length ?? 0 }, e.body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  return done;
}

/** What extraction says of an archive: 'ok' or its refusal's message. */
async function extractionSays(path: string, limits?: ArchiveLimits): Promise<string> {
  const out = mkdtempSync(join(dir, 'x-'));
  try {
    await extractTar(createReadStream(path), out, { limits });
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function indexSays(path: string, limits?: ArchiveLimits): Promise<string> {
  return TarIndex.build(path, { limits }).then(
    () => 'ok',
    (e: unknown) => `${(e as { code?: string }).code}: ${(e as Error).message}`,
  );
}

test('indexing reads the headers, not the bodies; PAX names and a link with a body are indexed as extraction reads them', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  const longName = `${'n'.repeat(150)}é`;
  const path = join(dir, 'bodies.tar');
  writeFileSync(
    path,
    await packed([
      { name: 'a', body: Buffer.from('target') },
      { name: longName, body: Buffer.from('pax-named') },
      { name: 'big', body: big },
      { name: 'after', body: Buffer.from('tail') },
    ]),
  );
  const fh = await open(path, 'r');
  try {
    let bytesRead = 0;
    const read = fh.read.bind(fh) as (b: Buffer, o: number, l: number, p: number) => Promise<{ bytesRead: number; buffer: Buffer }>;
    (fh as unknown as { read: typeof read }).read = async (b, o, l, p) => {
      const r = await read(b, o, l, p);
      bytesRead += r.bytesRead;
      return r;
    };
    const index = await TarIndex.build(fh);
    assert.ok(bytesRead < 512 * 1024, `indexing read ${bytesRead} bytes of a ${big.length}-byte body`);
    assert.equal((await index.read(index.file(longName)!, 100, 'pax')).toString(), 'pax-named');
    assert.equal((await index.read(index.file('after')!, 100, 'after')).toString(), 'tail');
    assert.equal(index.file('big')!.size, big.length);
  } finally {
    await fh.close();
  }
  assert.equal(await extractionSays(path), 'ok');
});

test('a header lying about its size (up to 8 GiB in a small file) is refused exactly as extraction refuses it', async () => {
  const limits = { maxEntries: 100, maxEntrySize: 2 ** 34, maxTotalSize: 2 ** 34 };
  const path = join(dir, 'liar.tar');
  for (const size of [2 ** 33 - 1, 5000]) {
    writeFileSync(path, Buffer.concat([ustarHeader({ name: 'huge', size, type: 'file' }), Buffer.alloc(1024, 1), Buffer.alloc(1024)]));
    const said = await indexSays(path, limits);
    assert.match(said, /^ARCHIVE_INVALID: /, `size ${size}`);
    assert.equal(said, await extractionSays(path, limits), `size ${size}`);
  }
  // a symbolic link carrying a body: the body is skipped as a file's is, the next entry indexed
  const link = Buffer.concat([ustarHeader({ name: 'l', size: 700, type: 'symlink', linkname: 'after' }), Buffer.alloc(1024, 0x41)]);
  writeFileSync(path, Buffer.concat([link, await packed([{ name: 'after', body: Buffer.from('tail') }])]));
  const index = await TarIndex.build(path);
  assert.equal((await index.read(index.file('l')!, 100, 'l')).toString(), 'tail');
  assert.equal(await extractionSays(path), 'ok');
});
