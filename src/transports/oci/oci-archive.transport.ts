import { constants as fsConstants } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomainError } from '../../errors/domain-error';
import { type ImageReference, type OciArchiveImageReference, expectTransport, formatImageReference } from '../../image-spec/image-reference';
import { InvalidReferenceError } from '../../image-spec/invalid-reference-error';
import type { LocalStorage } from '../../storage/local-storage';
import { LayoutInvalidError, StorageConflictError, fsErrorCode } from '../../storage/storage-errors';
import { resolveInStorageRoot } from '../../storage/storage-root';
import { ArchiveInvalidError, type ArchiveLimits, extractTar } from '../archive/tar-extract';
import { compressionOfHead, type LayerCompression } from '../docker-archive/docker-save-image';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { OciArchiveReader } from './oci-archive-reader';
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
 * Reading opens the file once and reads only from that handle (a writer renaming a new archive
 * over PATH does not disturb an open source): a plain tar is indexed and read in place
 * (OciArchiveReader: nothing written, the same refusals as extraction); a gzip-compressed one
 * is extracted with the hostile-input-safe extractor into a private staging directory (removed
 * when the source closes, or at once when opening fails) and read as a layout; a zstd, bzip2 or
 * xz-compressed one is ARCHIVE_INVALID saying so (not read). Writing builds a layout in a
 * private staging directory and tars it onto PATH at commit. Out of space in either is
 * INSUFFICIENT_STORAGE naming the volume. No delete (skopeo has none).
 */
export class OciArchiveTransport implements ImageTransport {
  readonly name = 'oci-archive' as const;

  constructor(private readonly opts: OciArchiveTransportOptions) {}

  private get local(): LocalStorage {
    return this.opts.local;
  }

  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const archive = expectTransport(ref, 'oci-archive');
    const display = `oci-archive:${archive.path}`;
    const { fh, size } = await openArchiveFile(await resolveInStorageRoot(this.local.storageRoot, archive.path), display);
    let compression: LayerCompression;
    try {
      compression = await compressionOfArchive(fh);
    } catch (e) {
      await fh.close();
      throw e;
    }
    if (compression === 'gzip') {
      try {
        return await this.openExtracted(archive, fh, size, ctx);
      } finally {
        await fh.close();
      }
    }
    // zstd, bzip2 and xz are not read; their magic may also start a plain tar (a first entry
    // named "BZh…"), so a tar that indexes is read whatever its first bytes.
    const reader = await OciArchiveReader.open(fh, { name: display, limits: this.opts.limits, signal: ctx.signal }).catch((e: unknown) => {
      if (compression === 'none' || !(e instanceof ArchiveInvalidError)) throw e;
      throw new ArchiveInvalidError(`${display} is ${compression}-compressed; skiff reads oci-archive files plain or gzip-compressed`, { cause: e });
    });
    try {
      const index = await reader.readIndex();
      if (!index) throw new LayoutInvalidError(`${display} is not an OCI archive (it has no index.json)`);
      const { entry } = selectOrThrow(index, archive, reader, formatImageReference(archive));
      return new OciSource(archive, reader, entry, () => reader.close());
    } catch (e) {
      await reader.close();
      throw e;
    }
  }

  /**
   * A compressed archive cannot be read by offset: it is extracted (from the open handle) into a
   * private staging directory, removed when the source closes, or at once when opening fails.
   */
  private async openExtracted(archive: OciArchiveImageReference, fh: FileHandle, size: number, ctx: TransportContext): Promise<ImageSource> {
    const what = `oci-archive:${archive.path}: extracting the archive`;
    const dir = await this.local.makeStagingDir('oci-archive-src', what);
    const input = fh.createReadStream({ start: 0, autoClose: false });
    try {
      // the extracted tree takes more than the compressed file
      await this.local.staging.ensureRoom({ what, dir, needed: size });
      await this.local.staging.guard({ what, dir }, () => extractTar(input, dir, { limits: this.opts.limits, signal: ctx.signal }));
      const layout = new OciLayout(dir, dir, `oci-archive:${archive.path}`);
      const index = await layout.readIndex();
      if (!index) throw new LayoutInvalidError(`oci-archive:${archive.path} is not an OCI archive (it has no index.json)`);
      const { entry } = selectOrThrow(index, archive, layout, formatImageReference(archive));
      return new OciSource(archive, layout, entry, () => removeTree(dir));
    } catch (e) {
      await removeTree(dir);
      throw e;
    } finally {
      input.destroy();
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

/**
 * Opens the archive for reading (non-blocking, so a FIFO planted there cannot hang the open) and
 * checks it is a regular file; a missing path or another kind of file is IMAGE_NOT_FOUND.
 */
async function openArchiveFile(file: string, display: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    if (fsErrorCode(e) === 'ENOENT' || fsErrorCode(e) === 'ENOTDIR') throw new DomainError('IMAGE_NOT_FOUND', `${display}: no such archive`);
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new DomainError('IMAGE_NOT_FOUND', `${display} is not a file`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The archive's compression, from its first bytes (compressionOfHead). */
async function compressionOfArchive(fh: FileHandle): Promise<LayerCompression> {
  const head = Buffer.alloc(6);
  const { bytesRead } = await fh.read(head, 0, head.length, 0);
  return compressionOfHead(head.subarray(0, bytesRead));
}
