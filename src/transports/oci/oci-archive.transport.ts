import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DomainError } from '../../errors/domain-error';
import { type ImageReference, expectTransport, formatImageReference } from '../../image-spec/image-reference';
import { InvalidReferenceError } from '../../image-spec/invalid-reference-error';
import { resolveInStorageRoot } from '../../storage/storage-root';
import { type ArchiveLimits, extractTar } from '../archive/tar-extract';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { OciArchiveDestination } from './oci-archive.destination';
import { OciLayout, removeTree } from './oci-layout';
import { OciDestination } from './oci.destination';
import { OciSource } from './oci.source';
import { prepareLayoutForWriting, selectOrThrow } from './oci.transport';
import { LayoutInvalidError, StorageConflictError, fsErrorCode } from '../../storage/storage-errors';

export interface OciArchiveTransportOptions {
  storageRoot: string;
  /** Where archives are extracted and new ones staged (under the data directory). */
  tempDir: string;
  limits?: ArchiveLimits;
}

/**
 * The `oci-archive:PATH[:NAME]` transport: an OCI layout as a tar file under the storage root.
 * Reading extracts the archive with the hostile-input-safe extractor into a private temp
 * directory (removed when the source closes) and reads it as a layout; writing builds a layout
 * in a private temp directory and tars it onto PATH at commit. No delete (skopeo has none).
 */
export class OciArchiveTransport implements ImageTransport {
  readonly name = 'oci-archive' as const;

  constructor(private readonly opts: OciArchiveTransportOptions) {}


  private async tempLayoutDir(): Promise<string> {
    await mkdir(this.opts.tempDir, { recursive: true });
    return realpath(await mkdtemp(join(this.opts.tempDir, 'oci-archive-')));
  }

  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const archive = expectTransport(ref, 'oci-archive');
    const name = formatImageReference(archive);
    const file = await resolveInStorageRoot(this.opts.storageRoot, archive.path);
    try {
      if (!(await stat(file)).isFile()) throw new DomainError('IMAGE_NOT_FOUND', `oci-archive:${archive.path} is not a file`);
    } catch (e) {
      if (fsErrorCode(e) === 'ENOENT' || fsErrorCode(e) === 'ENOTDIR') throw new DomainError('IMAGE_NOT_FOUND', `oci-archive:${archive.path}: no such archive`);
      throw e;
    }
    const dir = await this.tempLayoutDir();
    try {
      await extractTar(createReadStream(file), dir, { limits: this.opts.limits, signal: ctx.signal });
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
    const file = await resolveInStorageRoot(this.opts.storageRoot, archive.path);
    try {
      if ((await stat(file)).isDirectory()) throw new StorageConflictError(`oci-archive:${archive.path} is a directory, not an archive file`);
    } catch (e) {
      if (fsErrorCode(e) !== 'ENOENT') throw e;
    }
    await mkdir(dirname(file), { recursive: true });
    const dir = await this.tempLayoutDir();
    try {
      const layout = new OciLayout(dir, dir, `oci-archive:${archive.path}`);
      await prepareLayoutForWriting(layout);
      const inner = new OciDestination(archive, layout, { createdDir: false, image: archive.image });
      return new OciArchiveDestination(archive, inner, file, dir);
    } catch (e) {
      await removeTree(dir);
      throw e;
    }
  }
}
