import { DomainError } from '../errors/domain-error';
import type { PlatformChoice } from '../image-spec/manifest';
import type { ManifestFormat } from '../image-spec/manifest-conversion';
import type { KnownBlobs } from './known-blobs';
import type { CompressionChoice } from './recompress';
import type { ReferrersStep } from './referrers-step';

/**
 * What a copy is asked to do, and the combinations the engine refuses. The rules here are the
 * only statement of them: the use cases check a request with them before it is queued, and the
 * engine checks again when it runs.
 */
export type MultiArch = 'system' | 'all' | 'index-only' | 'filtered' | 'sparse';

export interface CopyOptions {
  /**
   * skopeo's `system`, `all`, `index-only`, plus platform subsets of an index (`platforms`):
   * `filtered` writes a new index holding only those instances (a new digest); `sparse` copies
   * only those instances and writes the source index unchanged (its digest kept), which a
   * destination may refuse. A single-image source is copied as it is in every mode.
   */
  multiArch?: MultiArch;
  platform?: PlatformChoice;
  /** With multiArch `filtered` / `sparse`: the platforms to keep (each chooses as skopeo's --override-* would). */
  platforms?: readonly PlatformChoice[];
  /** Bring the referrers of every manifest written unchanged along (see ReferrersStep). */
  referrers?: ReferrersStep;
  /**
   * Called once before the source's content is first read, after a HEAD-only up-to-date check
   * found something to copy (a sync waits here for a registry's rate-limit window).
   */
  beforePull?: (signal: AbortSignal | undefined) => Promise<void>;
  preserveDigests?: boolean;
  format?: ManifestFormat;
  compression?: CompressionChoice;
  /** Extra attempts for a blob transfer that failed for a retryable reason. */
  retryTimes?: number;
  /** Blobs this run of copies already found or put at its destinations (see KnownBlobs): not asked for again. */
  knownBlobs?: KnownBlobs;
}

/** The options the preserveDigests rules read. */
export type PreserveDigestsOptions = Pick<CopyOptions, 'preserveDigests' | 'format' | 'compression' | 'multiArch'>;

/**
 * Why these options cannot keep digests, or undefined: preserveDigests with a conversion
 * (format or compression: skopeo ignores format silently, skiff refuses), and with
 * multiArch=filtered (a new index). The engine applies the filtered rule only to an index (a
 * single image is copied as it is in every mode); submit-time checks apply all of them.
 */
export function preserveDigestsRefusal(opts: PreserveDigestsOptions, only: 'conversion' | 'all' = 'all'): string | undefined {
  if (!opts.preserveDigests) return undefined;
  if (opts.format || opts.compression) {
    return `preserveDigests cannot be combined with ${opts.format ? 'format' : 'compression'}: it would change the manifest (skopeo ignores format silently; skiff refuses)`;
  }
  if (only === 'all' && opts.multiArch === 'filtered') {
    return 'preserveDigests cannot be combined with multiArch=filtered: the filtered index is a new manifest (multiArch=sparse keeps the source index)';
  }
  return undefined;
}

/** Throws INVALID_ARGUMENT for options no source can satisfy (checked before anything is read). */
export function checkCopyOptions(opts: CopyOptions): void {
  const refusal = preserveDigestsRefusal(opts, 'conversion');
  if (refusal) throw new DomainError('INVALID_ARGUMENT', refusal);
  const mode = opts.multiArch ?? 'system';
  if ((mode === 'filtered' || mode === 'sparse') && !opts.platforms?.length) {
    throw new DomainError('INVALID_ARGUMENT', `multiArch=${mode} needs the platforms to keep`);
  }
}

/** Whether a copy may find the destination up to date: not when it converts manifests or recompresses layers. */
export function mayBeUpToDate(opts: Pick<CopyOptions, 'format' | 'compression'>): boolean {
  return !opts.format && !opts.compression;
}
