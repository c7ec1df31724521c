import type { ReferrersRecordedBy } from '../copy-engine/referrers-step';
import { DomainError } from '../errors/domain-error';
import type { ImageReference, OciImageReference } from '../image-spec/image-reference';
import { MANIFEST_SIZE_LIMIT, guessManifestMediaType, parseManifest } from '../image-spec/manifest';
import { MediaType } from '../image-spec/media-types';
import { COSIGN_TAG_SUFFIXES, type ReferrerDescriptor, cosignTag, referrerDescriptor } from '../image-spec/referrers';
import { resolveInStorageRoot } from '../storage/storage-root';
import { type IndexEntry, refNameOf } from '../transports/oci/oci-index';
import { OciLayout } from '../transports/oci/oci-layout';
import type { DigestTagReferrer, ReferrerTarget, ReferrersDestination, ReferrersListing, ReferrersSource } from './referrers-access';

/** index.json entries looked at for one listing (each is one small verified file read). */
const MAX_ENTRIES_SCANNED = 10_000;
/** Manifest bytes one listing reads at most; a layout needing more is refused, not scanned. */
const MAX_BYTES_SCANNED = 64 * 1024 * 1024;

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerV2S2, MediaType.dockerManifestList]);

/**
 * Referrers in an OCI image layout, as oras and skopeo keep them there: manifests listed in
 * index.json (unnamed) whose `subject` is the digest; cosign digest tags as ref names
 * (`sha256-<hex>.sig`). Listing reads every manifest index.json names (verified, 4 MiB each,
 * at most MAX_ENTRIES_SCANNED); an entry that cannot be read is not a referrer, never an error.
 * Written referrers need no recording: being in index.json is how a layout holds them.
 */
export class LayoutReferrers implements ReferrersSource, ReferrersDestination {
  private constructor(
    private readonly path: string,
    private readonly layout: OciLayout,
  ) {}

  static async open(storageRoot: string, path: string): Promise<LayoutReferrers> {
    const dir = await resolveInStorageRoot(storageRoot, path);
    return new LayoutReferrers(path, new OciLayout(dir, storageRoot, `oci:${path}`));
  }

  private async entries(): Promise<IndexEntry[]> {
    const index = await this.layout.readIndex();
    return (index?.manifests ?? []).slice(0, MAX_ENTRIES_SCANNED);
  }

  private async describe(entry: IndexEntry): Promise<{ descriptor: ReferrerDescriptor; subject?: string } | undefined> {
    if ((entry.mediaType && !MANIFEST_TYPES.has(entry.mediaType)) || entry.size > MANIFEST_SIZE_LIMIT) return undefined;
    try {
      const bytes = await this.layout.readVerifiedBlob(entry.digest, entry.size, `${this.layout.name}: manifest ${entry.digest}`);
      const mediaType = entry.mediaType || guessManifestMediaType(bytes);
      if (!mediaType) return undefined;
      const parsed = parseManifest(bytes, mediaType);
      const subject = parsed.kind !== 'schema1' ? parsed.subject?.digest : undefined;
      return { descriptor: referrerDescriptor({ bytes, mediaType, digest: entry.digest }, parsed), ...(subject ? { subject } : {}) };
    } catch {
      return undefined;
    }
  }

  async list(subject: string): Promise<ReferrersListing> {
    const entries = await this.entries();
    const bytes = entries.reduce((n, e) => n + (e.size <= MANIFEST_SIZE_LIMIT ? e.size : 0), 0);
    if (bytes > MAX_BYTES_SCANNED) {
      throw new DomainError('BODY_TOO_LARGE', `${this.layout.name}: its index.json names ${bytes} bytes of manifests; referrers are looked for in at most ${MAX_BYTES_SCANNED}`);
    }
    const referrers: ReferrerDescriptor[] = [];
    const digestTags: DigestTagReferrer[] = [];
    const tags = new Map<string, string>(COSIGN_TAG_SUFFIXES.map((s) => [cosignTag(subject, s), s]));
    const seen = new Set<string>();
    for (const entry of entries) {
      const name = refNameOf(entry);
      const isTag = name !== undefined && tags.has(name);
      if (name !== undefined && !isTag) continue;
      const described = await this.describe(entry);
      if (!described) continue;
      if (isTag) digestTags.push({ tag: name!, descriptor: described.descriptor });
      else if (described.subject === subject && !seen.has(entry.digest)) {
        seen.add(entry.digest);
        referrers.push(described.descriptor);
      }
    }
    return { referrers, foundBy: 'layout', digestTags };
  }

  /**
   * Read side: the index.json position of the digest (`oci:PATH:@N`) or the ref name. Write
   * side uses the same names: a digest is written unnamed (`oci:PATH`), a tag as a ref name.
   */
  async referenceOf(target: ReferrerTarget): Promise<ImageReference> {
    if ('tag' in target) return { transport: 'oci', path: this.path, image: target.tag } satisfies OciImageReference;
    return { transport: 'oci', path: this.path } satisfies OciImageReference;
  }

  /** The reference that reads the manifest with `digest` out of the layout (`oci:PATH:@N`). */
  async sourceReferenceOf(target: ReferrerTarget): Promise<ImageReference> {
    if ('tag' in target) return this.referenceOf(target);
    const position = (await this.layout.readIndex())?.manifests.findIndex((m) => m.digest === target.digest) ?? -1;
    if (position < 0) throw new DomainError('IMAGE_NOT_FOUND', `${this.layout.name}: no index.json entry for ${target.digest}`);
    return { transport: 'oci', path: this.path, sourceIndex: position } satisfies OciImageReference;
  }

  async record(): Promise<ReferrersRecordedBy> {
    return 'layout';
  }
}

/** A layout as a source of referrers: digests are read through their index.json position. */
export class LayoutReferrersSource implements ReferrersSource {
  constructor(private readonly layout: LayoutReferrers) {}

  list(subject: string): Promise<ReferrersListing> {
    return this.layout.list(subject);
  }

  referenceOf(target: ReferrerTarget): Promise<ImageReference> {
    return this.layout.sourceReferenceOf(target);
  }
}
