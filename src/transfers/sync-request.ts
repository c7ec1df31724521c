import type { OperationError } from '../errors/operation-error';

/**
 * A sync as the operations store keeps it: the request after defaults are applied, without
 * credentials (YAML passwords `[redacted]`; the real ones are kept with the secrets).
 */
export interface SyncRequest {
  sourceType: 'docker' | 'dir' | 'yaml';
  /** docker: the repository or image without `docker://`; dir: the path under the storage root. Absent with yaml. */
  source?: string;
  yaml?: string;
  destination: string;
  destinationType: 'docker' | 'dir';
  scoped: boolean;
  appendSuffix?: string;
  all: boolean;
  dryRun: boolean;
  keepGoing: boolean;
  preserveDigests: boolean;
  format?: 'oci' | 'v2s2';
  sourceTlsVerify: boolean;
  destinationTlsVerify: boolean;
  removeSignatures: boolean;
  retryTimes: number;
  /** Platform subsets of multi-arch images (instead of `all`), `os/arch[/variant]`, written `filtered` (default) or `sparse`. */
  platforms?: string[];
  multiArch?: 'filtered' | 'sparse';
  /** Bring each image's signatures, SBOMs and attestations along (`all`), optionally only these artifact types. */
  referrers: 'none' | 'all';
  artifactTypes?: string[];
  /** Wait for the rate-limit window instead of pulling when a source registry has this few pulls left. */
  rateLimitFloor?: number;
}

export type SyncImageState = 'copied' | 'skipped' | 'failed' | 'planned';

/** One image of a sync. */
export interface SyncImageResult {
  source: string;
  destination: string;
  state: SyncImageState;
  digest?: string;
  bytes?: number;
  error?: OperationError;
  /** Referrers brought along with the image (request.referrers). */
  referrers?: number;
  /** multiArch=filtered: the source index the written one (`digest`) was filtered from. */
  sourceDigest?: string;
}

/** What a finished sync produced. */
export interface SyncResult {
  images: SyncImageResult[];
  /** How many images ended in each state. */
  counts: Record<SyncImageState, number>;
  /** Blob bytes transferred (dry run: that a real run would transfer). */
  bytes: number;
  /** Images not listed here (the list holds the first 100 in plan order; all are at /v1/operations/{id}/images). */
  imagesOmitted?: number;
}
