import { realpath } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import type { ImageReference } from '../image-spec/image-reference';
import { formatTarget, type PatternTarget, patternTarget, referencePattern } from '../image-spec/reference-pattern';
import { resolveInStorageRoot } from '../storage/storage-root';
import { ForbiddenError, type Principal } from './principal';

/**
 * Reference-pattern checks for the use cases. A principal's `sources` bound what it may read
 * (inspect, list tags, copy and sync from); `destinations` what it may write and delete.
 * Undefined pattern lists allow everything (the local user, SKIFF_API_TOKENS principals).
 *
 * A refusal names the reference and the principal's own pattern set, never the patterns
 * themselves or anything of another principal.
 */
export type AccessSide = 'source' | 'destination';

function patternsOf(principal: Principal, side: AccessSide): readonly string[] | undefined {
  return side === 'source' ? principal.sources : principal.destinations;
}

/** The pattern target of a reference; storage paths are resolved (through symbolic links) under the storage root first. */
export async function referenceTarget(ref: ImageReference, storageRoot: string): Promise<PatternTarget> {
  if (!('path' in ref)) return patternTarget(ref);
  const resolved = await resolveInStorageRoot(storageRoot, ref.path);
  const root = await realpath(storageRoot).catch(() => resolve(storageRoot));
  return patternTarget(ref, { path: relative(root, resolved).split(sep).join('/') });
}

/** Whether one of the principal's patterns for `side` covers the target (an image, or a whole repository when it has no item). */
export function referenceAllowed(principal: Principal, side: AccessSide, target: PatternTarget): boolean {
  const patterns = patternsOf(principal, side);
  return patterns === undefined || patterns.some((p) => referencePattern(p).matches(target));
}

/** Throws FORBIDDEN unless one of the principal's patterns for `side` covers the target (an image, or a whole repository when it has no item). */
export function requireReferenceAccess(principal: Principal, side: AccessSide, target: PatternTarget): void {
  if (referenceAllowed(principal, side, target)) return;
  throw new ForbiddenError(`${side} ${formatTarget(target)} is outside the ${side} patterns of principal ${principal.name}`);
}

/** Throws FORBIDDEN unless a `…/**` pattern for `side` covers the target's location and everything below it. */
export function requireTreeAccess(principal: Principal, side: AccessSide, target: PatternTarget): void {
  const patterns = patternsOf(principal, side);
  if (patterns === undefined) return;
  if (patterns.some((p) => referencePattern(p).coversTree(target))) return;
  throw new ForbiddenError(`${side} ${formatTarget(target, { tree: true })} is outside the ${side} patterns of principal ${principal.name}`);
}
