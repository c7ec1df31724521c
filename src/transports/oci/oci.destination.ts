import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { DomainError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import type { OciArchiveImageReference, OciImageReference } from '../../image-spec/image-reference';
import { guessManifestMediaType } from '../../image-spec/manifest';
import { MediaType } from '../../image-spec/media-types';
import type { BlobInfo, ImageDestination, MountSource } from '../transport';
import { writeBlobFile, writeFileAtomic } from '../../storage/atomic-write';
import { PendingWrites } from '../../storage/pending-writes';
import { withLayoutLock } from './layout-lock';
import { type IndexEntry, REF_NAME_ANNOTATION, addManifestToIndex, emptyOciIndex, selectIndexEntry } from './oci-index';
import type { OciLayout } from './oci-layout';

/** Destinations open per layout in this process (a failed one only cleans up when it is alone). */
const openWriters = new Map<string, number>();

/** How many destinations of this process are writing into the layout at `dir` now. */
export function openWritersOn(dir: string): number {
  return openWriters.get(dir) ?? 0;
}

/**
 * ImageDestination into an OCI image layout, as containers/image's oci destination writes it:
 * OCI manifests and indexes only (Docker images are converted by the engine), layers gzip'd.
 *
 * Contract:
 * - putBlob() streams into a hidden temp file in the layout directory and renames it to
 *   blobs/<alg>/<hex> only after the engine's verifying stream ended cleanly; concurrent
 *   putBlob() calls are fine (the same blob written twice is the same bytes).
 * - putManifest(instanceDigest) stores an instance manifest as a blob. putManifest() without
 *   it is the commit: the manifest blob is written, then, under the layout lock, every blob the
 *   image references is checked to be there (a concurrent delete may have collected one), and
 *   index.json — read afresh, so concurrent writers never lose each other's entries — gets the
 *   entry (skopeo's rules: the name moves to the new entry) and is replaced atomically.
 * - close() first waits for putBlob() calls still running (a failed copy may close while other
 *   transfers finish). Without a commit it then removes the blobs this destination created
 *   that nothing in index.json references, provided no other destination of this process
 *   writes into the same layout (their images may share those blobs), and a layout directory
 *   it created and left empty.
 */
export class OciDestination implements ImageDestination {
  readonly layerCompression = 'compress' as const;
  readonly acceptsIndexes = true;
  readonly hostKey = 'local:oci';
  readonly blobScope: string;
  private readonly created = new Set<string>();
  private committed = false;
  /** putBlob() calls under way (close() waits for them). */
  private readonly writes = new PendingWrites();

  constructor(
    readonly reference: OciImageReference | OciArchiveImageReference,
    private readonly layout: OciLayout,
    private readonly opts: { createdDir: boolean; image?: string },
  ) {
    this.blobScope = `oci:${layout.dir}`;
    openWriters.set(layout.dir, openWritersOn(layout.dir) + 1);
  }

  supportedManifestTypes(): readonly string[] {
    return [MediaType.ociManifest, MediaType.ociIndex];
  }

  async tryReuseBlob(blob: BlobInfo, _opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | undefined> {
    return (await this.layout.blobSize(blob.digest)) === blob.size ? 'present' : undefined;
  }

  private async publish(tempFile: string, digest: string): Promise<void> {
    const target = await this.layout.blobWritePath(digest);
    await mkdir(dirname(target), { recursive: true });
    const existed = (await this.layout.blobSize(digest)) !== undefined;
    await rename(tempFile, target);
    if (!existed) this.created.add(digest);
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.writes.track(stream, () => this.writeBlob(stream, blob, opts));
  }

  private async writeBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return writeBlobFile(stream, this.layout.dir, blob, (file, digest) => this.publish(file, digest), { signal: opts.signal });
  }

  async currentManifestDigest(_opts: { signal?: AbortSignal }): Promise<string | undefined> {
    if (!this.opts.image) return undefined;
    const index = await this.layout.readIndex().catch(() => undefined);
    if (!index) return undefined;
    const found = selectIndexEntry(index, { image: this.opts.image });
    return 'entry' in found ? found.entry.digest : undefined;
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    if (!this.supportedManifestTypes().includes(mediaType)) {
      throw new DomainError('OPERATION_NOT_SUPPORTED', `an OCI layout stores OCI manifests and indexes only, not ${mediaType}`);
    }
    const digest = digestOf(bytes);
    if (opts.instanceDigest && opts.instanceDigest !== digest) {
      throw new DomainError('DIGEST_MISMATCH', `instance manifest ${opts.instanceDigest}: the bytes hash to ${digest}`);
    }
    const target = await this.layout.blobWritePath(digest);
    await mkdir(dirname(target), { recursive: true });
    const existed = (await this.layout.blobSize(digest)) !== undefined;
    await writeFileAtomic(target, bytes, { tempDir: this.layout.dir });
    if (!existed) this.created.add(digest);
    if (opts.instanceDigest) return;

    const entry: IndexEntry = { mediaType: guessManifestMediaType(bytes) ?? mediaType, digest, size: bytes.length };
    if (this.opts.image) entry.annotations = { [REF_NAME_ANNOTATION]: this.opts.image };
    await withLayoutLock(
      this.layout.dir,
      async () => {
        await this.layout.reachableBlobs([entry], { strict: true });
        const index = (await this.layout.readIndex()) ?? emptyOciIndex();
        await this.layout.writeIndex(addManifestToIndex(index, entry));
      },
      { signal: opts.signal },
    );
    this.committed = true;
  }

  async close(): Promise<void> {
    if (!(await this.writes.close())) return;
    try {
      if (this.committed || this.created.size === 0) {
        if (!this.committed && this.opts.createdDir) await this.layout.removeIfEmpty();
        return;
      }
      if (openWritersOn(this.layout.dir) > 1) return;
      await withLayoutLock(this.layout.dir, async () => {
        const index = await this.layout.readIndex();
        const referenced = index ? await this.layout.reachableBlobs(index.manifests, { strict: false }) : new Map<string, number>();
        await this.layout.removeBlobs([...this.created].filter((d) => !referenced.has(d)));
      });
      if (this.opts.createdDir) await this.layout.removeIfEmpty();
    } catch {
      // Best effort: a blob left behind is garbage, never a broken image (close must not mask the copy's own error).
    } finally {
      const n = openWritersOn(this.layout.dir) - 1;
      if (n > 0) openWriters.set(this.layout.dir, n);
      else openWriters.delete(this.layout.dir);
    }
  }
}
