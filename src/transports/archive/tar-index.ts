import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
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
 * Contract: build() reads the archive's headers once, in order (not the bodies of its files:
 * BodySkippingReader), and throws ARCHIVE_INVALID for any archive extraction would refuse. The file is given by path or as an open FileHandle: by
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
    const owned = typeof source === 'string' ? await open(source, 'r') : undefined;
    const input = new BodySkippingReader(owned ?? (source as FileHandle));
    extract.on('entry', (header, stream, next) => {
      // A body cut short (a truncated archive) errors the entry's stream too; the error surfaces
      // through the pipeline, and an entry stream without a listener would crash the process.
      stream.on('error', () => undefined);
      try {
        // The body is not needed to index it: the reader feeds the parser zeros in its place.
        const at = (header as { byteOffset?: number }).byteOffset;
        if (typeof at === 'number' && header.type !== 'directory' && (header.size ?? 0) > 0) input.skipTo(at + header.size!);
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
      await pipeline(input, extract as unknown as Writable, { signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw new AbortedError('reading the archive was cancelled');
      if (refusal) throw refusal;
      if (e instanceof DomainError) throw e;
      if (fsErrorCode(e) === undefined || /tar|Unexpected end of data|Invalid header|Header exceeds/i.test((e as Error).message)) {
        throw new ArchiveInvalidError(`not a valid tar archive: ${(e as Error).message}`, { cause: e });
      }
      throw e;
    } finally {
      await owned?.close();
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
 * `size` bytes of an open file from `offset`, by positioned reads: the handle's own position is
 * never used, so any number of these may read it at once, and none holds the handle open
 * (FileHandle streams would: close() would wait for them all).
 */
function rangeStream(fh: FileHandle, offset: number, size: number, signal?: AbortSignal): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let pos = offset;
    const end = offset + size;
    while (pos < end) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) {
        throw new ArchiveInvalidError(`the archive ends ${end - pos} bytes before the entry at offset ${offset} does (was it truncated while being read?)`);
      }
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: CHUNK, signal });
}

/** Zeros standing in for the bodies BodySkippingReader skips (never written to). */
const ZEROS = Buffer.alloc(CHUNK);
const READ_AHEAD = 64 * 1024;

/**
 * The tar file, read in order for the tar parser, except the bodies it is told to skip
 * (skipTo, called when an entry's header has been parsed): those bytes are given as zeros,
 * without reading the file, so indexing a 2 GiB archive reads its headers (kilobytes), not 2
 * GiB. The parser still sees every byte position, so its checks (headers, padding, the end of
 * the data) are exactly those of a full read; a body it is given as zeros is never used. The
 * file's size is taken at the start: a file cut shorter meanwhile ends early, which the parser
 * reports as it would have.
 */
class BodySkippingReader extends Readable {
  private pos = 0;
  private skipUntil = 0;
  private size?: number;

  constructor(private readonly fh: FileHandle) {
    super({ highWaterMark: READ_AHEAD });
  }

  skipTo(position: number): void {
    this.skipUntil = Math.max(this.skipUntil, position);
  }

  override _read(): void {
    void this.next().then(
      (chunk) => this.push(chunk),
      (e: unknown) => this.destroy(e as Error),
    );
  }

  private async next(): Promise<Buffer | null> {
    this.size ??= (await this.fh.stat()).size;
    if (this.pos >= this.size) return null;
    if (this.pos < this.skipUntil) {
      const n = Math.min(this.skipUntil, this.size) - this.pos;
      const zeros = ZEROS.subarray(0, Math.min(n, ZEROS.length));
      this.pos += zeros.length;
      return zeros;
    }
    const buf = Buffer.allocUnsafe(Math.min(READ_AHEAD, this.size - this.pos));
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.pos);
    if (bytesRead === 0) return null;
    this.pos += bytesRead;
    return buf.subarray(0, bytesRead);
  }
}
