import { constants as fsConstants } from 'node:fs';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { fsErrorCode } from '../../storage/storage-errors';
import { type DockerReference, formatDockerReference, parseDockerReference } from '../../image-spec/docker-reference';
import { goFieldValues } from '../../image-spec/go-json';
import { InvalidReferenceError } from '../../image-spec/invalid-reference-error';
import { TarIndex } from '../archive/tar-index';
import { type ArchiveLimits, ArchiveInvalidError, DecompressedSizeCap } from '../archive/tar-policy';
import { MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import type { LocalStorage } from '../../storage/local-storage';

/**
 * Opens a `docker save` archive (containers/image docker/internal/tarfile Reader), once: a plain
 * tar is indexed and read in place from that one open handle (an archive renamed over PATH
 * meanwhile is never mixed in; closed by close()); a gzip-compressed one is first decompressed
 * into a private staging directory (as containers/image does; out of space there is
 * INSUFFICIENT_STORAGE), removed by close(), or at once when opening fails. manifest.json is parsed as Go's json.Unmarshal
 * into []ManifestItem would, and images are chosen and listed by containers/image's rules.
 */

/** One image of manifest.json. */
export interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export interface OpenArchiveOptions {
  /** Where private staging directories are made. */
  local: LocalStorage;
  limits: Required<ArchiveLimits>;
  signal?: AbortSignal;
  /** What the archive is called in messages (the reference as the caller gave it). */
  displayName: string;
}

export class DockerArchiveReader {
  private constructor(
    readonly index: TarIndex,
    readonly items: ManifestItem[],
    private readonly tempDir: string | undefined,
    readonly displayName: string,
    /** The plain archive, indexed and read from this one open handle (TarIndex). */
    private readonly fh: FileHandle | undefined,
  ) {}

  static async open(path: string, opts: OpenArchiveOptions): Promise<DockerArchiveReader> {
    const what = opts.displayName;
    let fh: FileHandle;
    try {
      // non-blocking, so a FIFO planted at the path cannot hang the open
      fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      if (fsErrorCode(e) === 'ENOENT' || fsErrorCode(e) === 'ENOTDIR') {
        throw new DomainError('IMAGE_NOT_FOUND', `${what}: no such archive in the storage root`);
      }
      throw e;
    }
    let tempDir: string | undefined;
    let keepOpen = false;
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw new ArchiveInvalidError(`${what}: not a regular file`);
      let tar: string | FileHandle = fh;
      if (await isGzip(fh)) {
        const decompressing = `${what}: decompressing the archive`;
        tempDir = await opts.local.makeStagingDir('docker-archive-src', decompressing);
        tar = join(tempDir, 'archive.tar');
        // at least as many bytes as the compressed file
        await opts.local.staging.ensureRoom({ what: decompressing, dir: tempDir, needed: info.size });
        try {
          const out = (await open(tar, 'wx', 0o600)).createWriteStream();
          await pipeline(fh.createReadStream({ start: 0, autoClose: false }), createGunzip(), new DecompressedSizeCap(opts.limits, what), out, { signal: opts.signal });
        } catch (e) {
          if (opts.signal?.aborted) throw new AbortedError('reading the archive was cancelled');
          if (e instanceof DomainError) throw e;
          const full = await opts.local.staging.explain(e, { what: decompressing, dir: tempDir });
          if (full instanceof DomainError) throw full;
          if (/^Z_|ERR_ZLIB/.test(String(fsErrorCode(e)))) throw new ArchiveInvalidError(`${what}: broken gzip compression: ${(e as Error).message}`, { cause: e });
          throw e;
        }
      }
      const index = await TarIndex.build(tar, { limits: opts.limits, signal: opts.signal });
      const manifestFile = index.file('manifest.json');
      if (!manifestFile) throw new ArchiveInvalidError(`${what}: the archive has no manifest.json (not a "docker save" archive?)`);
      const items = parseManifestJson(await index.read(manifestFile, MANIFEST_SIZE_LIMIT, 'manifest.json', opts.signal));
      keepOpen = tar === fh;
      return new DockerArchiveReader(index, items, tempDir, what, keepOpen ? fh : undefined);
    } catch (e) {
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
      throw e;
    } finally {
      if (!keepOpen) await fh.close();
    }
  }

  /**
   * containers/image ChooseManifestItem: by name (the first item with a RepoTag equal to it after
   * normalisation), by `@N`, or the only item.
   */
  choose(ref: { named?: DockerReference; sourceIndex?: number }): { item: ManifestItem; index: number } {
    if (ref.named) {
      const wanted = formatDockerReference(ref.named);
      for (let i = 0; i < this.items.length; i++) {
        for (const tag of this.items[i]!.RepoTags) {
          if (formatDockerReference(parseRepoTag(tag, i)) === wanted) return { item: this.items[i]!, index: i };
        }
      }
      throw new DomainError('IMAGE_NOT_FOUND', `${this.displayName}: tag ${JSON.stringify(wanted)} not found in the archive`);
    }
    if (ref.sourceIndex !== undefined) {
      if (ref.sourceIndex >= this.items.length) {
        throw new DomainError('IMAGE_NOT_FOUND', `${this.displayName}: invalid source index @${ref.sourceIndex}, only ${this.items.length} manifest items available`);
      }
      return { item: this.items[ref.sourceIndex]!, index: ref.sourceIndex };
    }
    if (this.items.length !== 1) {
      throw new DomainError(
        'INVALID_ARGUMENT',
        `${this.displayName}: the archive holds ${this.items.length} images; choose one with docker-archive:PATH:NAME:TAG or docker-archive:PATH:@INDEX`,
      );
    }
    return { item: this.items[0]!, index: 0 };
  }

  /**
   * What `skopeo list-tags docker-archive:…` prints: for every image, for each of its RepoTags
   * the first RepoTag string of the archive that names the same reference (as stored, not
   * normalised), or `@N` for an image without tags. Every tag must be a valid `name:tag`.
   */
  listTags(): string[] {
    const parsed = this.items.map((item, i) =>
      item.RepoTags.map((tag) => {
        const ref = parseRepoTag(tag, i);
        if (ref.tag === undefined) throw new ArchiveInvalidError(`${this.displayName}: invalid tag ${tag} (${formatDockerReference(ref)}): does not contain a tag`);
        return formatDockerReference(ref);
      }),
    );
    const tags: string[] = [];
    parsed.forEach((refs, i) => {
      if (refs.length === 0) tags.push(`@${i}`);
      for (const wanted of refs) {
        let first: string | undefined;
        for (let j = 0; j < parsed.length && first === undefined; j++) {
          const k = parsed[j]!.indexOf(wanted);
          if (k >= 0) first = this.items[j]!.RepoTags[k];
        }
        tags.push(first!);
      }
    });
    return tags;
  }

  async close(): Promise<void> {
    await this.fh?.close();
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
  }
}

async function isGzip(fh: FileHandle): Promise<boolean> {
  const head = Buffer.alloc(2);
  const { bytesRead } = await fh.read(head, 0, 2, 0);
  return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
}

function parseRepoTag(tag: string, item: number): DockerReference {
  try {
    return parseDockerReference(tag);
  } catch (e) {
    if (e instanceof InvalidReferenceError) throw new ArchiveInvalidError(`invalid tag ${JSON.stringify(tag)} in manifest.json item @${item}: ${e.reason}`, { cause: e });
    throw e;
  }
}

function lastField(obj: Record<string, unknown>, field: string): unknown {
  const values = goFieldValues(obj, field);
  return values.length ? values[values.length - 1] : undefined;
}

/** manifest.json as json.Unmarshal into []ManifestItem reads it (null lists are empty lists). */
export function parseManifestJson(bytes: Buffer): ManifestItem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ArchiveInvalidError(`manifest.json is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (doc === null) return [];
  if (!Array.isArray(doc)) throw new ArchiveInvalidError('manifest.json must be a JSON array of images');
  return doc.map((raw, i) => {
    if (raw === null) return { Config: '', RepoTags: [], Layers: [] };
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ArchiveInvalidError(`manifest.json item @${i} is not an object`);
    const obj = raw as Record<string, unknown>;
    const config = lastField(obj, 'Config') ?? '';
    if (typeof config !== 'string' && config !== null) throw new ArchiveInvalidError(`manifest.json item @${i}: Config must be a string`);
    const strings = (field: string): string[] => {
      const v = lastField(obj, field);
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new ArchiveInvalidError(`manifest.json item @${i}: ${field} must be a list of strings`);
      return v as string[];
    };
    return { Config: config ?? '', RepoTags: strings('RepoTags'), Layers: strings('Layers') };
  });
}
