import { open, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { digestAlgorithm, digestHex } from '../../image-spec/digest';
import { guessManifestMediaType, parseManifest, MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import { MediaType } from '../../image-spec/media-types';
import { writeFileAtomic } from '../../storage/atomic-write';
import type { StorageOwner } from '../../storage/storage-owner';
import { parseTempName, tempName } from '../../storage/temp-names';
import type { StorageVolume } from '../../storage/volume';
import { type IndexEntry, OCI_LAYOUT_FILE_CONTENT, type OciIndex, parseOciIndex, serializeOciIndex } from './oci-index';
import { LayoutInvalidError, fsErrorCode } from '../../storage/storage-errors';
import { LIMIT_INDEX_FILE, confinedPath, readSmallFile } from '../../storage/verified-read';
import { AbortedError } from '../../errors/domain-error';
import type { BlobStream } from '../transport';
import type { OciLayoutReader } from './oci-layout-reader';

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerV2S2, MediaType.dockerManifestList]);

/**
 * One OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), the file
 * operations the oci source, destination and delete share. `dir` is the real absolute path of
 * the layout; every path opened below it is checked to stay inside `root` (the storage root,
 * or the private directory an archive was extracted to) even through symbolic links.
 * `name` is how the layout is called in messages (the caller's reference, never a server path).
 * `io` (who writes, onto which volume) is needed for writing: temp files and locks carry the
 * owner's id, and out-of-space errors are INSUFFICIENT_STORAGE naming the volume.
 */
export class OciLayout implements OciLayoutReader {
  constructor(
    readonly dir: string,
    private readonly root: string,
    readonly name: string,
    readonly io?: LayoutIo,
  ) {}

  private get writer(): LayoutIo {
    if (!this.io) throw new Error(`${this.name}: opened for reading only`);
    return this.io;
  }

  get indexPath(): string {
    return join(this.dir, 'index.json');
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  /** blobs/<alg> after following links, refused when that leaves the root. */
  confinedBlobDir(algorithm: 'sha256' | 'sha512'): Promise<string> {
    return confinedPath(this.root, join(this.dir, 'blobs', algorithm));
  }

  /**
   * Where a blob file is created, replaced or removed: its directory confined (links followed),
   * the file name itself not followed (a link there is replaced or removed, never its target).
   */
  async blobWritePath(digest: string): Promise<string> {
    return join(await this.confinedBlobDir(digestAlgorithm(digest)), digestHex(digest));
  }

  /** The blob's path after following links, refused when that leaves the root. */
  confinedBlobPath(digest: string): Promise<string> {
    return confinedPath(this.root, this.blobPath(digest));
  }

  /** index.json parsed, or undefined when the layout (or its index.json) does not exist. */
  async readIndex(): Promise<OciIndex | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readSmallFile(await confinedPath(this.root, this.indexPath), { limit: LIMIT_INDEX_FILE, what: `${this.name}: index.json` });
    } catch (e) {
      const code = fsErrorCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'EISDIR') throw new LayoutInvalidError(`${this.name}: index.json is a directory`);
      throw e;
    }
    return parseOciIndex(bytes, `${this.name}: index.json`);
  }

  /**
   * Writes `oci-layout` (when missing or different) and then index.json, each atomically
   * (temp + rename). Call under withLayoutLock.
   */
  async writeIndex(index: OciIndex): Promise<void> {
    const layoutFile = join(this.dir, 'oci-layout');
    const current = await readSmallFile(layoutFile, { limit: 4096, what: 'oci-layout' }).catch(() => undefined);
    const { owner, volume } = this.writer;
    if (current?.toString('utf8') !== OCI_LAYOUT_FILE_CONTENT) {
      await writeFileAtomic(layoutFile, OCI_LAYOUT_FILE_CONTENT, { target: { owner: owner.id, volume, what: `${this.name}: oci-layout` } });
    }
    await writeFileAtomic(this.indexPath, serializeOciIndex(index), { target: { owner: owner.id, volume, what: `${this.name}: index.json` } });
  }

  /** The size of a blob file, or undefined when it is not there (or not a regular file). */
  async blobSize(digest: string): Promise<number | undefined> {
    try {
      const st = await stat(await this.confinedBlobPath(digest));
      return st.isFile() ? st.size : undefined;
    } catch (e) {
      const code = fsErrorCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  /**
   * A manifest (or other small blob) by digest, verified: size (when known, else -1) and
   * digest. A missing file is LAYOUT_INVALID naming `what`.
   */
  async readVerifiedBlob(digest: string, size: number, what: string, limit = MANIFEST_SIZE_LIMIT): Promise<Buffer> {
    try {
      return await readSmallFile(await this.confinedBlobPath(digest), { limit, what, expected: { digest, size } });
    } catch (e) {
      const code = fsErrorCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
        throw new LayoutInvalidError(`${what}: blob ${digest} is missing from the layout`, { cause: e });
      }
      throw e;
    }
  }

  /** A blob to stream (OciLayoutReader.openBlob): the file is opened once, checked, then streamed from that handle. */
  async openBlob(descriptor: { digest: string; size: number }, what: string, signal?: AbortSignal): Promise<BlobStream> {
    let fh;
    try {
      fh = await open(await this.confinedBlobPath(descriptor.digest), 'r');
    } catch (e) {
      const code = fsErrorCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new LayoutInvalidError(`${what} is missing from the layout`, { cause: e });
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new LayoutInvalidError(`${what} is not a regular file`);
      if (descriptor.size >= 0 && st.size !== descriptor.size) throw new LayoutInvalidError(`${what} has ${st.size} bytes, its descriptor says ${descriptor.size}`);
      if (signal?.aborted) throw new AbortedError('the read was cancelled');
      return { stream: fh.createReadStream({ signal }), size: st.size };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * Every blob reachable from `entries` (the entries' manifests, nested indexes, configs and
   * layers). `strict`: a missing or unreadable manifest, or a missing config/layer or one of
   * another size, is LAYOUT_INVALID (used before publishing a reference). Not strict: missing
   * blobs are skipped, but a manifest that exists and cannot be parsed still throws (a
   * collector must never guess what it references).
   */
  async reachableBlobs(entries: readonly IndexEntry[], opts: { strict: boolean }): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    const visit = async (d: { digest: string; size: number; mediaType?: string }, manifestLike: boolean, where: string): Promise<void> => {
      if (seen.has(d.digest)) return;
      seen.set(d.digest, d.size);
      if (!manifestLike) {
        if (!opts.strict) return;
        const size = await this.blobSize(d.digest);
        if (size === undefined) throw new LayoutInvalidError(`${where}: blob ${d.digest} is missing from the layout`);
        if (size !== d.size) throw new LayoutInvalidError(`${where}: blob ${d.digest} has ${size} bytes, its descriptor says ${d.size}`);
        return;
      }
      let bytes: Buffer;
      try {
        bytes = await this.readVerifiedBlob(d.digest, d.size, where);
      } catch (e) {
        if (!opts.strict && (await this.blobSize(d.digest)) === undefined) return;
        throw e;
      }
      const mediaType = d.mediaType && MANIFEST_TYPES.has(d.mediaType) ? d.mediaType : guessManifestMediaType(bytes);
      if (!mediaType) throw new LayoutInvalidError(`${where}: manifest ${d.digest} is of an unknown type`);
      let parsed;
      try {
        parsed = parseManifest(bytes, mediaType);
      } catch (e) {
        throw new LayoutInvalidError(`${where}: manifest ${d.digest}: ${(e as Error).message}`, { cause: e });
      }
      if (parsed.kind === 'index') {
        await Promise.all(parsed.manifests.map((m) => visit(m, true, `${where} → ${m.digest}`)));
      } else if (parsed.kind === 'image') {
        await Promise.all([parsed.config, ...parsed.layers].map((b) => visit(b, false, `${where} → ${d.digest}`)));
      } else {
        await Promise.all(parsed.fsLayers.map((digest) => visit({ digest, size: -1 }, false, where)).map((p) => p.catch(() => undefined)));
      }
    };
    // Sequential over entries keeps the number of open files bounded by one image's fan-out.
    for (const e of entries) await visit(e, true, `${this.name}: ${e.digest}`);
    return seen;
  }

  /** Removes blob files (missing ones are fine), then the blob directories left empty. */
  async removeBlobs(digests: Iterable<string>): Promise<number> {
    let removed = 0;
    for (const d of digests) {
      try {
        await unlink(await this.blobWritePath(d));
        removed++;
      } catch (e) {
        if (fsErrorCode(e) !== 'ENOENT') throw e;
      }
    }
    return removed;
  }

  /** Removes the layout directory when it holds nothing but empty blob directories (a layout created for a copy that failed). */
  async removeIfEmpty(): Promise<void> {
    try {
      const blobs = join(this.dir, 'blobs');
      for (const alg of await readdir(blobs).catch(() => [] as string[])) await rmdir(join(blobs, alg)).catch(() => undefined);
      await rmdir(blobs).catch(() => undefined);
      await rmdir(this.dir);
    } catch {
      // not empty: something else lives there
    }
  }
}

/** Who writes into a layout and onto which volume. */
export interface LayoutIo {
  owner: StorageOwner;
  volume: StorageVolume;
}

const WRITER_HINT = 'writer';

/**
 * Writer markers: an empty file `.skiff-tmp-<owner>-<random>-writer` in the layout directory
 * while a destination of that owner writes into the layout. Blob collection (a failed copy's
 * cleanup, delete) skips the collection while a live writer of another process has a marker
 * (its image may share blobs not yet in index.json); a dead owner's marker is swept like any
 * of its temp files.
 */
export async function addWriterMarker(layout: OciLayout): Promise<string> {
  const io = layout.io;
  if (!io) throw new Error(`${layout.name}: opened for reading only`);
  return io.volume.guard({ what: layout.name, dir: layout.dir }, async () => {
    const path = join(layout.dir, tempName(io.owner.id, WRITER_HINT));
    await (await open(path, 'wx', 0o644)).close();
    return path;
  });
}

/** How many live writers of other processes (other replicas included) have a marker in the layout. */
export async function foreignWriters(layout: OciLayout): Promise<number> {
  const owner = layout.io?.owner;
  if (!owner) return 0;
  let n = 0;
  for (const name of await readdir(layout.dir).catch(() => [] as string[])) {
    const t = parseTempName(name);
    if (t && t.hint === WRITER_HINT && t.owner !== owner.id && !(await owner.isGone(t.owner))) n++;
  }
  return n;
}

/** Removes a directory tree (for temporary layouts). */
export function removeTree(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
