import { constants as fsConstants } from 'node:fs';
import { link, mkdir, open, realpath, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { fsErrorCode } from '../../storage/storage-errors';
import { isInside } from '../../storage/storage-root';
import { type Admission, type ArchiveLimits, ArchiveInvalidError, DecompressedSizeCap, TarEntryPolicy } from './tar-policy';

export { ArchiveInvalidError, DEFAULT_ARCHIVE_LIMITS, archiveLimits, normalizeEntryName, type ArchiveLimits } from './tar-policy';

/**
 * Safe, streamed extraction of an image archive (docker-archive, oci-archive) into a fresh
 * directory the caller owns.
 *
 * Contract:
 * - What is accepted is TarEntryPolicy's decision (tar-policy.ts): no `..` or absolute names,
 *   no entry through a link or a file, no duplicate names, hard links only to earlier files,
 *   symbolic links only inside the archive, no devices or FIFOs, entry count and sizes capped
 *   (checked from each header before its body is read).
 * - Nothing is ever created outside `destDir`: every parent directory is created by the
 *   extractor itself, files are opened with O_CREAT|O_EXCL|O_NOFOLLOW, and once everything is
 *   extracted each symbolic link is checked again with realpath.
 * - gzip-compressed input is detected by its magic bytes and decompressed on the fly.
 * - Every refusal is a DomainError `ARCHIVE_INVALID` naming the entry; the AbortSignal stops
 *   reading and writing at once (`ABORTED`).
 * - On failure `destDir` may hold a partial extraction: the caller removes it. Files are
 *   written with private modes (0600/0700); the modes, owners and times of the archive are
 *   not applied (the extracted tree is an internal staging area, never a root filesystem).
 */

export interface ExtractTarOptions {
  limits?: ArchiveLimits;
  signal?: AbortSignal;
}

type EntryStream = AsyncIterable<Buffer> & { resume(): unknown; destroy(e?: Error): unknown; on(event: 'error', f: (e: Error) => void): unknown };

/**
 * Reads at least `n` bytes (or everything, if shorter) and gives back a stream that still starts
 * with them. The bytes are put back synchronously, before the stream can emit 'end'.
 */
function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while (length < n && (chunk = input.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        length += chunk.length;
      }
      if (length >= n) {
        cleanup();
        const head = Buffer.concat(chunks);
        input.unshift(head);
        resolve({ head, stream: input });
      }
    };
    const onEnd = () => {
      cleanup();
      const head = Buffer.concat(chunks);
      resolve({ head, stream: Readable.from(head.length ? [head] : []) });
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    input.on('readable', onReadable);
    input.on('end', onEnd);
    input.on('error', onError);
  });
}

/** Maps a file-system failure for one entry: name-level errors are the archive's fault. */
function entryFsError(name: string, e: unknown): unknown {
  const code = fsErrorCode(e);
  if (code === 'ENAMETOOLONG' || code === 'EEXIST' || code === 'ELOOP' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'EINVAL') {
    return new ArchiveInvalidError(`entry ${JSON.stringify(name)}: cannot be created (${code})`, { cause: e });
  }
  return e;
}

/**
 * Extracts a tar (or tar.gz) stream into `destDir` (which must exist and be empty), safely.
 * See the module contract above.
 */
export async function extractTar(input: Readable, destDir: string, opts: ExtractTarOptions = {}): Promise<void> {
  const signal = opts.signal;
  if (signal?.aborted) {
    input.destroy();
    throw new AbortedError('extracting the archive was cancelled');
  }
  const root = await realpath(destDir);
  const policy = new TarEntryPolicy(opts.limits);

  const { head, stream } = await peek(input, 2);
  const gzipped = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const extract = tar.extract();

  const create = async <T>(label: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      throw entryFsError(label, e);
    }
  };

  const handle = async (header: tar.Header, entry: EntryStream, admitted: Admission): Promise<void> => {
    const label = header.name;
    for (const dir of admitted.parents) await create(label, () => mkdir(join(root, dir), { mode: 0o700 }));
    const target = join(root, admitted.name);
    switch (admitted.action) {
      case 'skip':
        entry.resume();
        return;
      case 'dir':
        await create(label, () => mkdir(target, { mode: 0o700 }));
        entry.resume();
        return;
      case 'symlink':
        await create(label, () => symlink(admitted.linkname, target));
        entry.resume();
        return;
      case 'hardlink':
        await create(label, () => link(join(root, admitted.target), target));
        entry.resume();
        return;
      case 'file': {
        const fh = await create(label, () => open(target, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600));
        try {
          let written = 0;
          for await (const chunk of entry) {
            if (signal?.aborted) throw new AbortedError('extracting the archive was cancelled');
            written += chunk.length;
            await fh.write(chunk);
          }
          if (written !== admitted.size) throw new ArchiveInvalidError(`entry ${JSON.stringify(label)}: ${written} bytes instead of the ${admitted.size} its header announces`);
        } finally {
          await fh.close();
        }
        return;
      }
    }
  };

  // Entries are handled one at a time: the parser waits for next() before reading the next
  // header. The first refusal wins over what the parser says afterwards (a truncated body).
  let refusal: unknown;
  let parseError: unknown;
  let otherError: unknown;
  let current: Promise<void> = Promise.resolve();
  extract.on('error', (e: unknown) => {
    parseError ??= e;
  });
  extract.on('entry', (header, source, next) => {
    const entry = source as unknown as EntryStream;
    entry.on('error', () => undefined); // surfaces through the iteration in handle()
    const refuse = (e: unknown) => {
      if (e instanceof DomainError) refusal ??= e;
      else otherError ??= e;
      entry.destroy();
      next(e as Error);
    };
    let admitted: Admission;
    try {
      admitted = policy.admit(header);
    } catch (e) {
      refuse(e);
      return;
    }
    current = handle(header, entry, admitted).then(() => next(), refuse);
  });

  try {
    await pipeline([stream, ...(gzipped ? [createGunzip(), new DecompressedSizeCap(opts.limits ?? {}, 'the archive')] : []), extract as unknown as Writable], { signal });
  } catch (e) {
    parseError ??= e;
  }
  await current;
  if (refusal !== undefined || parseError !== undefined || otherError !== undefined || signal?.aborted) {
    stream.destroy();
    extract.destroy();
    const e = refusal ?? parseError ?? otherError;
    if (signal?.aborted) throw new AbortedError('extracting the archive was cancelled');
    if (e instanceof DomainError) throw e;
    const code = fsErrorCode(e);
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || code?.startsWith('ERR_ZLIB') || /tar|Unexpected end of data|Invalid header|Header exceeds/i.test((e as Error).message ?? '')) {
      throw new ArchiveInvalidError(`not a valid ${gzipped ? 'gzip-compressed ' : ''}tar archive: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  }

  // Symbolic links may chain; only now, with everything in place, can they be resolved.
  policy.checkLinks();
  for (const name of policy.symlinks()) {
    const real = await realpath(join(root, name)).catch(() => undefined);
    if (real === undefined || !isInside(root, real)) throw new ArchiveInvalidError(`entry ${JSON.stringify(name)}: symbolic link resolves outside the archive`);
  }
}
