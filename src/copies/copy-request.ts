import type { CopyResult as EngineCopyResult } from '../copy-engine/copy-engine';
import type { MultiArch } from '../copy-engine/copy-options';
import type { SyncYamlCredentials } from '../syncs/sync-yaml';
import type { RegistryAuth } from '../transports/transport';

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

/** Credentials given inline with a copy or sync: kept apart from the request (sealed or in memory). */
export interface TransferSecrets {
  sourceAuth?: RegistryAuth;
  destinationAuth?: RegistryAuth;
  /** A sync's YAML `credentials`, by registry key, as written. */
  yamlCredentials?: Record<string, SyncYamlCredentials>;
}
