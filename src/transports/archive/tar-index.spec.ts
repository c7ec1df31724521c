import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
