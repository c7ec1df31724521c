import type { OciArchiveImageReference, OciImageReference } from '../../image-spec/image-reference';
import { guessManifestMediaType, parseManifest, MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import { isIndexMediaType } from '../../image-spec/media-types';
import type { BlobReadOptions, BlobStream, ImageSource, ManifestBlob } from '../transport';
import type { IndexEntry } from './oci-index';
import type { OciLayoutReader } from './oci-layout-reader';
import { LayoutInvalidError } from '../../storage/storage-errors';

/**
 * ImageSource over one entry of an OCI layout's index.json, the layout read through an
 * OciLayoutReader (a directory, or an oci-archive read in place). Every manifest is read with a
 * limit and verified against its digest (and, where a descriptor gives it, its size): the
 * top-level one against its index.json entry, instances against the digest asked for. Blob
 * streams are not verified here (the engine does), but a blob file whose size differs from
 * its descriptor is refused before streaming. Missing content is LAYOUT_INVALID.
 * `onClose` runs at close (the oci-archive source closes its archive, or removes the layout it
 * extracted, there).
 */
export class OciSource implements ImageSource {
  readonly dockerReference = undefined;
  private top?: Promise<ManifestBlob>;
  /** Media types of the instances the top-level index names. */
  private instanceTypes = new Map<string, { mediaType: string; size: number }>();

  constructor(
    readonly reference: OciImageReference | OciArchiveImageReference,
    private readonly layout: OciLayoutReader,
    private readonly entry: IndexEntry,
    private readonly onClose?: () => Promise<void>,
  ) {}

  private async readTop(): Promise<ManifestBlob> {
    const { digest, size } = this.entry;
    const bytes = await this.layout.readVerifiedBlob(digest, size, `${this.layout.name}: manifest ${digest} (from index.json)`);
    const mediaType = this.entry.mediaType || guessManifestMediaType(bytes);
    if (!mediaType) throw new LayoutInvalidError(`${this.layout.name}: manifest ${digest} has no media type in index.json and is not a recognisable manifest`);
    if (isIndexMediaType(mediaType)) {
      try {
        const parsed = parseManifest(bytes, mediaType);
        if (parsed.kind === 'index') for (const m of parsed.manifests) this.instanceTypes.set(m.digest, { mediaType: m.mediaType, size: m.size });
      } catch {
        // the caller parses it again and reports the problem
      }
    }
    return { bytes, mediaType, digest };
  }

  async getManifest(opts: { instanceDigest?: string; signal?: AbortSignal } = {}): Promise<ManifestBlob> {
    if (!this.top) {
      this.top = this.readTop();
      this.top.catch(() => {
        this.top = undefined;
      });
    }
    const top = await this.top;
    if (!opts.instanceDigest) return top;
    const digest = opts.instanceDigest;
    const known = this.instanceTypes.get(digest);
    const bytes = await this.layout.readVerifiedBlob(digest, known?.size ?? -1, `${this.layout.name}: manifest ${digest}`);
    const mediaType = known?.mediaType || guessManifestMediaType(bytes);
    if (!mediaType) throw new LayoutInvalidError(`${this.layout.name}: manifest ${digest} is not a recognisable manifest`);
    return { bytes, mediaType, digest };
  }

  async getBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions = {}): Promise<BlobStream> {
    return this.layout.openBlob(descriptor, `${this.layout.name}: blob ${descriptor.digest}`, opts.signal);
  }

  async readBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions & { limit?: number } = {}): Promise<Buffer> {
    return this.layout.readVerifiedBlob(descriptor.digest, descriptor.size, `${this.layout.name}: blob ${descriptor.digest}`, opts.limit ?? MANIFEST_SIZE_LIMIT);
  }

  async close(): Promise<void> {
    await this.onClose?.();
  }
}
