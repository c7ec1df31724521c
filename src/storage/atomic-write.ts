import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DomainError } from '../errors/domain-error';

/**
 * Temp-file-then-rename writing for the file transports. Contract: a file is visible under its
 * final name only complete and flushed to disk; a failed or aborted write removes its temp file.
 * Temp files are hidden (`.NAME.skiff-<random>.tmp`) and live in the directory of the final
 * file (or a directory the caller names on the same file system), so the rename is atomic.
 */

/**
 * Write buffer of file streams: network chunks arrive small (16–64 KiB); a larger buffer lets
 * them be written with one writev while the previous write is in flight, instead of one
 * thread-pool round trip per chunk (measured: ~40% less CPU for layer-sized files than the
 * default 16 KiB). Registry → oci: of 400 MB took 1.40–1.55 s with 1 MiB, 1.28–1.30 s with
 * 2 or 4 MiB, 1.36 s with 8 MiB; at most this much is held per file being written.
 */
export const FILE_WRITE_HIGH_WATER_MARK = 4 * 1024 * 1024;

/** A fresh hidden temp path in `dir`, derived from `base`. */
export function tempPath(dir: string, base: string): string {
  return join(dir, `.${base}.skiff-${randomBytes(8).toString('hex')}.tmp`);
}

/**
 * Streams `stream` into a new temp file in `dir` (created exclusively, flushed before close).
 * Resolves once the stream ended cleanly; on any error (the source stream's verdict included)
 * the temp file is removed and the error rethrown. The caller renames or removes the file.
 */
export async function streamToTempFile(
  stream: Readable,
  dir: string,
  opts: { signal?: AbortSignal; base?: string; durable?: boolean; mode?: number } = {},
): Promise<{ path: string; size: number }> {
  const path = tempPath(dir, opts.base ?? 'blob');
  const out = createWriteStream(path, { flags: 'wx', mode: opts.mode ?? 0o644, flush: opts.durable ?? true, highWaterMark: FILE_WRITE_HIGH_WATER_MARK });
  try {
    await pipeline(stream, out, { signal: opts.signal });
  } catch (e) {
    stream.destroy();
    out.destroy();
    await rm(path, { force: true });
    throw e;
  }
  return { path, size: out.bytesWritten };
}

/**
 * A blob streamed into a temp file in `dir`, its size checked against the blob's (known, or
 * final once the stream has ended: a mismatch is DIGEST_MISMATCH), then given to `place`, which
 * moves it where it belongs. On any failure the temp file is removed. `durable: false` skips
 * the flush for files that are only staged; `mode` defaults to 0644.
 */
export async function writeBlobFile(
  stream: Readable,
  dir: string,
  blob: { known?: { digest: string; size: number }; final: () => { digest: string; size: number } },
  place: (tempFile: string, digest: string) => Promise<void>,
  opts: { signal?: AbortSignal; durable?: boolean; mode?: number } = {},
): Promise<{ digest: string; size: number }> {
  const temp = await streamToTempFile(stream, dir, opts);
  try {
    const info = blob.known ?? blob.final();
    if (info.size >= 0 && info.size !== temp.size) {
      throw new DomainError('DIGEST_MISMATCH', `blob ${info.digest}: expected ${info.size} bytes, received ${temp.size}`);
    }
    await place(temp.path, info.digest);
    return { digest: info.digest, size: temp.size };
  } catch (e) {
    await rm(temp.path, { force: true });
    throw e;
  }
}

/**
 * Writes `bytes` to `path` atomically: temp file (in `tempDir`, default the file's directory;
 * same file system), fsync, rename. `mode` (default 0644) is set exactly, whatever the umask.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, opts: { tempDir?: string; mode?: number } = {}): Promise<void> {
  const tmp = tempPath(opts.tempDir ?? dirname(path), basename(path));
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(bytes);
      if (opts.mode !== undefined) await fh.chmod(opts.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
