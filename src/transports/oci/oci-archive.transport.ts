import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomainError } from '../../errors/domain-error';
import { type ImageReference, expectTransport, formatImageReference } from '../../image-spec/image-reference';
import { InvalidReferenceError } from '../../image-spec/invalid-reference-error';
import type { LocalStorage } from '../../storage/local-storage';
import { LayoutInvalidError, StorageConflictError, fsErrorCode } from '../../storage/storage-errors';
import { resolveInStorageRoot } from '../../storage/storage-root';
import { type ArchiveLimits, extractTar } from '../archive/tar-extract';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { OciArchiveDestination } from './oci-archive.destination';
import { OciLayout, removeTree } from './oci-layout';
import { OciDestination } from './oci.destination';
import { OciSource } from './oci.source';
import { prepareLayoutForWriting, selectOrThrow } from './oci.transport';

export interface OciArchiveTransportOptions {
  /** The storage root (archives) and the staging area (where archives are extracted and new ones staged). */
  local: LocalStorage;
  limits?: ArchiveLimits;
}

/**
 * The `oci-archive:PATH[:NAME]` transport: an OCI layout as a tar file under the storage root.
 * Reading extracts the archive with the hostile-input-safe extractor into a private staging
 * directory (removed when the source closes, or at once when opening fails) and reads it as a
 * layout; writing builds a layout in a private staging directory and tars it onto PATH at
 * commit. Out of space in either is INSUFFICIENT_STORAGE naming the volume. No delete (skopeo
 * has none).
 */
export class OciArchiveTransport implements ImageTransport {
  readonly name = 'oci-archive' as const;

  constructor(private readonly opts: OciArchiveTransportOptions) {}

  private get local(): LocalStorage {
    return this.opts.local;
  }

  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const archive = expectTransport(ref, 'oci-archive');
    const name = formatImageReference(archive);
    const file = await resolveInStorageRoot(this.local.storageRoot, archive.path);
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new DomainError('IMAGE_NOT_FOUND', `oci-archive:${archive.path} is not a file`);
      size = st.size;
    } catch (e) {
      if (fsErrorCode(e) === 'ENOENT' || fsErrorCode(e) === 'ENOTDIR') throw new DomainError('IMAGE_NOT_FOUND', `oci-archive:${archive.path}: no such archive`);
      throw e;
    }
    const what = `oci-archive:${archive.path}: extracting the archive`;
    const dir = await this.local.makeStagingDir('oci-archive-src', what);
    try {
      // the extracted tree takes at least as much as a plain tar (a gzip'd one more)
      await this.local.staging.ensureRoom({ what, dir, needed: size });
      await this.local.staging.guard({ what, dir }, () => extractTar(createReadStream(file), dir, { limits: this.opts.limits, signal: ctx.signal }));
      const layout = new OciLayout(dir, dir, `oci-archive:${archive.path}`);
      const index = await layout.readIndex();
      if (!index) throw new LayoutInvalidError(`oci-archive:${archive.path} is not an OCI archive (it has no index.json)`);
      const { entry } = selectOrThrow(index, archive, layout, name);
      return new OciSource(archive, layout, entry, () => removeTree(dir));
    } catch (e) {
      await removeTree(dir);
      throw e;
    }
  }

  async openDestination(ref: ImageReference, _ctx: TransportContext): Promise<ImageDestination> {
    const archive = expectTransport(ref, 'oci-archive');
    if (archive.sourceIndex !== undefined) {
      throw new InvalidReferenceError({ subject: 'image name', input: formatImageReference(archive), reason: 'an @INDEX reference can only be read from, not written to' });
    }
    const file = await resolveInStorageRoot(this.local.storageRoot, archive.path);
    try {
      if ((await stat(file)).isDirectory()) throw new StorageConflictError(`oci-archive:${archive.path} is a directory, not an archive file`);
    } catch (e) {
      if (fsErrorCode(e) !== 'ENOENT') throw e;
    }
    const name = `oci-archive:${archive.path}`;
    await this.local.storage.guard({ what: name, dir: this.local.storageRoot }, () => mkdir(dirname(file), { recursive: true }));
    await this.local.sweepDirectory(dirname(file));
    const dir = await this.local.makeStagingDir('oci-archive-dst', name);
    try {
      const layout = new OciLayout(dir, dir, name, { owner: this.local.owner, volume: this.local.staging });
      await prepareLayoutForWriting(layout);
      const inner = await OciDestination.open(archive, layout, { createdDir: false, image: archive.image });
      return new OciArchiveDestination(archive, inner, { archivePath: file, layoutDir: dir, local: this.local });
    } catch (e) {
      await removeTree(dir);
      throw e;
    }
  }
}
