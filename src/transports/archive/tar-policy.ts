import { Transform, type TransformCallback } from 'node:stream';
import { DomainError } from '../../errors/domain-error';

/**
 * What an image archive (docker-archive, oci-archive) may contain, decided entry by entry from
 * the tar headers alone. Shared by the extractor (which writes the entries to disk) and the
 * indexer (which only remembers where they are), so both refuse exactly the same archives.
 *
 * Rules: names are relative and free of `..`; an entry never goes through a symbolic link or a
 * file of the archive (every parent is a directory of the archive, or made for it); a name
 * appears once (a directory may repeat as a directory); hard links name an earlier regular
 * file; symbolic links stay inside the archive (lexically here, fully once every entry is
 * known: resolve()); devices, FIFOs and unknown types are refused; counts and sizes are capped.
 */

export interface ArchiveLimits {
  /** Most entries (of any type) the archive may have. */
  maxEntries?: number;
  /** Largest size of a single entry, in bytes. */
  maxEntrySize?: number;
  /** Largest sum of all entry sizes, in bytes. */
  maxTotalSize?: number;
}

/** Defaults when the caller gives no limits (the service passes its configured ones). */
export const DEFAULT_ARCHIVE_LIMITS: Required<ArchiveLimits> = {
  maxEntries: 100_000,
  maxEntrySize: 32 * 1024 ** 3,
  maxTotalSize: 32 * 1024 ** 3,
};

/** The extraction limits of the service's configuration (AppConfig.archive). */
export function archiveLimits(config: { maxEntries: number; maxBytes: number }): Required<ArchiveLimits> {
  return { maxEntries: config.maxEntries, maxEntrySize: config.maxBytes, maxTotalSize: config.maxBytes };
}

/** An archive that cannot be read, or that tries something unsafe (422). */
export class ArchiveInvalidError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ARCHIVE_INVALID', message, {}, options);
  }
}

/**
 * Caps what a decompressor may produce (a gzip bomb stops here): the entries' bytes allowed by
 * the limits, plus their headers and padding.
 */
export class DecompressedSizeCap extends Transform {
  private seen = 0;
  private readonly max: number;

  constructor(limits: ArchiveLimits, private readonly what: string) {
    super();
    const l = { ...DEFAULT_ARCHIVE_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
    this.max = l.maxTotalSize + (l.maxEntries + 2) * 1024;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) done(new ArchiveInvalidError(`${this.what}: decompresses to more than the ${this.max}-byte limit`));
    else done(null, chunk);
  }
}

/**
 * The normalised archive path of an entry name (`./a//b/` → `a/b`; `''` for the root), or a
 * refusal naming why it is unsafe.
 */
export function normalizeEntryName(name: string): string {
  if (name.includes('\0')) throw new ArchiveInvalidError(`entry ${JSON.stringify(name)}: the name contains a NUL byte`);
  if (name.startsWith('/')) throw new ArchiveInvalidError(`entry ${JSON.stringify(name)}: absolute names are not allowed`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ArchiveInvalidError(`entry ${JSON.stringify(name)}: ".." in a name is not allowed`);
  return parts.join('/');
}

/** The header fields the policy looks at (tar-stream's names). */
export interface TarHeaderLike {
  name: string;
  size?: number;
  type?: string | null;
  linkname?: string | null;
}

export type EntryKind = 'dir' | 'file' | 'symlink';

/** What to do with an admitted entry. Parents listed in `parents` are new directories to create first, in order. */
export type Admission =
  | { action: 'skip'; name: string; parents: string[] }
  | { action: 'dir'; name: string; parents: string[] }
  | { action: 'file'; name: string; parents: string[]; size: number }
  | { action: 'symlink'; name: string; parents: string[]; linkname: string }
  | { action: 'hardlink'; name: string; parents: string[]; target: string };

const MAX_LINK_HOPS = 40;

export class TarEntryPolicy {
  private readonly limits: Required<ArchiveLimits>;
  private readonly kinds = new Map<string, EntryKind>([['', 'dir']]);
  private readonly links = new Map<string, string>();
  private entries = 0;
  private total = 0;

  constructor(limits: ArchiveLimits = {}) {
    const given = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as ArchiveLimits;
    this.limits = { ...DEFAULT_ARCHIVE_LIMITS, ...given };
  }

  /**
   * Checks one entry (synchronously, before its body is read) and records it. Throws
   * ArchiveInvalidError naming the entry when it is refused.
   */
  admit(header: TarHeaderLike): Admission {
    const label = JSON.stringify(header.name);
    this.entries++;
    if (this.entries > this.limits.maxEntries) throw new ArchiveInvalidError(`the archive has more than ${this.limits.maxEntries} entries (limit reached at ${label})`);
    const name = normalizeEntryName(header.name);
    const size = header.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0) throw new ArchiveInvalidError(`entry ${label}: its header announces an invalid size`);
    if (size > this.limits.maxEntrySize) throw new ArchiveInvalidError(`entry ${label}: its header announces ${size} bytes, more than the ${this.limits.maxEntrySize}-byte limit for one entry`);
    this.total += size;
    if (this.total > this.limits.maxTotalSize) throw new ArchiveInvalidError(`entry ${label}: the archive's entries exceed the ${this.limits.maxTotalSize}-byte limit in total`);

    const type = header.type;
    switch (type) {
      case 'character-device':
      case 'block-device':
        throw new ArchiveInvalidError(`entry ${label}: device files are not allowed in an image archive`);
      case 'fifo':
        throw new ArchiveInvalidError(`entry ${label}: FIFOs are not allowed in an image archive`);
      case 'directory':
      case 'file':
      case 'contiguous-file':
      case 'symlink':
      case 'link':
        break;
      default:
        throw new ArchiveInvalidError(`entry ${label}: unsupported entry type ${JSON.stringify(type ?? 'unknown')}`);
    }

    const previous = this.kinds.get(name);
    if (name === '') {
      if (type !== 'directory') throw new ArchiveInvalidError(`entry ${label}: names the archive root but is not a directory`);
      return { action: 'skip', name, parents: [] };
    }
    if (previous !== undefined) {
      if (previous === 'dir' && type === 'directory') return { action: 'skip', name, parents: [] };
      throw new ArchiveInvalidError(`entry ${label}: a second entry with the same name would shadow the first`);
    }
    const parents = this.parentsOf(name, label);

    switch (type) {
      case 'directory':
        this.kinds.set(name, 'dir');
        return { action: 'dir', name, parents };
      case 'symlink': {
        const linkname = header.linkname ?? '';
        if (linkname === '' || linkname.includes('\0')) throw new ArchiveInvalidError(`entry ${label}: symbolic link without a valid target`);
        if (linkname.startsWith('/')) throw new ArchiveInvalidError(`entry ${label}: symbolic link to an absolute path (${JSON.stringify(linkname)}) leaves the archive`);
        const lexical = this.lexicalJoin(parentOf(name), linkname);
        if (lexical === undefined) throw new ArchiveInvalidError(`entry ${label}: symbolic link to ${JSON.stringify(linkname)} leaves the archive`);
        this.kinds.set(name, 'symlink');
        this.links.set(name, linkname);
        return { action: 'symlink', name, parents, linkname };
      }
      case 'link': {
        const linkname = header.linkname ?? '';
        let target: string;
        try {
          target = normalizeEntryName(linkname);
        } catch {
          throw new ArchiveInvalidError(`entry ${label}: hard link to ${JSON.stringify(linkname)} leaves the archive`);
        }
        if (this.kinds.get(target) !== 'file') {
          throw new ArchiveInvalidError(`entry ${label}: hard link to ${JSON.stringify(linkname)}, which is not an earlier regular file of the archive`);
        }
        this.kinds.set(name, 'file');
        return { action: 'hardlink', name, parents, target };
      }
      default:
        this.kinds.set(name, 'file');
        return { action: 'file', name, parents, size };
    }
  }

  /** The parent directories of `name` not seen yet (recorded now); refuses parents that are links or files. */
  private parentsOf(name: string, label: string): string[] {
    const created: string[] = [];
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const kind = this.kinds.get(dir);
      if (kind === 'dir') continue;
      if (kind !== undefined) {
        throw new ArchiveInvalidError(`entry ${label}: its parent ${JSON.stringify(dir)} is a ${kind === 'symlink' ? 'symbolic link' : 'file'} in the archive`);
      }
      this.kinds.set(dir, 'dir');
      created.push(dir);
    }
    return created;
  }

  /** `base/rel` normalised lexically; undefined when it climbs above the root. */
  private lexicalJoin(base: string, rel: string): string | undefined {
    const out = base === '' ? [] : base.split('/');
    for (const part of rel.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length === 0) return undefined;
        out.pop();
      } else out.push(part);
    }
    return out.join('/');
  }

  /** The symbolic links admitted so far. */
  symlinks(): string[] {
    return [...this.links.keys()];
  }

  /** The kind of an admitted (normalised) name. */
  kindOf(name: string): EntryKind | undefined {
    return this.kinds.get(name);
  }

  /**
   * Resolves an archive path the way the kernel would once every entry is in place (following
   * the archive's symbolic links, `..` after a link going up from where the link points), to
   * the name of an entry that is not a link. Throws ArchiveInvalidError when the path leaves the
   * archive or loops; returns undefined when it names nothing.
   */
  resolve(path: string): string | undefined {
    let hops = 0;
    const walk = (p: string): string[] | undefined => {
      const out: string[] = [];
      const parts = p.split('/');
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        if (part === '' || part === '.') continue;
        if (part === '..') {
          if (out.length === 0) throw new ArchiveInvalidError(`path ${JSON.stringify(path)} leaves the archive`);
          out.pop();
          continue;
        }
        out.push(part);
        const here = out.join('/');
        const kind = this.kinds.get(here);
        if (kind === undefined) return undefined;
        if (kind === 'symlink') {
          if (++hops > MAX_LINK_HOPS) throw new ArchiveInvalidError(`path ${JSON.stringify(path)}: too many levels of symbolic links`);
          const target = walk(joinPath(out.slice(0, -1).join('/'), this.links.get(here)!));
          if (target === undefined) return undefined;
          out.length = 0;
          out.push(...target);
        } else if (kind === 'file' && i < parts.length - 1 && parts.slice(i + 1).some((x) => x !== '' && x !== '.')) {
          return undefined;
        }
      }
      return out;
    };
    const resolved = walk(path);
    return resolved === undefined ? undefined : resolved.join('/');
  }

  /** Checks, once every entry is known, that each symbolic link resolves to an entry inside the archive. */
  checkLinks(): void {
    for (const name of this.links.keys()) {
      let target: string | undefined;
      try {
        target = this.resolve(name);
      } catch (e) {
        throw new ArchiveInvalidError(`entry ${JSON.stringify(name)}: symbolic link resolves outside the archive (${(e as Error).message})`);
      }
      if (target === undefined) {
        throw new ArchiveInvalidError(`entry ${JSON.stringify(name)}: symbolic link to ${JSON.stringify(this.links.get(name))} points to nothing in the archive`);
      }
    }
  }
}

function parentOf(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? '' : name.slice(0, i);
}

function joinPath(base: string, rel: string): string {
  return base === '' ? rel : `${base}/${rel}`;
}
