/**
 * What a directory holds, for tests that check what skiff wrote or left behind. Links are not
 * followed; nothing here asserts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sha256Digest } from './images';

export interface ListTreeOptions {
  /** List directories too, each ending in `/`. */
  dirs?: boolean;
  /** Leaves an entry, and what is under it, out (`rel` is relative to the listed directory). */
  skip?: (rel: string) => boolean;
}

/** Every entry under `dir`, relative and sorted, hidden ones included; a missing `dir` holds nothing. */
export function listTree(dir: string, opts: ListTreeOptions = {}): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (opts.skip?.(rel)) continue;
      if (e.isDirectory()) {
        if (opts.dirs) out.push(`${rel}/`);
        walk(p);
      } else out.push(rel);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

/** Every file under `dir`: its relative path → the sha256 digest of its bytes. */
export function fileDigests(dir: string): Record<string, string> {
  return Object.fromEntries(listTree(dir).map((rel) => [rel, sha256Digest(readFileSync(join(dir, rel)))]));
}
