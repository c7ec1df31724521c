import { type FileHandle, open } from 'node:fs/promises';
import type { PassThrough } from 'node:stream';
import { AbortedError } from '../../errors/domain-error';

/** Where a TarWriter's bytes go; resolves once `buf` may be reused. */
export type TarSink = (buf: Buffer) => Promise<void>;

/**
 * Writes a tar file entry by entry onto a FileHandle, with the headers Go's archive/tar writes
 * for containers/image's docker-archive (USTAR, mode 0444 for files, 0 for symlinks, uid/gid 0,
 * no user names, mtime 0), so an archive skiff writes is byte-for-byte what skopeo writes for
 * the same content in the same order. Names must fit USTAR (≤ 100 bytes, or split at a `/`
 * into a ≤ 155-byte prefix and a ≤ 100-byte name).
 *
 * Contract: calls are sequential (await each one); close() writes the two zero blocks that end
 * the archive. The caller owns the file or stream (opens, syncs, closes, removes on failure).
 */
export class TarWriter {
  private position = 0;

  constructor(
    private readonly sink: TarSink,
    private readonly signal?: AbortSignal,
  ) {}

  /** Writes into a file, from its start. */
  static toFile(fh: FileHandle, signal?: AbortSignal): TarWriter {
    let position = 0;
    return new TarWriter(async (buf) => {
      let done = 0;
      while (done < buf.length) {
        const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
        done += bytesWritten;
      }
      position += buf.length;
    }, signal);
  }

  /**
   * Writes into a stream (e.g. a request body), honouring its backpressure. The stream keeps
   * what it is given until its reader takes it, so it gets a copy: the caller may reuse `buf`.
   */
  static toStream(out: PassThrough, signal?: AbortSignal): TarWriter {
    return new TarWriter(async (buf) => {
      // a destroyed stream takes nothing and emits no more events: waiting for them would hang
      if (out.destroyed) throw new Error('the reader stopped reading the archive');
      if (out.write(Buffer.from(buf))) return;
      if (out.destroyed) throw new Error('the reader stopped reading the archive');
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          out.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          out.off('drain', onDrain);
          reject(new Error('the reader stopped reading the archive'));
        };
        out.once('drain', onDrain);
        out.once('close', onClose);
      });
    }, signal);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.position;
  }

  private async put(buf: Buffer): Promise<void> {
    if (this.signal?.aborted) throw new AbortedError('writing the archive was cancelled');
    await this.sink(buf);
    this.position += buf.length;
  }

  private async pad(size: number): Promise<void> {
    const rest = size % 512;
    if (rest !== 0) await this.put(Buffer.alloc(512 - rest));
  }

  /** A regular file with the given content. */
  async addBytes(name: string, bytes: Buffer): Promise<void> {
    await this.put(ustarHeader({ name, size: bytes.length, type: 'file' }));
    await this.put(bytes);
    await this.pad(bytes.length);
  }

  /**
   * A regular file of exactly `size` bytes copied from the file at `path`, through one buffer
   * reused for every read: a layer of hundreds of megabytes then allocates nothing per chunk,
   * which kept the garbage collector busy when the copy went through a read stream.
   */
  async addFile(name: string, size: number, path: string, bufferSize = 1024 * 1024): Promise<void> {
    await this.put(ustarHeader({ name, size, type: 'file' }));
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(Math.max(1, Math.min(bufferSize, size)));
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), done);
        if (bytesRead === 0) throw new Error(`${name}: expected ${size} bytes, the staged file has ${done}`);
        await this.put(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        done += bytesRead;
      }
      const { bytesRead: extra } = await fh.read(Buffer.alloc(1), 0, 1, size);
      if (extra !== 0) throw new Error(`${name}: expected ${size} bytes, the staged file has more`);
    } finally {
      await fh.close();
    }
    await this.pad(size);
  }

  async addSymlink(name: string, target: string): Promise<void> {
    await this.put(ustarHeader({ name, size: 0, type: 'symlink', linkname: target }));
  }

  async close(): Promise<void> {
    await this.put(Buffer.alloc(1024));
  }
}

function octal(value: number, width: number): string {
  // Go's formatOctal: zero-padded to width-1 digits, then a NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: ${value} does not fit in ${width - 1} octal digits`);
  return s.padStart(width - 1, '0') + '\0';
}

function splitUstarName(name: string): { name: string; prefix: string } {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') return { name: rest, prefix };
  }
  throw new Error(`tar: name too long for USTAR: ${name}`);
}

/** One 512-byte USTAR header as Go's archive/tar writes it for tar.FileInfoHeader of containers/image's tarFI. */
export function ustarHeader(h: { name: string; size: number; type: 'file' | 'symlink'; linkname?: string }): Buffer {
  const b = Buffer.alloc(512, 0);
  const { name, prefix } = splitUstarName(h.name);
  b.write(name, 0, 100, 'utf8');
  b.write(octal(h.type === 'file' ? 0o444 : 0, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  b.write(octal(h.size, 12), 124, 'ascii');
  b.write(octal(0, 12), 136, 'ascii');
  b.fill(0x20, 148, 156);
  b.write(h.type === 'file' ? '0' : '2', 156, 'ascii');
  if (h.linkname !== undefined) {
    if (Buffer.byteLength(h.linkname) > 100) throw new Error(`tar: link target too long for USTAR: ${h.linkname}`);
    b.write(h.linkname, 157, 100, 'utf8');
  }
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  b.write(octal(0, 8), 329, 'ascii');
  b.write(octal(0, 8), 337, 'ascii');
  b.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of b) sum += byte;
  // Go: 6 octal digits, NUL, space
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return b;
}
