import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { type Writable, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { fsErrorCode } from '../../storage/storage-errors';
import { type ArchiveLimits, ArchiveInvalidError, TarEntryPolicy } from './tar-policy';

/** Where the body of a regular file lies in the (uncompressed) tar file. */
export interface IndexedFile {
  /** The entry's normalised name (after following links). */
  name: string;
  offset: number;
  size: number;
}

/**
 * An index of a plain (uncompressed) tar file: every entry is checked by TarEntryPolicy exactly
 * as extraction would, but nothing is written anywhere; bodies are later read in place, by
 * offset. Paths given to file() are resolved through the archive's own links, never leaving it.
 *
 * Contract: build() reads the whole file once (sequentially) and throws ARCHIVE_INVALID for any
 * archive extraction would refuse. The file is given by path or as an open FileHandle: by
 * path, it must not change while the index is used (the callers own a private copy); by
 * handle, the index and every body are read from that one open file, so replacing the path
 * (writers rename a new archive over it) does not affect the reader. The handle stays the
 * caller's to close (bodies read after that fail); a body found shorter than indexed (the
 * file was truncated in place) is ARCHIVE_INVALID.
 */
export class TarIndex {
  private constructor(
    private readonly source: string | FileHandle,
    private readonly policy: TarEntryPolicy,
    private readonly files: Map<string, { offset: number; size: number }>,
  ) {}

  static async build(source: string | FileHandle, opts: { limits?: ArchiveLimits; signal?: AbortSignal } = {}): Promise<TarIndex> {
    const policy = new TarEntryPolicy(opts.limits);
    const files = new Map<string, { offset: number; size: number }>();
    const extract = tar.extract();
    let refusal: unknown;
    extract.on('entry', (header, stream, next) => {
      try {
        const admitted = policy.admit(header);
        if (admitted.action === 'file') {
          const offset = (header as { byteOffset?: number }).byteOffset;
          if (typeof offset !== 'number') throw new Error('tar-stream did not report the entry offset');
          files.set(admitted.name, { offset, size: admitted.size });
        } else if (admitted.action === 'hardlink') {
          files.set(admitted.name, files.get(admitted.target)!);
        }
      } catch (e) {
        refusal ??= e;
        stream.destroy();
        next(e as Error);
        return;
      }
      stream.on('end', () => next());
      stream.resume();
    });
    try {
      const input = typeof source === 'string' ? createReadStream(source) : rangeStream(source, 0, undefined);
      await pipeline(input, extract as unknown as Writable, { signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw new AbortedError('reading the archive was cancelled');
      if (refusal) throw refusal;
      if (e instanceof DomainError) throw e;
      if (fsErrorCode(e) === undefined || /tar|Unexpected end of data|Invalid header|Header exceeds/i.test((e as Error).message)) {
        throw new ArchiveInvalidError(`not a valid tar archive: ${(e as Error).message}`, { cause: e });
      }
      throw e;
    }
    if (refusal) throw refusal;
    if (opts.signal?.aborted) throw new AbortedError('reading the archive was cancelled');
    policy.checkLinks();
    return new TarIndex(source, policy, files);
  }

  /**
   * The regular file an archive path names (following the archive's links), or undefined when
   * it names nothing or something else (a directory). Unsafe paths (leaving the archive) are
   * refused with ARCHIVE_INVALID.
   */
  file(path: string): IndexedFile | undefined {
    if (path.startsWith('/')) throw new ArchiveInvalidError(`path ${JSON.stringify(path)} is absolute; archive paths are relative`);
    const name = this.policy.resolve(path);
    if (name === undefined) return undefined;
    const at = this.files.get(name);
    return at ? { name, ...at } : undefined;
  }

  /** Streams a file's body from the tar file. */
  open(file: IndexedFile, signal?: AbortSignal): Readable {
    if (file.size === 0) return Readable.from([]);
    if (typeof this.source !== 'string') return rangeStream(this.source, file.offset, file.size, signal);
    return createReadStream(this.source, { start: file.offset, end: file.offset + file.size - 1, signal });
  }

  /** Reads a small file whole; refuses one larger than `limit` bytes. */
  async read(file: IndexedFile, limit: number, what: string, signal?: AbortSignal): Promise<Buffer> {
    if (file.size > limit) throw new ArchiveInvalidError(`${what} (${JSON.stringify(file.name)}) is ${file.size} bytes, more than the ${limit}-byte limit`);
    const chunks: Buffer[] = [];
    for await (const chunk of this.open(file, signal)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

const CHUNK = 1024 * 1024;

/**
 * `size` bytes of an open file from `offset` (undefined: up to its end), by positioned reads:
 * the handle's own position is never used, so any number of these may read it at once, and
 * none holds the handle open (FileHandle streams would: close() would wait for them all).
 */
function rangeStream(fh: FileHandle, offset: number, size: number | undefined, signal?: AbortSignal): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let pos = offset;
    const end = size === undefined ? Infinity : offset + size;
    while (pos < end) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) {
        if (size === undefined) return;
        throw new ArchiveInvalidError(`the archive ends ${end - pos} bytes before the entry at offset ${offset} does (was it truncated while being read?)`);
      }
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: CHUNK, signal });
}
