import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { DomainError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import type { OciArchiveImageReference, OciImageReference } from '../../image-spec/image-reference';
import { guessManifestMediaType } from '../../image-spec/manifest';
import { MediaType } from '../../image-spec/media-types';
import type { BlobInfo, ImageDestination, MountSource } from '../transport';
import { refuseUnflushedDirectory, writeBlobFile, writeFileAtomic } from '../../storage/atomic-write';
import { sweepDirectory } from '../../storage/leftovers';
import { PendingWrites } from '../../storage/pending-writes';
import { withLayoutLock } from './layout-lock';
import { type IndexEntry, REF_NAME_ANNOTATION, addManifestToIndex, emptyOciIndex, selectIndexEntry } from './oci-index';
import { type LayoutIo, type OciLayout, addWriterMarker, foreignWriters } from './oci-layout';

/** Destinations open per layout in this process (a failed one only cleans up when it is alone). */
const openWriters = new Map<string, number>();

/** How many destinations of this process are writing into the layout at `dir` now. */
export function openWritersOn(dir: string): number {
  return openWriters.get(dir) ?? 0;
}

/**
 * Whether a writer other than `mine` of them (destinations of this process) is writing into the
 * layout: one of this process, or a live one of another process or replica (its writer marker).
 */
export async function othersWriting(layout: OciLayout, mine: number): Promise<boolean> {
  return openWritersOn(layout.dir) > mine || (await foreignWriters(layout)) > 0;
}

/**
 * ImageDestination into an OCI image layout, as containers/image's oci destination writes it:
 * OCI manifests and indexes only (Docker images are converted by the engine), layers gzip'd.
 *
 * Contract:
 * - open() removes what writers that are gone left in the layout (temp files, markers) and
 *   puts this destination's writer marker there.
 * - putBlob() streams into a temp file (`.skiff-tmp-<owner>-…`) in the layout directory and
 *   renames it to blobs/<alg>/<hex> only after the engine's verifying stream ended cleanly; a
 *   blob of known size that cannot fit in the volume's free space is refused first, and any
 *   out-of-space failure is INSUFFICIENT_STORAGE; concurrent putBlob() calls are fine (the same
 *   blob written twice is the same bytes).
 * - putManifest(instanceDigest) stores an instance manifest as a blob. putManifest() without
 *   it is the commit: the manifest blob is written, then, under the layout lock, every blob the
 *   image references is checked to be there (a concurrent delete may have collected one), and
 *   index.json — read afresh, so concurrent writers never lose each other's entries — gets the
 *   entry (skopeo's rules: the name moves to the new entry) and is replaced atomically.
 * - close() first waits for putBlob() calls still running (a failed copy may close while other
 *   transfers finish). Without a commit it then removes the blobs this destination created
 *   that nothing in index.json references, provided no other writer (of this process, or a
 *   live one of another process: its marker) writes into the same layout (their images may
 *   share those blobs), and a layout directory it created and left empty. Its marker goes last.
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
  private marker?: string;

  private constructor(
    readonly reference: OciImageReference | OciArchiveImageReference,
    private readonly layout: OciLayout,
    private readonly io: LayoutIo,
    private readonly opts: { createdDir: boolean; image?: string },
  ) {
    this.blobScope = `oci:${layout.dir}`;
    openWriters.set(layout.dir, openWritersOn(layout.dir) + 1);
  }

  /** A destination into `layout` (prepared for writing), after sweeping what gone writers left there. */
  static async open(reference: OciImageReference | OciArchiveImageReference, layout: OciLayout, opts: { createdDir: boolean; image?: string }): Promise<OciDestination> {
    const io = layout.io;
    if (!io) throw new Error(`${layout.name}: opened for reading only`);
    await sweepDirectory(layout.dir, io.owner).catch(() => undefined);
    const dest = new OciDestination(reference, layout, io, opts);
    try {
      dest.marker = await addWriterMarker(layout);
    } catch (e) {
      await dest.close();
      throw e;
    }
    return dest;
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
    // Its name reaches the disk with the directory fsync of the manifest written into the same
    // blobs directory after every layer (writeFileAtomic), before index.json can name either.
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.writes.track(stream, () => this.writeBlob(stream, blob, opts));
  }

  private async writeBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    const what = `${this.layout.name}: blob ${blob.known?.digest ?? '(recompressed layer)'}`;
    return writeBlobFile(stream, this.layout.dir, blob, (file, digest) => this.publish(file, digest), { owner: this.io.owner.id, volume: this.io.volume, what }, { signal: opts.signal });
  }

  async currentManifestDigest(_opts: { signal?: AbortSignal }): Promise<string | undefined> {
    if (!this.opts.image) return undefined;
    const index = await this.layout.readIndex().catch(() => undefined);
    if (!index) return undefined;
    const found = selectIndexEntry(index, { image: this.opts.image });
    return 'entry' in found ? found.entry.digest : undefined;
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    const what = `${this.layout.name}: manifest${opts.instanceDigest ? ` ${opts.instanceDigest}` : ''}`;
    await this.io.volume.guard({ what, dir: this.layout.dir, needed: bytes.length }, () => this.writeManifest(bytes, mediaType, opts));
  }

  private async writeManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
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
    // Its directory flush also makes the names of the layers renamed before it durable, which
    // index.json is about to rely on: a flush that fails fails the copy (refuseUnflushedDirectory).
    if (!existed) this.created.add(digest);
    await writeFileAtomic(target, bytes, {
      tempDir: this.layout.dir,
      target: { owner: this.io.owner.id, volume: this.io.volume, what: `${this.layout.name}: manifest ${digest}` },
      onUnflushedDirectory: refuseUnflushedDirectory,
    });
    if (opts.instanceDigest) return;

    const entry: IndexEntry = { mediaType: guessManifestMediaType(bytes) ?? mediaType, digest, size: bytes.length };
    if (this.opts.image) entry.annotations = { [REF_NAME_ANNOTATION]: this.opts.image };
    await withLayoutLock(
      this.layout.dir,
      this.io.owner,
      async () => {
        await this.layout.reachableBlobs([entry], { strict: true });
        const index = (await this.layout.readIndex()) ?? emptyOciIndex();
        await this.layout.writeIndex(addManifestToIndex(index, entry));
      },
      { signal: opts.signal, name: this.layout.name },
    );
    this.committed = true;
  }

  async close(): Promise<void> {
    if (!(await this.writes.close())) return;
    try {
      if (this.committed || this.created.size === 0) {
        await this.removeMarker();
        if (!this.committed && this.opts.createdDir) await this.layout.removeIfEmpty();
        return;
      }
      if (await othersWriting(this.layout, 1)) return;
      await withLayoutLock(
        this.layout.dir,
        this.io.owner,
        async () => {
          if (await othersWriting(this.layout, 1)) return;
          const index = await this.layout.readIndex();
          const referenced = index ? await this.layout.reachableBlobs(index.manifests, { strict: false }) : new Map<string, number>();
          await this.layout.removeBlobs([...this.created].filter((d) => !referenced.has(d)));
        },
        { name: this.layout.name },
      );
      await this.removeMarker();
      if (this.opts.createdDir) await this.layout.removeIfEmpty();
    } catch {
      // Best effort: a blob left behind is garbage, never a broken image (close must not mask the copy's own error).
    } finally {
      await this.removeMarker();
      const n = openWritersOn(this.layout.dir) - 1;
      if (n > 0) openWriters.set(this.layout.dir, n);
      else openWriters.delete(this.layout.dir);
    }
  }

  private async removeMarker(): Promise<void> {
    const marker = this.marker;
    this.marker = undefined;
    if (marker) await rm(marker, { force: true }).catch(() => undefined);
  }
}
