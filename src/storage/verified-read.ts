import { open, realpath } from 'node:fs/promises';
import { relative } from 'node:path';
import { digestAlgorithm, digestOf } from '../image-spec/digest';
import { resolveInStorageRoot } from './storage-root';
import { LayoutInvalidError } from './storage-errors';

/** index.json may list many images. */
export const LIMIT_INDEX_FILE = 16 * 1024 * 1024;

/**
 * `path` (absolute, lexically inside `root`) after following symbolic links; refused
 * (PATH_ESCAPES_STORAGE_ROOT) when a link in it leads outside `root`. Need not exist.
 */
export async function confinedPath(root: string, path: string): Promise<string> {
  // `path` descends from the real root (callers build it from resolveInStorageRoot's answer).
  const realRoot = await realpath(root).catch(() => root);
  return resolveInStorageRoot(realRoot, relative(realRoot, path) || '.');
}

/** What a small verified read expects: at most `limit` bytes and, when given, a size (-1: unknown) and digest. */
export interface SmallReadExpectation {
  limit: number;
  what: string;
  expected?: { digest: string; size: number };
}

/** How many bytes a small verified read looks at: one more than it accepts, to tell "more" from "exactly". */
export function smallReadCap(opts: SmallReadExpectation): number {
  const { limit, expected } = opts;
  if (expected && expected.size > limit) throw new LayoutInvalidError(`${opts.what}: its descriptor announces ${expected.size} bytes, more than the ${limit}-byte limit`);
  return Math.min((expected && expected.size >= 0 ? expected.size : limit) + 1, limit + 1);
}

/**
 * Checks what a small verified read saw (at most smallReadCap bytes): within the limit, of the
 * expected size and hashing to the expected digest; else LAYOUT_INVALID naming `what`.
 */
export function verifySmallRead(bytes: Buffer, opts: SmallReadExpectation): Buffer {
  const { limit, what, expected } = opts;
  if (bytes.length > limit) throw new LayoutInvalidError(`${what}: larger than the ${limit}-byte limit`);
  if (expected) {
    if (expected.size >= 0 && bytes.length !== expected.size) {
      throw new LayoutInvalidError(`${what}: the descriptor says ${expected.size} bytes, the file has ${bytes.length > expected.size ? 'more' : String(bytes.length)}`);
    }
    const actual = digestOf(bytes, digestAlgorithm(expected.digest));
    if (actual !== expected.digest) throw new LayoutInvalidError(`${what}: the content hashes to ${actual}, not ${expected.digest}`);
  }
  return bytes;
}

/**
 * Reads a small file whole: at most `limit` bytes (more is LAYOUT_INVALID), and, when
 * `expected` is given, exactly its size (unless that is -1) and hashing to its digest (else
 * LAYOUT_INVALID naming `what`). File-system errors (ENOENT…) are rethrown as they are, for
 * the caller to name.
 */
export async function readSmallFile(path: string, opts: SmallReadExpectation): Promise<Buffer> {
  const cap = smallReadCap(opts);
  const fh = await open(path, 'r');
  let bytes: Buffer;
  try {
    const buf = Buffer.alloc(cap);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buf.length) break;
    }
    bytes = buf.subarray(0, filled);
  } finally {
    await fh.close();
  }
  return verifySmallRead(bytes, opts);
}
