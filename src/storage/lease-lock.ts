import { hostname } from 'node:os';
import { link, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AbortedError } from '../errors/domain-error';
import { StorageConflictError, fsErrorCode, isOutOfSpace } from './storage-errors';
import { type LeaseState, type StorageOwner, processAlive, readLeaseFile } from './storage-owner';
import { tempName } from './temp-names';

/**
 * Locks on files in a storage root that several replicas (hosts) may share.
 *
 * Contract: `withFileLock(path, owner, fn)` creates `path` exclusively (O_EXCL), writes the
 * owner's id and a token into it (best effort: on a full disk the lock stays empty and still
 * works), renews its mtime with the owner's lease heartbeat while `fn` runs, and removes it
 * afterwards (only if it is still the file this call created). A lock that exists is respected
 * while its heartbeat is live; it is taken over (moved aside under a temp name, then removed)
 * only once it has lapsed (lockLapsed). Waiting gives up after `timeoutMs` (default: long enough
 * for a dead holder's lease to lapse) with STORAGE_CONFLICT, or at once when the signal aborts
 * (ABORTED). The file lock does not exclude callers of the same process from each other:
 * combine it with withPathMutex.
 */

const chains = new Map<string, Promise<void>>();

/** Runs `fn` under an in-process mutex keyed by `key` (FIFO). */
export async function withPathMutex<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = chains.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  chains.set(key, tail);
  try {
    await prev;
    return await fn();
  } finally {
    release();
    if (chains.get(key) === tail) chains.delete(key);
  }
}

/**
 * Whether the lock in `state` may be taken over by `owner`: its holder is an earlier incarnation
 * of this replica, or a lock of an earlier skiff version held by a dead process of this host, or
 * its heartbeat has not been renewed for a lease period. A lock of this very process is judged by
 * its heartbeat too (it may be being taken by another call right now, or be left by a release
 * that failed), and never while this process holds it.
 */
export async function lockLapsed(path: string, state: LeaseState, owner: StorageOwner): Promise<boolean> {
  const holder = state.content?.owner;
  if (holder === owner.id) return !owner.holds(path) && owner.lapsed(state);
  if (typeof holder === 'string' && (await owner.isGone(holder)) && holder.startsWith(`${owner.replica}-`)) return true;
  const { host, pid } = state.content ?? {};
  if (holder === undefined && host === hostname() && typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 && !processAlive(pid)) return true;
  return owner.lapsed(state);
}

/**
 * Moves a lapsed lock aside and removes it. The move is checked to have taken the very file
 * judged lapsed (same inode); if another taker replaced it meanwhile, that fresh lock is put
 * back (when nothing took its place) rather than removed.
 */
async function breakLock(path: string, judged: LeaseState, owner: StorageOwner): Promise<void> {
  const aside = join(dirname(path), tempName(owner.id, `broken-${basename(path)}`));
  try {
    await rename(path, aside);
  } catch (e) {
    if (fsErrorCode(e) === 'ENOENT') return;
    throw e;
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved && moved.ino !== judged.ino) {
    await link(aside, path).catch(() => undefined);
  }
  await rm(aside, { force: true });
}

/** Removes the lock at `path` if it has lapsed for `owner` (the start-up sweep). Whether it did. */
export async function removeLapsedLock(path: string, owner: StorageOwner): Promise<boolean> {
  const state = await readLeaseFile(path);
  if (!state || !(await lockLapsed(path, state, owner))) return false;
  await breakLock(path, state, owner);
  return true;
}

interface HeldLock {
  path: string;
  ino: number;
  token: string;
  unhold: () => void;
}

async function acquire(path: string, owner: StorageOwner, opts: { signal?: AbortSignal; timeoutMs: number; what: string }): Promise<HeldLock> {
  const token = tempName(owner.id).slice(-12);
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 5;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortedError(`cancelled while waiting for the lock of ${opts.what}`);
    let fh;
    try {
      fh = await open(path, 'wx', 0o644);
    } catch (e) {
      if (fsErrorCode(e) !== 'EEXIST') throw e;
    }
    if (fh) {
      try {
        await fh.writeFile(owner.content({ token })).catch((e: unknown) => {
          if (!isOutOfSpace(e)) throw e;
        });
        const { ino } = await fh.stat();
        return { path, ino, token, unhold: owner.hold(path) };
      } catch (e) {
        await fh.close().catch(() => undefined);
        fh = undefined;
        await unlink(path).catch(() => undefined);
        throw e;
      } finally {
        await fh?.close().catch(() => undefined);
      }
    }
    const state = await readLeaseFile(path);
    if (state === undefined) continue; // released meanwhile
    if (await lockLapsed(path, state, owner)) {
      await breakLock(path, state, owner);
      continue;
    }
    if (Date.now() > deadline) {
      const holder = state.content?.owner ? ` (held by skiff replica ${state.content.owner})` : '';
      throw new StorageConflictError(`${opts.what} is locked by another writer${holder} and its lock was renewed throughout ${Math.round(opts.timeoutMs / 1000)} s of waiting`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}

async function release(lock: HeldLock): Promise<void> {
  lock.unhold();
  const state = await readLeaseFile(lock.path).catch(() => undefined);
  if (!state || state.ino !== lock.ino) return; // taken over (we lapsed) and replaced: not ours
  if (state.content?.token !== undefined && state.content.token !== lock.token) return;
  await unlink(lock.path).catch(() => undefined);
}

/** Runs `fn` holding the file lock at `path` (see the module contract). `what` names the locked thing in messages. */
export async function withFileLock<T>(path: string, owner: StorageOwner, fn: () => Promise<T>, opts: { signal?: AbortSignal; timeoutMs?: number; what: string }): Promise<T> {
  const lock = await acquire(path, owner, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? owner.lockWaitMs, what: opts.what });
  try {
    return await fn();
  } finally {
    await release(lock);
  }
}
