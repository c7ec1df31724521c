import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DomainError } from '../errors/domain-error';
import { tempName } from './temp-names';
import type { StorageVolume } from './volume';

/**
 * Temp-file-then-rename writing for the file transports. Contract: a file is visible under its
 * final name only complete and flushed to disk; a failed or aborted write removes its temp file.
 * Temp files are named by temp-names.ts (`.skiff-tmp-<owner>-<random>-NAME`) and live in the
 * directory of the final file (or a directory the caller names on the same file system), so the
 * rename is atomic and a sweep can tell whose they are.
 */

/**
 * Write buffer of file streams: network chunks arrive small (16–64 KiB); a buffer larger than
 * one chunk lets them be written with one writev while the previous write is in flight, instead
 * of one thread-pool round trip per chunk (~40% less CPU for layer-sized files than the default
 * 16 KiB). At most this much is held per file being written, i.e. per blob transfer in flight.
 * Registry → oci: of the 329 MiB bench image (6 layers in flight), 5 interleaved rounds against
 * skopeo twice each: 1 MiB took the same time as 4 MiB (ratio 1.22–1.26 vs 1.24–1.26) with a
 * peak RSS 25–30 MB lower (260/271 MB vs 285/299 MB).
 */
export const FILE_WRITE_HIGH_WATER_MARK = 1024 * 1024;

/**
 * Flushes a directory's entries (fsync of the directory): after a rename it makes the new name
 * survive a power loss, as the renamed file's own fsync made its bytes survive. File systems
 * that cannot fsync a directory (EINVAL, ENOTSUP, EPERM, EISDIR, EBADF) are left as they are:
 * there the rename is as durable as the file system makes it.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!['EINVAL', 'ENOTSUP', 'EPERM', 'EISDIR', 'EBADF'].includes(code ?? '')) throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * The owner id of temp files written without one: files in this process's private data
 * directory (credentials), which only its own start-up sweep looks at. Writes into the shared
 * storage root always name their StorageOwner.
 */
const PRIVATE_OWNER = `00000000-${randomBytes(4).toString('hex')}`;

/** A fresh temp path in `dir` for `owner` (temp-names.ts), derived from `base`. */
export function tempPath(dir: string, base: string, owner: string = PRIVATE_OWNER): string {
  return join(dir, tempName(owner, base));
}

/**
 * Where and as whom a file is written: `owner` names the temp files (StorageOwner id);
 * `volume` turns out-of-space errors into INSUFFICIENT_STORAGE naming `what` (the caller's
 * name for the file: a reference and a blob, never a server path).
 */
export interface WriteTarget {
  owner: string;
  volume: StorageVolume;
  what: string;
}

/**
 * Streams `stream` into a new temp file in `dir` (created exclusively, flushed before close).
 * Resolves once the stream ended cleanly; on any error (the source stream's verdict included)
 * the temp file is removed and the error rethrown, an out-of-space error as
 * INSUFFICIENT_STORAGE (also as the stream's own error, so the engine's verifying stream
 * reports the same). The caller renames or removes the file.
 */
export async function streamToTempFile(
  stream: Readable,
  dir: string,
  target: WriteTarget,
  opts: { signal?: AbortSignal; base?: string; durable?: boolean; mode?: number; needed?: number } = {},
): Promise<{ path: string; size: number }> {
  const path = tempPath(dir, opts.base ?? 'blob', target.owner);
  const ctx = { what: target.what, dir, needed: opts.needed };
  const out = createWriteStream(path, {
    flags: 'wx',
    mode: opts.mode ?? 0o644,
    flush: opts.durable ?? true,
    highWaterMark: FILE_WRITE_HIGH_WATER_MARK,
    fs: target.volume.writeStreamFs(ctx),
  });
  try {
    await pipeline(stream, out, { signal: opts.signal });
  } catch (e) {
    stream.destroy();
    out.destroy();
    await rm(path, { force: true });
    throw await target.volume.explain(e, ctx);
  }
  return { path, size: out.bytesWritten };
}

/**
 * A blob streamed into a temp file in `dir`, its size checked against the blob's (known, or
 * final once the stream has ended: a mismatch is DIGEST_MISMATCH), then given to `place`, which
 * moves it where it belongs. A known size that does not fit in the volume's free space fails
 * at once (INSUFFICIENT_STORAGE, the stream destroyed unread). On any failure the temp file is
 * removed. `durable: false` skips the flush for files that are only staged; `mode` defaults to 0644.
 */
export async function writeBlobFile(
  stream: Readable,
  dir: string,
  blob: { known?: { digest: string; size: number }; final: () => { digest: string; size: number } },
  place: (tempFile: string, digest: string) => Promise<void>,
  target: WriteTarget,
  opts: { signal?: AbortSignal; durable?: boolean; mode?: number } = {},
): Promise<{ digest: string; size: number }> {
  const needed = blob.known && blob.known.size >= 0 ? blob.known.size : undefined;
  if (needed !== undefined) {
    try {
      await target.volume.ensureRoom({ what: target.what, dir, needed });
    } catch (e) {
      stream.destroy();
      throw e;
    }
  }
  const temp = await streamToTempFile(stream, dir, target, { ...opts, needed });
  try {
    const info = blob.known ?? blob.final();
    if (info.size >= 0 && info.size !== temp.size) {
      throw new DomainError('DIGEST_MISMATCH', `blob ${info.digest}: expected ${info.size} bytes, received ${temp.size}`);
    }
    await place(temp.path, info.digest);
    return { digest: info.digest, size: temp.size };
  } catch (e) {
    await rm(temp.path, { force: true });
    throw await target.volume.explain(e, { what: target.what, dir, needed });
  }
}

/**
 * Writes `bytes` to `path` atomically: temp file (in `tempDir`, default the file's directory;
 * same file system), fsync, rename. `mode` (default 0644) is set exactly, whatever the umask.
 * With a `target`, temp files carry its owner and out-of-space errors are INSUFFICIENT_STORAGE.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, opts: { tempDir?: string; mode?: number; target?: WriteTarget } = {}): Promise<void> {
  const dir = opts.tempDir ?? dirname(path);
  const tmp = tempPath(dir, basename(path), opts.target?.owner);
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
    await syncDirectory(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true });
    throw opts.target ? await opts.target.volume.explain(e, { what: opts.target.what, dir, needed: bytes.length }) : e;
  }
}
