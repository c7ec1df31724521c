import type { CopyResult as EngineCopyResult } from '../copy-engine/copy-engine';
import type { MultiArch } from '../copy-engine/copy-options';

/**
 * A copy as the operations store keeps it: the request after defaults are applied (so the
 * same meaning has one form and one idempotency fingerprint), without credentials.
 */
export interface CopyRequest {
  source: string;
  destination: string;
  sourceTlsVerify: boolean;
  destinationTlsVerify: boolean;
  multiArch: MultiArch;
  /** multiArch filtered/sparse: the platforms kept, `os/arch[/variant]`. */
  platforms?: string[];
  platform?: { os?: string; architecture?: string; variant?: string };
  preserveDigests: boolean;
  format?: 'oci' | 'v2s2';
  compression?: { format: 'gzip' | 'zstd'; level?: number };
  removeSignatures: boolean;
  additionalTags?: string[];
  retryTimes: number;
  /** Bring signatures, SBOMs and attestations along (`all`), optionally only these artifact types. */
  referrers: 'none' | 'all';
  artifactTypes?: string[];
}

/** What a finished copy produced. */
export type CopyResult = EngineCopyResult;
