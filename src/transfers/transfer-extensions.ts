import { type MultiArch, preserveDigestsRefusal } from '../copy-engine/copy-options';
import { InvalidArgumentError } from '../errors/domain-error';
import type { PlatformChoice } from '../image-spec/manifest';
import { parsePlatformSpec } from '../image-spec/platform-list';

/**
 * Submit-time checks of what copies and syncs do beyond skopeo (platform subsets, referrers,
 * preserveDigests refusing changes), so a request that cannot run is refused before it is
 * queued.
 */

export interface TransferExtensions {
  multiArch?: MultiArch;
  platforms?: readonly string[];
  referrers?: 'none' | 'all';
  artifactTypes?: readonly string[];
  preserveDigests?: boolean;
  format?: 'oci' | 'v2s2';
  compression?: { format: 'gzip' | 'zstd' };
}

/** Throws INVALID_ARGUMENT naming the first field that does not fit with the others. */
export function checkTransferExtensions(body: TransferExtensions): void {
  const subset = body.multiArch === 'filtered' || body.multiArch === 'sparse';
  if (subset && !body.platforms?.length) throw new InvalidArgumentError(`multiArch=${body.multiArch} needs "platforms" (e.g. ["linux/amd64", "linux/arm64/v8"])`);
  if (body.platforms?.length && !subset) throw new InvalidArgumentError('platforms applies to multiArch "filtered" or "sparse" only');
  for (const p of body.platforms ?? []) parsePlatformSpec(p);
  const refusal = preserveDigestsRefusal(body);
  if (refusal) throw new InvalidArgumentError(refusal);
  if (body.artifactTypes?.length && body.referrers !== 'all') throw new InvalidArgumentError('artifactTypes applies with referrers "all" only');
}

/**
 * A list whose order and repeats carry no meaning (platforms are chosen in the index's order,
 * artifact types filter), in one form: sorted, each once. So `["linux/arm64", "linux/amd64"]`
 * and `["linux/amd64", "linux/arm64", "linux/amd64"]` are one request, with one idempotency
 * fingerprint.
 */
export function canonicalSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** The platforms of a request as the engine takes them. */
export function platformChoices(platforms: readonly string[] | undefined): PlatformChoice[] | undefined {
  return platforms?.length ? platforms.map(parsePlatformSpec) : undefined;
}
