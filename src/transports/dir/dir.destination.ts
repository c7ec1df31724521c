import { lstat, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { DomainError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import type { DirImageReference } from '../../image-spec/image-reference';
import { MANIFEST_MEDIA_TYPES, isSchema1MediaType } from '../../image-spec/media-types';
import type { BlobInfo, DestinationProbe, ImageDestination, MountSource } from '../transport';
import { refuseUnflushedDirectory, syncPublishedDirectory, type WriteTarget, writeBlobFile, writeFileAtomic } from '../../storage/atomic-write';
import { withFileLock, withPathMutex } from '../../storage/lease-lock';
import type { LocalStorage } from '../../storage/local-storage';
import { PendingWrites } from '../../storage/pending-writes';
import { StorageConflictError, fsErrorCode } from '../../storage/storage-errors';
import { entryLockName, tempName } from '../../storage/temp-names';
import { DIR_VERSION_CONTENT, dirBlobPath, dirManifestPath, dirVersionPath } from './dir-format';
import type { DirSource } from './dir.source';

/** Every manifest type but schema1, stored as it comes (containers/image's directory destination). */
const DIR_MANIFEST_TYPES: readonly string[] = MANIFEST_MEDIA_TYPES.filter((t) => !isSchema1MediaType(t));

/**
 * Whether `target` may be replaced by a dir: image, as containers/image decides: it does not
 * exist, is an empty directory, or is a directory holding a `version` file with exactly the
 * current version line (an earlier dir: image). Anything else is STORAGE_CONFLICT ("not a
 * containers image directory, don't want to overwrite important data").
 */
export async function checkReplaceable(target: string, name: string): Promise<'absent' | 'empty' | 'image'> {
  let st;
  try {
    st = await lstat(target);
  } catch (e) {
    if (fsErrorCode(e) === 'ENOENT') return 'absent';
    throw e;
  }
  if (!st.isDirectory()) throw new StorageConflictError(`${name}: the path exists and is not a directory`);
  if ((await readdir(target)).length === 0) return 'empty';
  const version = await readFile(dirVersionPath(target), 'utf8').catch(() => undefined);
  if (version !== DIR_VERSION_CONTENT) {
    throw new StorageConflictError(`${name}: the directory is not empty and not a dir: image (no matching "version" file); refusing to overwrite it`);
  }
  return 'image';
}

/**
 * ImageDestination into a `dir:` image. Layers are stored as they come (no recompression) and
 * every manifest type is accepted, as containers/image's directory destination does.
 *
 * Contract (stronger than skopeo's, which empties an existing directory first): everything is
 * written into a staging directory next to PATH (`.skiff-tmp-<owner>-…-NAME`); blobs go to a
 * temp file and are renamed to their hex name only after the verifying stream ended (a blob of
 * known size that cannot fit is refused first; out of space is INSUFFICIENT_STORAGE).
 * putManifest() without instanceDigest writes manifest.json last and then swaps the staging
 * directory into place (an earlier dir: image at PATH is moved aside and removed; an empty
 * directory is replaced), under an in-process mutex keyed by PATH and the lease lock
 * `.skiff-lock-NAME` beside it (other replicas sharing the storage root wait too). A copy that
 * fails or is cancelled leaves PATH untouched; close() waits for putBlob() calls still running,
 * then removes the staging directory. Once the new image is in place the commit resolves: a
 * directory that cannot be flushed after the swap is reported (syncPublishedDirectory), not a
 * failed copy.
 */
export class DirDestination implements ImageDestination {
  readonly layerCompression = 'preserve' as const;
  readonly acceptsIndexes = true;
  readonly hostKey = 'local:dir';
  readonly blobScope: string;
  private committed = false;
  /** putBlob() calls under way (close() waits for them). */
  private readonly writes = new PendingWrites();

  constructor(
    readonly reference: DirImageReference,
    private readonly target: string,
    private readonly staging: string,
    private readonly local: LocalStorage,
  ) {
    this.blobScope = `dir:${staging}`;
  }

  private writeTarget(what: string): WriteTarget {
    return this.local.storageTarget(`${this.name}: ${what}`);
  }

  private get name(): string {
    return `dir:${this.reference.path}`;
  }

  supportedManifestTypes(): readonly string[] {
    return DIR_MANIFEST_TYPES;
  }

  async tryReuseBlob(blob: BlobInfo, _opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | undefined> {
    try {
      const st = await stat(dirBlobPath(this.staging, blob.digest));
      return st.isFile() && st.size === blob.size ? 'present' : undefined;
    } catch {
      return undefined;
    }
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.writes.track(stream, () => this.writeBlob(stream, blob, opts));
  }

  private async writeBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    const target = this.writeTarget(`blob ${blob.known?.digest ?? '(recompressed layer)'}`);
    return writeBlobFile(stream, this.staging, blob, (file, digest) => rename(file, dirBlobPath(this.staging, digest)), target, { signal: opts.signal });
  }

  async putManifest(bytes: Buffer, _mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    if (opts.instanceDigest) {
      const digest = digestOf(bytes);
      if (digest !== opts.instanceDigest) throw new DomainError('DIGEST_MISMATCH', `instance manifest ${opts.instanceDigest}: the bytes hash to ${digest}`);
      await writeFileAtomic(dirManifestPath(this.staging, opts.instanceDigest), bytes, { target: this.writeTarget(`manifest ${opts.instanceDigest}`), onUnflushedDirectory: refuseUnflushedDirectory });
      return;
    }
    // Staged: its directory flush makes every name in the staging directory durable before the swap.
    await writeFileAtomic(dirManifestPath(this.staging), bytes, { target: this.writeTarget('manifest.json'), onUnflushedDirectory: refuseUnflushedDirectory });
    if (opts.signal?.aborted) throw new DomainError('ABORTED', 'the copy was cancelled');
    const lock = join(dirname(this.target), entryLockName(basename(this.target)));
    await this.local.storage.guard({ what: this.name, dir: dirname(this.target) }, () =>
      withPathMutex(`dir:${this.target}`, () => withFileLock(lock, this.local.owner, () => this.swapIntoPlace(), { signal: opts.signal, what: this.name })),
    );
    this.committed = true;
  }

  private async swapIntoPlace(): Promise<void> {
    const state = await checkReplaceable(this.target, this.name);
    if (state !== 'image') {
      // rename(2) replaces an empty directory; ENOTEMPTY/EEXIST means someone filled it meanwhile.
      try {
        await rename(this.staging, this.target);
        await syncPublishedDirectory(dirname(this.target));
        return;
      } catch (e) {
        const code = fsErrorCode(e);
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        await checkReplaceable(this.target, this.name);
      }
    }
    const aside = join(dirname(this.target), tempName(this.local.owner.id, `old-${basename(this.target)}`));
    await rename(this.target, aside);
    try {
      await rename(this.staging, this.target);
    } catch (e) {
      await rename(aside, this.target).catch(() => undefined);
      throw e;
    }
    await syncPublishedDirectory(dirname(this.target));
    // The new image is in place: failing to remove the old one leaves garbage, not a failed copy.
    await rm(aside, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (!(await this.writes.close())) return;
    if (!this.committed) await rm(this.staging, { recursive: true, force: true, maxRetries: 3 });
  }
}

/**
 * A look at dir:PATH that writes nothing: what a new copy would find there (a staged image
 * starts empty, so no blob is reused), and the digest of the image at PATH now, read through the
 * dir: source (confined to the storage root, size-limited; anything unreadable is no image).
 */
export class DirProbe implements DestinationProbe {
  readonly layerCompression = 'preserve' as const;
  readonly acceptsIndexes = true;

  constructor(
    readonly reference: DirImageReference,
    private readonly existing: DirSource,
  ) {}

  supportedManifestTypes(): readonly string[] {
    return DIR_MANIFEST_TYPES;
  }

  async tryReuseBlob(): Promise<undefined> {
    return undefined;
  }

  async currentManifestDigest(opts: { signal?: AbortSignal }): Promise<string | undefined> {
    try {
      return (await this.existing.getManifest({ signal: opts.signal })).digest;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.existing.close();
  }
}

/** The version file every dir: image starts with. */
export function writeDirVersion(staging: string, target: WriteTarget): Promise<void> {
  return writeFileAtomic(dirVersionPath(staging), DIR_VERSION_CONTENT, { target });
}
