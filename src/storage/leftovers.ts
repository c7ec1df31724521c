import type { Dirent } from 'node:fs';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeLapsedLock } from './lease-lock';
import { fsErrorCode } from './storage-errors';
import { LEASE_DIR, type StorageOwner } from './storage-owner';
import { LEGACY_GRACE_MS, isLegacyTempName, isLockName, parseTempName } from './temp-names';

/**
 * Removing what interrupted writes left behind (kill -9, a crash, a failed cleanup).
 *
 * Contract: only names skiff creates are considered (temp-names.ts), and of those only the ones
 * whose owner is provably gone (StorageOwner.isGone: an earlier incarnation of this replica, or a
 * lapsed or missing lease), lock files whose lease lapsed, and names of earlier skiff versions
 * untouched for LEGACY_GRACE_MS. A live replica's in-progress files are never removed; files
 * skiff did not make are never removed; an earlier dir: image that a killed writer had moved
 * aside and not yet replaced is put back. Symbolic links are never followed. Errors on single
 * entries are skipped (a sweep never fails a caller).
 */

export interface SweepResult {
  /** Paths removed. */
  removed: string[];
  /** dir: images put back where an interrupted replacement had moved them aside. */
  restored: string[];
  /** Bytes they held. */
  bytes: number;
}

/** Bytes held by a file or tree (not following links). */
async function sizeOf(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await sizeOf(join(path, name));
  return total;
}

/** The newest mtime of an entry and, for a directory, of its direct children (a staging directory being written into). */
async function newestChange(path: string): Promise<number> {
  const st = await lstat(path);
  let newest = st.mtimeMs;
  if (st.isDirectory()) {
    for (const name of await readdir(path).catch(() => [] as string[])) {
      const c = await lstat(join(path, name)).catch(() => undefined);
      if (c && c.mtimeMs > newest) newest = c.mtimeMs;
    }
  }
  return newest;
}

/** Memoises owner verdicts during one sweep (a lease is read once). */
function goneCache(owner: StorageOwner): (id: string) => Promise<boolean> {
  const seen = new Map<string, Promise<boolean>>();
  return (id) => {
    let p = seen.get(id);
    if (!p) {
      p = owner.isGone(id).catch(() => false);
      seen.set(id, p);
    }
    return p;
  };
}

/**
 * The hint of a dir: image moved aside while its replacement is swapped in (dir.destination.ts):
 * `old-NAME`. If the writer died between the two renames, NAME is missing and the aside holds
 * the only copy of the earlier image: it is put back, never removed.
 */
const ASIDE_HINT = 'old-';

/** Whether `name` in its directory is a leftover to remove now ('restore': an image moved aside to put back). */
async function isLeftover(dir: string, entry: Dirent, names: ReadonlySet<string>, gone: (id: string) => Promise<boolean>): Promise<'remove' | 'lock' | 'restore' | 'keep' | undefined> {
  const parsed = parseTempName(entry.name);
  if (parsed) {
    if (!(await gone(parsed.owner))) return undefined;
    if (parsed.hint.startsWith(ASIDE_HINT) && entry.isDirectory()) {
      const original = parsed.hint.slice(ASIDE_HINT.length);
      if (names.has(original)) return 'remove';
      // put back only under a name the hint keeps exactly (not cut at 64 characters, nothing
      // replaced); otherwise leave it for a person to look at
      const exact = parsed.hint.length < 64 && /^[A-Za-z0-9._-]+$/.test(original) && !original.startsWith('.skiff');
      return exact ? 'restore' : 'keep';
    }
    return 'remove';
  }
  if (isLockName(entry.name) && entry.isFile()) return 'lock';
  if (isLegacyTempName(entry.name)) {
    const changed = await newestChange(join(dir, entry.name)).catch(() => Date.now());
    return Date.now() - changed > LEGACY_GRACE_MS ? 'remove' : undefined;
  }
  return undefined;
}

async function sweepEntries(dir: string, entries: Dirent[], owner: StorageOwner, gone: (id: string) => Promise<boolean>, result: SweepResult): Promise<void> {
  const names = new Set(entries.map((e) => e.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    try {
      const verdict = await isLeftover(dir, entry, names, gone);
      if (verdict === 'restore') {
        const original = parseTempName(entry.name)!.hint.slice(ASIDE_HINT.length);
        // fails (EEXIST/ENOTEMPTY) if something took the name meanwhile: then it stays aside
        await rename(path, join(dir, original));
        result.restored.push(join(dir, original));
      } else if (verdict === 'remove') {
        const bytes = await sizeOf(path);
        await rm(path, { recursive: true, force: true, maxRetries: 3 });
        result.removed.push(path);
        result.bytes += bytes;
      } else if (verdict === 'lock') {
        const bytes = await sizeOf(path);
        if (await removeLapsedLock(path, owner)) {
          result.removed.push(path);
          result.bytes += bytes;
        }
      }
    } catch {
      // gone meanwhile, or not ours to touch: next
    }
  }
}

async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = fsErrorCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Sweeps the entries of one directory (not below it): what a writer does before writing there. */
export async function sweepDirectory(dir: string, owner: StorageOwner): Promise<SweepResult> {
  const result: SweepResult = { removed: [], restored: [], bytes: 0 };
  await sweepEntries(dir, await listDir(dir).catch(() => []), owner, goneCache(owner), result);
  return result;
}

/**
 * Sweeps a whole tree (the storage root at start). Not descended into: the `blobs` directory of
 * an OCI layout (content-addressed files only, possibly millions), the `.skiff` directory of
 * leases, links, and anything removed. `signal` stops the walk between directories.
 */
export async function sweepTree(root: string, owner: StorageOwner, opts: { signal?: AbortSignal; maxDepth?: number } = {}): Promise<SweepResult> {
  const result: SweepResult = { removed: [], restored: [], bytes: 0 };
  const gone = goneCache(owner);
  const maxDepth = opts.maxDepth ?? 64;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (opts.signal?.aborted) return;
    const entries = await listDir(dir).catch(() => [] as Dirent[]);
    await sweepEntries(dir, entries, owner, gone, result);
    if (depth >= maxDepth) return;
    const isLayout = entries.some((e) => e.name === 'oci-layout' || e.name === 'index.json');
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (depth === 0 && e.name === '.skiff') continue;
      if (isLayout && e.name === 'blobs') continue;
      // a staging directory (removed above, or live) holds only its owner's files
      if (parseTempName(e.name) || isLegacyTempName(e.name)) continue;
      await walk(join(dir, e.name), depth + 1);
    }
  };
  await walk(root, 0);
  // the leases of gone owners
  const leases = join(root, LEASE_DIR);
  for (const name of await readdir(leases).catch(() => [] as string[])) {
    if (name !== owner.id && (await gone(name))) {
      await rm(join(leases, name), { force: true }).catch(() => undefined);
    }
  }
  return result;
}
