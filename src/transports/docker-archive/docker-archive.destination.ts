import { randomUUID } from 'node:crypto';
import { link, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { syncPublishedDirectory } from '../../storage/atomic-write';
import { fsErrorCode } from '../../storage/storage-errors';
import type { DockerReference } from '../../image-spec/docker-reference';
import type { DockerArchiveImageReference } from '../../image-spec/image-reference';
import { MediaType } from '../../image-spec/media-types';
import type { LocalStorage } from '../../storage/local-storage';
import { tempName } from '../../storage/temp-names';
import { TarWriter } from '../archive/tar-writer';
import type { BlobInfo, ImageDestination } from '../transport';
import { StagedBlobs } from './docker-save-writer';

/**
 * ImageDestination writing a `docker save` archive as containers/image's docker-archive writer
 * does: uncompressed layers `<hex>.tar`, the config `<hex>.json`, the legacy per-layer
 * directories, `manifest.json` (Config, RepoTags, Layers) and `repositories`; RepoTags are the
 * reference's name plus the additional tags. Docker v2s2 manifests only, no manifest lists.
 *
 * Contract:
 * - putBlob() may run concurrently: each blob is staged in a private staging directory (under
 *   the service's data directory) and only recorded once its stream ended cleanly (the engine's
 *   verifying stream); a failed stream leaves no staged file.
 * - putManifest() is the commit: the archive's size is checked against the storage root's free
 *   space, then the whole archive is written into a temp file next to PATH
 *   (`.skiff-tmp-<owner>-…`, same directory, so the final step is atomic), synced, then put in
 *   place without ever replacing a non-empty file. Until then nothing exists at PATH. Out of
 *   space, here or while staging, is INSUFFICIENT_STORAGE naming the volume. Once the archive
 *   is at PATH the commit resolves: a directory that cannot be flushed after it is reported
 *   (syncPublishedDirectory), not a failed copy.
 * - close() removes the staging directory and, without a commit, any unfinished archive: a
 *   failed or cancelled copy leaves neither an archive nor temp files.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly layerCompression = 'decompress' as const;
  readonly acceptsIndexes = false;
  readonly hostKey = 'local:docker-archive';
  /** Unique per destination: two copies to the same path never share staged blobs. */
  readonly blobScope = `docker-archive:${randomUUID()}`;
  private readonly staged: StagedBlobs;
  private partialArchive?: string;

  constructor(
    readonly reference: DockerArchiveImageReference,
    /** The absolute archive path (inside the storage root). */
    private readonly path: string,
    private readonly stagingDir: string,
    private readonly repoTags: readonly DockerReference[],
    private readonly local: LocalStorage,
  ) {
    this.staged = new StagedBlobs(stagingDir, local.stagingTarget(`docker-archive:${reference.path}`));
  }

  supportedManifestTypes(): readonly string[] {
    return [MediaType.dockerV2S2];
  }

  async tryReuseBlob(blob: BlobInfo): Promise<'present' | undefined> {
    return this.staged.has(blob.digest) ? 'present' : undefined;
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.staged.put(stream, blob, opts);
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    const image = await this.staged.prepare(bytes, mediaType, opts, 'a docker-archive');
    const dir = dirname(this.path);
    const what = `docker-archive:${this.reference.path}`;
    const needed = this.staged.archiveSize(image);
    await this.local.storage.ensureRoom({ what, dir, needed });
    await this.local.storage.guard({ what, dir, needed }, () => this.writeArchive(image, opts.signal));
  }

  private async writeArchive(image: Awaited<ReturnType<StagedBlobs['prepare']>>, signal?: AbortSignal): Promise<void> {
    const partial = join(dirname(this.path), tempName(this.local.owner.id, basename(this.path)));
    this.partialArchive = partial;
    let fh;
    try {
      fh = await open(partial, 'wx', 0o644);
      await this.staged.writeArchive(TarWriter.toFile(fh, signal), image, this.repoTags);
      await fh.sync();
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await rm(partial, { force: true });
      this.partialArchive = undefined;
      if (signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw e;
    }
    await fh.close();
    if (signal?.aborted) throw new AbortedError('the copy was cancelled');
    await this.publish(partial);
    this.partialArchive = undefined;
    await syncPublishedDirectory(dirname(this.path));
  }

  /** Puts the finished archive at PATH: never over a non-empty file (skopeo refuses to modify an existing archive). */
  private async publish(partial: string): Promise<void> {
    try {
      await link(partial, this.path);
      await unlink(partial);
      return;
    } catch (e) {
      const code = fsErrorCode(e);
      if (code === 'EEXIST') {
        const existing = await stat(this.path).catch(() => undefined);
        if (existing?.isFile() && existing.size === 0) {
          await rename(partial, this.path);
          return;
        }
        await rm(partial, { force: true });
        throw existingArchiveError(this.reference.path);
      }
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') {
        // file systems without hard links: a plain rename (the existence check happened at open)
        await rename(partial, this.path);
        return;
      }
      await rm(partial, { force: true });
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.partialArchive) await rm(this.partialArchive, { force: true });
    await rm(this.stagingDir, { recursive: true, force: true });
  }
}

/** skopeo: "docker-archive doesn't support modifying existing images". */
export function existingArchiveError(path: string): DomainError {
  return new DomainError('STORAGE_CONFLICT', `docker-archive:${path} already exists: docker-archive doesn't support modifying existing images; remove it or choose another path`);
}
