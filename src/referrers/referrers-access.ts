import type { ReferrersRecordedBy } from '../copy-engine/referrers-step';
import type { ImageReference } from '../image-spec/image-reference';
import type { ReferrerDescriptor } from '../image-spec/referrers';

/**
 * Where referrers live, seen by the referrers copier and the listing endpoint: a registry
 * repository (the referrers API, else the fallback tag schema; cosign digest tags) or an OCI
 * layout (index.json entries whose manifest has a `subject`; ref names for digest tags).
 */

/** A cosign-style digest tag of a subject (`sha256-<hex>.sig`) and the manifest it holds. */
export interface DigestTagReferrer {
  tag: string;
  descriptor: ReferrerDescriptor;
}

/** How referrers were found. */
export type ReferrersFoundBy = 'referrers-api' | 'tag-schema' | 'layout';

export interface ReferrersListing {
  /** Manifests whose `subject` is the digest (unfiltered: callers filter by artifact type). */
  referrers: ReferrerDescriptor[];
  foundBy: ReferrersFoundBy;
  /** cosign-style digest tags of the subject that exist. */
  digestTags: DigestTagReferrer[];
}

/** What a referrer manifest is addressed by: its digest, or (a digest tag) its tag. */
export type ReferrerTarget = { digest: string } | { tag: string };

/** The side referrers are read from. */
export interface ReferrersSource {
  /** The referrers of `subject`. `artifactType` may be passed on to a registry that filters. */
  list(subject: string, opts: { artifactType?: string; signal?: AbortSignal }): Promise<ReferrersListing>;
  /** The reference a referrer is read through (a transport reference in the same repository or layout). */
  referenceOf(target: ReferrerTarget): Promise<ImageReference>;
}

/** The side referrers are written to. */
export interface ReferrersDestination {
  /** The registry host written to (undefined for a layout): tells its errors from the source's. */
  readonly registry?: string;
  /** The reference a referrer is written through. */
  referenceOf(target: ReferrerTarget): Promise<ImageReference>;
  /**
   * Makes referrers written (by digest) findable as referrers of `subject`: nothing for a
   * registry that indexes subjects itself or a layout; the fallback tag index otherwise.
   */
  record(subject: string, referrers: readonly ReferrerDescriptor[], signal: AbortSignal): Promise<ReferrersRecordedBy>;
}
