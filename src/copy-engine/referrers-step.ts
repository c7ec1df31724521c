import type { ProgressCounters } from './transfer-progress';

/**
 * The port through which a copy brings an image's referrers along (signatures, SBOMs,
 * attestations): after the image's manifests are written, the engine hands over the digests it
 * wrote unchanged (a referrer's `subject` must exist, with the same digest, at the
 * destination), and the step copies what refers to them. Implemented in src/referrers.
 */
export interface ReferrersStep {
  /**
   * Copies the referrers of `subjects` (and theirs, recursively). `progress` adds to the
   * copy's counters. Runs after the image's manifests are written; a failure fails the copy
   * (the image itself is in place then).
   */
  copy(subjects: readonly string[], run: { signal: AbortSignal; progress(delta: Partial<ProgressCounters>): void }): Promise<ReferrersReport>;
}

/** How a destination was told about the referrers of one subject. */
export type ReferrersRecordedBy =
  /** The registry indexes `subject` itself (it answers the referrers API and lists them). */
  | 'referrers-api'
  /** The fallback `<alg>-<hex>` tag index was brought up to date. */
  | 'tag-schema'
  /** An OCI layout: the referrers are entries of index.json. */
  | 'layout';

export interface CopiedReferrer {
  digest: string;
  mediaType: string;
  artifactType?: string;
  /** The manifest it refers to. */
  subject: string;
  /** Set for cosign-style digest tags (`sha256-<hex>.sig`): the tag written. */
  tag?: string;
  /** `copied`, or `present` when the destination already had it. */
  state: 'copied' | 'present';
}

export interface ReferrersReport {
  /** Every referrer brought along, breadth first from the image. */
  copied: CopiedReferrer[];
  /** Per subject that has referrers: how the destination records them. */
  recorded: { subject: string; by: ReferrersRecordedBy }[];
  /** Source manifests whose referrers could not follow, and why (their digest changed in the copy). */
  notCopied: { subject: string; reason: string }[];
}
