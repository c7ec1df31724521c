import { open } from 'node:fs/promises';
import { DomainError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import type { DirImageReference } from '../../image-spec/image-reference';
import { guessManifestMediaType, MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import type { BlobReadOptions, BlobStream, ImageSource, ManifestBlob } from '../transport';
import { LayoutInvalidError, fsErrorCode } from '../../storage/storage-errors';
import { confinedPath, readSmallFile } from '../../storage/verified-read';
import { dirBlobPath, dirManifestPath } from './dir-format';

function missing(e: unknown): boolean {
  const code = fsErrorCode(e);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/**
 * ImageSource over a `dir:` image. The top-level manifest is manifest.json (its media type
 * guessed from the content, as containers/image does; its digest is the digest of its bytes);
 * instances are `<hex>.manifest.json`, verified against the digest asked for. Every read is
 * limited and confined to the storage root; missing content is LAYOUT_INVALID.
 */
export class DirSource implements ImageSource {
  readonly dockerReference = undefined;

  constructor(
    readonly reference: DirImageReference,
    private readonly dir: string,
    private readonly root: string,
  ) {}

  private get name(): string {
    return `dir:${this.reference.path}`;
  }

  async getManifest(opts: { instanceDigest?: string; signal?: AbortSignal } = {}): Promise<ManifestBlob> {
    const digest = opts.instanceDigest;
    const what = digest ? `${this.name}: manifest ${digest}` : `${this.name}: manifest.json`;
    let bytes: Buffer;
    try {
      const path = await confinedPath(this.root, dirManifestPath(this.dir, digest));
      bytes = await readSmallFile(path, { limit: MANIFEST_SIZE_LIMIT, what, ...(digest ? { expected: { digest, size: -1 } } : {}) });
    } catch (e) {
      if (!missing(e)) throw e;
      if (digest) throw new LayoutInvalidError(`${what} is missing from the directory`, { cause: e });
      throw new DomainError('IMAGE_NOT_FOUND', `${this.name}: no image there (manifest.json does not exist)`);
    }
    const mediaType = guessManifestMediaType(bytes);
    if (!mediaType) throw new LayoutInvalidError(`${what} is not a recognisable manifest`);
    return { bytes, mediaType, digest: digest ?? digestOf(bytes) };
  }

  async getBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions = {}): Promise<BlobStream> {
    const what = `${this.name}: blob ${descriptor.digest}`;
    let fh;
    try {
      fh = await open(await confinedPath(this.root, dirBlobPath(this.dir, descriptor.digest)), 'r');
    } catch (e) {
      if (missing(e)) throw new LayoutInvalidError(`${what} is missing from the directory`, { cause: e });
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new LayoutInvalidError(`${what} is not a regular file`);
      if (descriptor.size >= 0 && st.size !== descriptor.size) throw new LayoutInvalidError(`${what} has ${st.size} bytes, its descriptor says ${descriptor.size}`);
      return { stream: fh.createReadStream({ signal: opts.signal }), size: st.size };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async readBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions & { limit?: number } = {}): Promise<Buffer> {
    const what = `${this.name}: blob ${descriptor.digest}`;
    try {
      const path = await confinedPath(this.root, dirBlobPath(this.dir, descriptor.digest));
      return await readSmallFile(path, { limit: opts.limit ?? MANIFEST_SIZE_LIMIT, what, expected: descriptor });
    } catch (e) {
      if (missing(e)) throw new LayoutInvalidError(`${what} is missing from the directory`, { cause: e });
      throw e;
    }
  }

  async close(): Promise<void> {
    // nothing held open
  }
}
