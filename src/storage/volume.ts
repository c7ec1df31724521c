import * as fs from 'node:fs';
import { readFile, realpath, statfs } from 'node:fs/promises';
import { relative } from 'node:path';
import { InsufficientStorageError, fsErrorCode, isOutOfSpace } from './storage-errors';
import { isInside } from './storage-root';

/** Free and total bytes of a volume, as an unprivileged writer sees them (statfs bavail). */
export interface Headroom {
  freeBytes: number;
  totalBytes: number;
}

/**
 * What a write was doing, for messages: `what` names it as the caller knows it (the reference
 * and the blob, never a server path), `dir` is where it writes (for statfs and the mount
 * point), `needed` the bytes it needs when known.
 */
export interface WriteContext {
  what: string;
  dir: string;
  needed?: number;
}

/** `n` bytes for people: `5.0 MiB (5242880 bytes)`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]} (${n} bytes)`;
}

/** Mount points of this process's mount namespace (from /proc/self/mountinfo), or [] where there is none. */
async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  // field 5 is the mount point, with spaces and the like as octal escapes
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p.startsWith('/'))
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
}

type Callback = (err: unknown, ...rest: unknown[]) => void;
type FsCall = (...args: unknown[]) => void;

/**
 * One of the two places skiff writes to: the storage root (`oci:`, `dir:` and archive paths) or
 * the data directory's staging area (`tmp/`: staged layers, extracted archives). It measures
 * headroom, refuses writes of a known size that cannot fit, and turns out-of-space errors
 * (ENOSPC, EDQUOT, EFBIG, EROFS) into INSUFFICIENT_STORAGE (507) naming the volume by its role
 * — or, for a file system mounted inside the root, by its mount point relative to the root —
 * so no server path leaks into an answer.
 */
export class StorageVolume {
  constructor(
    /** `storage root` or `data directory`: how the volume is called in messages. */
    readonly role: 'storage root' | 'data directory',
    /** The configured directory (absolute). Never put in messages. */
    readonly root: string,
  ) {}

  async headroom(dir: string = this.root): Promise<Headroom> {
    const s = await statfs(dir);
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  }

  /** How the volume holding `dir` is named in messages. */
  async describe(dir: string = this.root): Promise<string> {
    const [realRoot, realDir, mounts] = await Promise.all([realpath(this.root).catch(() => this.root), realpath(dir).catch(() => dir), mountPoints()]);
    let best = '';
    for (const m of mounts) if (m.length > best.length && isInside(m, realDir)) best = m;
    if (best && best !== realRoot && isInside(realRoot, best)) return `the volume mounted at ${relative(realRoot, best)}/ in the ${this.role}`;
    return `the ${this.role}'s volume`;
  }

  /**
   * `e` as INSUFFICIENT_STORAGE when it is an out-of-space error (with the volume, the bytes
   * needed when known and the bytes free now); any other error unchanged. Never rejects.
   */
  async explain(e: unknown, ctx: WriteContext): Promise<unknown> {
    if (!isOutOfSpace(e)) return e;
    const code = fsErrorCode(e)!;
    const [where, free] = await Promise.all([this.describe(ctx.dir).catch(() => `the ${this.role}'s volume`), this.headroom(ctx.dir).then((h) => h.freeBytes, () => undefined)]);
    const head =
      code === 'EROFS'
        ? `${ctx.what}: ${where} is read-only (EROFS)`
        : code === 'EFBIG'
          ? `${ctx.what}: the file is too large for ${where} (EFBIG)`
          : code === 'EDQUOT'
            ? `${ctx.what}: the disk quota on ${where} is used up (EDQUOT)`
            : `${ctx.what}: no space left on ${where} (ENOSPC)`;
    const parts: string[] = [];
    if (ctx.needed !== undefined && ctx.needed >= 0 && code !== 'EROFS') parts.push(`${formatBytes(ctx.needed)} needed`);
    if (free !== undefined && code !== 'EROFS') parts.push(`${formatBytes(free)} free`);
    return new InsufficientStorageError(parts.length ? `${head}; ${parts.join(', ')}` : head, { cause: e });
  }

  /** Runs `fn`; an out-of-space error it throws becomes INSUFFICIENT_STORAGE (see explain). */
  async guard<T>(ctx: WriteContext, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw await this.explain(e, ctx);
    }
  }

  /**
   * Fails early (INSUFFICIENT_STORAGE) when `ctx.needed` bytes do not fit in the free space of
   * the volume holding `ctx.dir`. A volume whose free space cannot be read is let through (the
   * write itself will tell).
   */
  async ensureRoom(ctx: WriteContext & { needed: number }): Promise<void> {
    let free: number;
    try {
      free = (await this.headroom(ctx.dir)).freeBytes;
    } catch {
      return;
    }
    if (ctx.needed <= free) return;
    const where = await this.describe(ctx.dir).catch(() => `the ${this.role}'s volume`);
    throw new InsufficientStorageError(`${ctx.what}: not enough space on ${where}; ${formatBytes(ctx.needed)} needed, ${formatBytes(free)} free`);
  }

  /**
   * The `fs` implementation for fs.createWriteStream that reports out-of-space errors as
   * INSUFFICIENT_STORAGE from the stream itself: whoever sees the stream fail (a pipeline, the
   * copy engine's verifying stream) sees the 507, not a raw ENOSPC.
   */
  writeStreamFs(ctx: WriteContext): { open: FsCall; write: FsCall; writev: FsCall; close: FsCall; fsync: FsCall } {
    const wrap =
      (call: FsCall): FsCall =>
      (...args: unknown[]) => {
        const cb = args.pop() as Callback;
        call(...args, (err: unknown, ...rest: unknown[]) => {
          if (!err) return cb(null, ...rest);
          // as an fs callback would: on a later tick, never inside a promise reaction
          void this.explain(err, ctx).then(
            (mapped) => process.nextTick(cb, mapped),
            () => process.nextTick(cb, err),
          );
        });
      };
    return {
      open: wrap(fs.open as FsCall),
      write: wrap(fs.write as FsCall),
      writev: wrap(fs.writev as FsCall),
      close: wrap(fs.close as FsCall),
      fsync: wrap(fs.fsync as FsCall),
    };
  }
}
