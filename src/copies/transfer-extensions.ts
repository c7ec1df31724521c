import { InvalidArgumentError } from '../errors/domain-error';
import { isValidTag } from '../image-spec/docker-reference';
import type { PlatformChoice } from '../image-spec/manifest';
import { parsePlatformSpec } from '../image-spec/platform-list';

/**
 * Submit-time checks of what copies and syncs do beyond skopeo (platform subsets, referrers,
 * several registry tags), so a request that cannot run is refused before it is queued.
 */

export interface TransferExtensions {
  multiArch?: string;
  platforms?: readonly string[];
  referrers?: 'none' | 'all';
  artifactTypes?: readonly string[];
  preserveDigests?: boolean;
}

/** Throws INVALID_ARGUMENT naming the first field that does not fit with the others. */
export function checkTransferExtensions(body: TransferExtensions): void {
  const subset = body.multiArch === 'filtered' || body.multiArch === 'sparse';
  if (subset && !body.platforms?.length) throw new InvalidArgumentError(`multiArch=${body.multiArch} needs "platforms" (e.g. ["linux/amd64", "linux/arm64/v8"])`);
  if (body.platforms?.length && !subset) throw new InvalidArgumentError('platforms applies to multiArch "filtered" or "sparse" only');
  for (const p of body.platforms ?? []) parsePlatformSpec(p);
  if (body.multiArch === 'filtered' && body.preserveDigests) {
    throw new InvalidArgumentError('preserveDigests cannot be combined with multiArch=filtered: the filtered index is a new manifest (multiArch=sparse keeps the source index)');
  }
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

/** Additional tags of a registry destination: plain tags of the same repository. */
export function checkRegistryAdditionalTags(tags: readonly string[]): void {
  for (const t of tags) {
    if (!isValidTag(t)) throw new InvalidArgumentError(`additionalTags: ${JSON.stringify(t.slice(0, 200))} is not a tag (a registry destination takes tags of its own repository, e.g. "1.2" or "latest")`);
  }
}
