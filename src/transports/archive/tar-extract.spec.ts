import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extractTar, normalizeEntryName } from './tar-extract';

/** A raw tar entry: anything a hostile archive may say (type flag, link, a size that lies). */
interface RawEntry {
  name: string;
  /** Tar type flag: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block, '5' dir, '6' fifo, 'x' pax. */
  type?: string;
  content?: Buffer;
  linkname?: string;
  /** Header size field override: a number (octal) or raw 12 bytes (base-256). */
  size?: number | Buffer;
}

function header(e: RawEntry): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(e.name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  const size = e.size ?? e.content?.length ?? 0;
  if (Buffer.isBuffer(size)) size.copy(h, 124);
  else h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(e.type ?? '0', 156, 'ascii');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
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
    const content = e.content ?? Buffer.alloc(0);
    parts.push(header(e), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function pax(records: Record<string, string>): Buffer {
  let out = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out += `${len}${body}`;
  }
  return Buffer.from(out);
}

const base = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-tar-')));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A fresh extraction target inside a sandbox whose siblings let us see writes that escape. */
function sandbox(): { dest: string; outside: string } {
  const box = join(base, `box-${n++}`);
  const dest = join(box, 'x', 'dest');
  mkdirSync(dest, { recursive: true });
  return { dest, outside: box };
}

/** Every path in `dir`, recursively, relative. */
function tree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + e.name;
    out.push(rel);
    if (e.isDirectory()) out.push(...tree(join(dir, e.name), rel + '/'));
  }
  return out.sort();
}

async function refused(bytes: Buffer, pattern: RegExp, limits?: import("./tar-extract").ArchiveLimits) {
  const { dest, outside } = sandbox();
  await assert.rejects(extractTar(Readable.from([bytes]), dest, { limits }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'ARCHIVE_INVALID', e.message);
    assert.match(e.message, pattern);
    return true;
  });
  // nothing appeared beside the destination
  assert.deepEqual(tree(outside).filter((p) => !p.startsWith('x/dest')), ['x'], 'nothing is written outside destDir');
  return dest;
}

test('extracts files, directories, in-archive links; plain and gzip', async () => {
  const tarBytes = rawTar([
    { name: './', type: '5' },
    { name: 'manifest.json', content: Buffer.from('[]') },
    { name: 'abc/', type: '5' },
    { name: 'abc/layer.tar', content: Buffer.alloc(1500, 7) },
    { name: 'def/layer.tar', type: '2', linkname: '../abc/layer.tar' },
    { name: 'hard.tar', type: '1', linkname: 'abc/layer.tar' },
    { name: 'deep/er/file', content: Buffer.from('x') },
  ]);
  for (const bytes of [tarBytes, gzipSync(tarBytes)]) {
    const { dest } = sandbox();
    await extractTar(Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]), dest, {});
    assert.deepEqual(tree(dest), ['abc', 'abc/layer.tar', 'deep', 'deep/er', 'deep/er/file', 'def', 'def/layer.tar', 'hard.tar', 'manifest.json']);
    assert.equal(readFileSync(join(dest, 'def/layer.tar')).length, 1500);
    assert.equal(readFileSync(join(dest, 'hard.tar')).length, 1500);
    assert.ok(lstatSync(join(dest, 'def/layer.tar')).isSymbolicLink());
    assert.equal(lstatSync(join(dest, 'manifest.json')).mode & 0o777, 0o600);
  }
});

test('empty input and an empty archive extract nothing', async () => {
  for (const bytes of [Buffer.alloc(0), Buffer.alloc(1024)]) {
    const { dest } = sandbox();
    await extractTar(Readable.from(bytes.length ? [bytes] : []), dest, {});
    assert.deepEqual(tree(dest), []);
  }
});

test('normalizeEntryName', () => {
  assert.equal(normalizeEntryName('./a//b/'), 'a/b');
  assert.equal(normalizeEntryName('./'), '');
  assert.throws(() => normalizeEntryName('/etc/passwd'), /absolute/);
  assert.throws(() => normalizeEntryName('a/../../b'), /"\.\."/);
  assert.throws(() => normalizeEntryName('a/../b'), /"\.\."/);
});

test('refuses ".." and absolute names', async () => {
  await refused(rawTar([{ name: '../escaped', content: Buffer.from('x') }]), /"\.\.\/escaped".*"\.\."/);
  await refused(rawTar([{ name: 'a/../../escaped', content: Buffer.from('x') }]), /\.\./);
  await refused(rawTar([{ name: '/tmp/abs-escaped', content: Buffer.from('x') }]), /absolute/);
  // a pax path record is applied before the check
  await refused(rawTar([{ name: 'p', type: 'x', content: pax({ path: '../../pax-escaped' }) }, { name: 'innocent', content: Buffer.from('x') }]), /pax-escaped/);
});

test('refuses symbolic links that leave the archive, and writing through links', async () => {
  await refused(rawTar([{ name: 'l', type: '2', linkname: '/etc/passwd' }]), /"l".*absolute/);
  await refused(rawTar([{ name: 'a/l', type: '2', linkname: '../../x' }]), /leaves the archive/);
  // a link inside, then an entry through it
  await refused(rawTar([{ name: 'l', type: '2', linkname: '.' }, { name: 'l/f', content: Buffer.from('x') }]), /parent "l" is a symbolic link/);
  // lexically inside, but a chain of links that really resolves outside
  await refused(rawTar([{ name: 'd/', type: '5' }, { name: 'd/up', type: '2', linkname: '..' }, { name: 'esc', type: '2', linkname: 'd/up/d/up/d/up/..' }]), /"esc".*outside|points to nothing/);
  await refused(rawTar([{ name: 'dangling', type: '2', linkname: 'nothing-here' }]), /points to nothing/);
});

test('refuses hard links that leave the archive or do not name an earlier file', async () => {
  await refused(rawTar([{ name: 'h', type: '1', linkname: '/etc/passwd' }]), /"h".*hard link.*leaves/);
  await refused(rawTar([{ name: 'h', type: '1', linkname: '../outside' }]), /hard link.*leaves/);
  await refused(rawTar([{ name: 'h', type: '1', linkname: 'later' }, { name: 'later', content: Buffer.from('x') }]), /not an earlier regular file/);
  await refused(rawTar([{ name: 's', type: '2', linkname: 'f' }, { name: 'f', content: Buffer.from('x') }, { name: 'h', type: '1', linkname: 's' }]), /not an earlier regular file/);
});

test('refuses device files and FIFOs', async () => {
  await refused(rawTar([{ name: 'dev/null', type: '3' }]), /"dev\/null".*device/);
  await refused(rawTar([{ name: 'sda', type: '4' }]), /device/);
  await refused(rawTar([{ name: 'pipe', type: '6' }]), /FIFO/);
  await refused(rawTar([{ name: 'odd', type: 'Q' }]), /unsupported entry type/);
});

test('refuses duplicate names that would shadow', async () => {
  await refused(rawTar([{ name: 'manifest.json', content: Buffer.from('[1]') }, { name: 'manifest.json', content: Buffer.from('[2]') }]), /"manifest.json".*same name/);
  await refused(rawTar([{ name: 'a', content: Buffer.from('x') }, { name: './a', type: '2', linkname: 'b' }]), /same name/);
  await refused(rawTar([{ name: 'a', content: Buffer.from('x') }, { name: 'a/b', content: Buffer.from('x') }]), /parent "a" is a file/);
  // a directory repeated is fine
  const { dest } = sandbox();
  await extractTar(Readable.from([rawTar([{ name: 'd/', type: '5' }, { name: 'd', type: '5' }, { name: 'd/f', content: Buffer.from('1') }])]), dest, {});
  assert.deepEqual(tree(dest), ['d', 'd/f']);
});

test('refuses absurd header sizes before reading, and stops at the limits', async () => {
  const huge = Buffer.alloc(12, 0);
  huge[0] = 0x80;
  huge.fill(0xff, 1);
  await refused(rawTar([{ name: 'huge', size: huge }], { end: false }), /"huge".*invalid size/);
  await refused(rawTar([{ name: 'big', size: 0o77777777777 }], { end: false }), /"big".*8589934591 bytes.*limit/, { maxEntrySize: 1024 ** 3 });
  await refused(rawTar([{ name: 'p', type: 'x', content: pax({ size: '99999999999999999999999' }) }, { name: 'paxbig', content: Buffer.from('x') }], { end: false }), /"paxbig".*invalid size/);
  const many = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, content: Buffer.from('x') }));
  await refused(rawTar(many), /more than 10 entries.*"f10"/, { maxEntries: 10 });
  await refused(rawTar([{ name: 'a', content: Buffer.alloc(600) }, { name: 'b', content: Buffer.alloc(600) }]), /"b".*1000-byte limit in total/, { maxTotalSize: 1000 });
});

test('refuses what is not a tar, truncated archives and broken gzip', async () => {
  await refused(Buffer.from('{"this is": "json, not a tar archive"}'.padEnd(600, ' ')), /not a valid tar archive/);
  const full = rawTar([{ name: 'f', content: Buffer.alloc(4000, 1) }]);
  await refused(full.subarray(0, 2000), /not a valid tar archive/);
  const gz = gzipSync(full);
  await refused(Buffer.concat([gz.subarray(0, 30), Buffer.alloc(30, 0x55)]), /not a valid gzip-compressed tar archive/);
});

test('an aborted extraction stops with ABORTED', async () => {
  const { dest } = sandbox();
  const ac = new AbortController();
  async function* slow() {
    yield rawTar([{ name: 'a', content: Buffer.alloc(512) }], { end: false });
    ac.abort();
    await new Promise((r) => setTimeout(r, 50));
    yield rawTar([{ name: 'b', content: Buffer.alloc(512) }]);
  }
  await assert.rejects(extractTar(Readable.from(slow()), dest, { signal: ac.signal }), (e: { code?: string }) => e.code === 'ABORTED');
  assert.ok(!existsSync(join(dest, 'b')));
});

test('streams a large entry from a file, and completes an archive without end blocks', async () => {
  const { createReadStream, writeFileSync } = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 9)) & 0xff;
  const file = join(base, 'big.tar');
  writeFileSync(file, rawTar([{ name: 'big/layer.tar', content: big }, { name: 'last', content: Buffer.from('tail') }], { end: false }));
  const { dest } = sandbox();
  await extractTar(createReadStream(file, { highWaterMark: 7000 }), dest, {});
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(readFileSync(join(dest, 'big/layer.tar'))), sha(big));
  assert.equal(readFileSync(join(dest, 'last'), 'utf8'), 'tail');
});

test('a gzip bomb stops at the decompressed-size cap', async () => {
  await refused(gzipSync(Buffer.alloc(4 * 1024 * 1024)), /decompresses to more than the 13288-byte limit/, { maxTotalSize: 1000, maxEntries: 10 });
});
