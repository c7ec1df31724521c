import { realpath } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import type { ImageReference } from '../image-spec/image-reference';
import { formatTarget, type PatternTarget, patternTarget, ReferencePattern } from '../image-spec/reference-pattern';
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

/** Compiled pattern lists, by the (immutable) list of a principal they were compiled from. */
const compiledLists = new WeakMap<readonly string[], readonly ReferencePattern[]>();

/**
 * The principal's patterns for `side`, compiled: once per pattern list (PrincipalDirectory
 * compiles its principals' lists when the principals are loaded; a list seen first here is
 * compiled on its first check), then reused for every check. Undefined = any reference.
 */
export function compiledPatterns(principal: Principal, side: AccessSide): readonly ReferencePattern[] | undefined {
  const sources = side === 'source' ? principal.sources : principal.destinations;
  if (sources === undefined) return undefined;
  let list = compiledLists.get(sources);
  if (list === undefined) {
    list = sources.map((p) => ReferencePattern.parse(p));
    compiledLists.set(sources, list);
  }
  return list;
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
  const patterns = compiledPatterns(principal, side);
  return patterns === undefined || patterns.some((p) => p.matches(target));
}

/** Throws FORBIDDEN unless one of the principal's patterns for `side` covers the target (an image, or a whole repository when it has no item). */
export function requireReferenceAccess(principal: Principal, side: AccessSide, target: PatternTarget): void {
  if (referenceAllowed(principal, side, target)) return;
  throw new ForbiddenError(`${side} ${formatTarget(target)} is outside the ${side} patterns of principal ${principal.name}`);
}

/** Throws FORBIDDEN unless a `…/**` pattern for `side` covers the target's location and everything below it. */
export function requireTreeAccess(principal: Principal, side: AccessSide, target: PatternTarget): void {
  const patterns = compiledPatterns(principal, side);
  if (patterns === undefined) return;
  if (patterns.some((p) => p.coversTree(target))) return;
  throw new ForbiddenError(`${side} ${formatTarget(target, { tree: true })} is outside the ${side} patterns of principal ${principal.name}`);
}
