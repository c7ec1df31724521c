import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { InvalidArgumentError } from '../errors/domain-error';
import { isDigestTag } from '../image-spec/referrers';

/**
 * Tag filters of list-tags: include / exclude globs and leaving out digest tags (the fallback
 * referrers tags `sha256-<hex>` and cosign's `sha256-<hex>.sig/.att/.sbom`).
 *
 * Globs: `*` any run of characters, `?` one character, everything else literal. Matching is
 * linear in the tag by construction: the pattern is split at `*`; the first and last pieces
 * are compared in place at the ends, and each middle piece is found at its leftmost place after
 * the previous one with a bit-parallel (shift-and) scan, so every character of the tag is read
 * a bounded number of times whatever the pattern — no backtracking. Pieces are limited to 31
 * characters (one 32-bit word), patterns to 128, filters to 16 patterns each.
 */

export const GLOB = /^[A-Za-z0-9_.*?-]{1,128}$/;
const MAX_PIECE = 31;
const MAX_PATTERNS = 16;

export interface TagFilter {
  include?: readonly string[];
  exclude?: readonly string[];
  excludeDigestTags?: boolean;
}

/** One `?`-piece between stars: its length and, per character, the positions it may take. */
interface Piece {
  text: string;
  /** Bit j set when position j is `?` (matches any character). */
  any: number;
  masks: Map<string, number>;
}

function piece(text: string): Piece {
  let any = 0;
  const masks = new Map<string, number>();
  for (let j = 0; j < text.length; j++) {
    const c = text[j]!;
    if (c === '?') any |= 1 << j;
    else masks.set(c, (masks.get(c) ?? 0) | (1 << j));
  }
  return { text, any, masks };
}

/** Whether `tag[at..at+p.length)` matches the piece. */
function matchesAt(tag: string, at: number, p: Piece): boolean {
  if (at < 0 || at + p.text.length > tag.length) return false;
  for (let j = 0; j < p.text.length; j++) if (p.text[j] !== '?' && p.text[j] !== tag[at + j]) return false;
  return true;
}

/** The end of the leftmost occurrence of the piece in `tag` at or after `from` (shift-and), or -1. */
function findFrom(tag: string, from: number, p: Piece): number {
  const k = p.text.length;
  if (k === 0) return from;
  const done = 1 << (k - 1);
  let state = 0;
  for (let i = from; i < tag.length; i++) {
    state = ((state << 1) | 1) & ((p.masks.get(tag[i]!) ?? 0) | p.any);
    if (state & done) return i + 1;
  }
  return -1;
}

export type TagMatcher = (tag: string) => boolean;

/** Compiles a glob; INVALID_ARGUMENT when it has other characters, or a piece longer than 31 characters. */
export function compileGlob(pattern: string): TagMatcher {
  if (!GLOB.test(pattern)) throw new InvalidArgumentError(`tag pattern ${JSON.stringify(pattern.slice(0, 200))} may hold letters, digits, "_", ".", "-", "*" and "?" only (1 to 128 characters)`);
  const parts = pattern.split('*');
  if (parts.some((p) => p.length > MAX_PIECE)) throw new InvalidArgumentError(`tag pattern ${JSON.stringify(pattern)}: at most ${MAX_PIECE} characters between two "*"`);
  const pieces = parts.map(piece);
  if (pieces.length === 1) {
    const only = pieces[0]!;
    return (tag) => tag.length === only.text.length && matchesAt(tag, 0, only);
  }
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1);
  return (tag) => {
    if (tag.length < first.text.length + last.text.length || !matchesAt(tag, 0, first)) return false;
    let at = first.text.length;
    for (const p of middle) {
      at = findFrom(tag, at, p);
      if (at < 0) return false;
    }
    const tail = tag.length - last.text.length;
    return tail >= at && matchesAt(tag, tail, last);
  };
}

function compileAll(patterns: readonly string[] | undefined, what: string): TagMatcher[] {
  if (!patterns) return [];
  if (patterns.length > MAX_PATTERNS) throw new InvalidArgumentError(`${what}: at most ${MAX_PATTERNS} patterns`);
  return patterns.map(compileGlob);
}

/** Checks a filter's patterns (at request time, before anything is fetched). */
export function checkTagFilter(filter: TagFilter): void {
  compileAll(filter.include, 'include');
  compileAll(filter.exclude, 'exclude');
}

/**
 * The tags a filter keeps, in their order: those matching an include pattern (every tag when
 * there is none), minus those matching an exclude pattern, minus digest tags when asked. Yields
 * to the event loop every 10,000 tags, so a long list never holds it.
 */
export async function filterTags(tags: readonly string[], filter: TagFilter): Promise<string[]> {
  const include = compileAll(filter.include, 'include');
  const exclude = compileAll(filter.exclude, 'exclude');
  if (include.length === 0 && exclude.length === 0 && !filter.excludeDigestTags) return [...tags];
  const out: string[] = [];
  for (let i = 0; i < tags.length; i++) {
    if (i > 0 && i % 10_000 === 0) await yieldToLoop();
    const t = tags[i]!;
    if (filter.excludeDigestTags && isDigestTag(t)) continue;
    if (include.length > 0 && !include.some((m) => m(t))) continue;
    if (exclude.some((m) => m(t))) continue;
    out.push(t);
  }
  return out;
}
