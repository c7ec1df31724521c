/**
 * Deterministic archive building for test layers: a minimal ustar writer and a gzip
 * encoder that uses only stored (uncompressed) deflate blocks.
 *
 * Contract: output bytes depend only on the inputs (no clocks, no zlib version), so
 * digests of layers built from the same inputs are stable forever.
 */
import { crc32 } from 'node:zlib';

export interface TarEntry {
  /** Relative path, '/'-separated, no leading '/' or './'. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  content?: Buffer;
  linkTarget?: string;
  mode?: number;
  /** Seconds since the epoch. */
  mtime: number;
}

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: value ${value} does not fit in ${width - 1} octal digits`);
  return s.padStart(width - 1, '0') + '\0';
}

function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function tarHeader(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const path = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const { name, prefix } = splitName(path);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(e.mode ?? (e.type === 'file' ? 0o644 : 0o755), 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(e.mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 'ascii');
  if (e.linkTarget !== undefined) h.write(e.linkTarget, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(0, 8), 329, 'ascii'); // devmajor
  h.write(octal(0, 8), 337, 'ascii'); // devminor
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** A tar stream of `entries` in the given order, ending with two zero blocks. */
export function makeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.type === 'file' ? (e.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
    parts.push(tarHeader(e, content.length), content);
    const pad = (512 - (content.length % 512)) % 512;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * gzip (RFC 1952) with stored deflate blocks: fixed 10-byte header (mtime 0, no name,
 * OS 255 "unknown"), valid for every gunzip, size ≈ input + 5 bytes per 64 KiB.
 */
export function gzipStored(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff])];
  let offset = 0;
  do {
    const len = Math.min(0xffff, data.length - offset);
    const final = offset + len >= data.length;
    const block = Buffer.alloc(5);
    block[0] = final ? 1 : 0; // BFINAL, BTYPE=00 (stored)
    block.writeUInt16LE(len, 1);
    block.writeUInt16LE(~len & 0xffff, 3);
    parts.push(block, data.subarray(offset, offset + len));
    offset += len;
  } while (offset < data.length);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length % 0x1_0000_0000, 4);
  parts.push(trailer);
  return Buffer.concat(parts);
}
