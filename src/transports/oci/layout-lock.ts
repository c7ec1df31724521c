import { join } from 'node:path';
import { withFileLock, withPathMutex } from '../../storage/lease-lock';
import type { StorageOwner } from '../../storage/storage-owner';
import { LAYOUT_LOCK_NAME } from '../../storage/temp-names';

/**
 * Mutual exclusion for updates of one layout (index.json rewrites, delete + garbage collection).
 *
 * Contract: `withLayoutLock(dir, owner, fn)` runs `fn` while holding (1) an in-process mutex
 * keyed by `dir` (callers pass the real, absolute path) and (2) the lease lock file
 * `dir/index.json.lock` (storage/lease-lock.ts), so other processes — other replicas on other
 * hosts sharing the storage root included — wait as well. The lock file carries the owner's id
 * and is renewed with its lease heartbeat while held; a lock whose holder stopped renewing it
 * for a lease period (killed, or its host gone) is taken over, a live one never. Holders keep the
 * lock for a few file operations only. Waiting gives up with STORAGE_CONFLICT after `timeoutMs`
 * (default: long enough for a dead holder's lease to lapse), or ABORTED when the signal aborts.
 */

export const LOCK_FILE_NAME = LAYOUT_LOCK_NAME;

export { withPathMutex };

/** Runs `fn` holding the layout's in-process mutex and its lease lock file (see above). `name` names the layout in messages. */
export function withLayoutLock<T>(dir: string, owner: StorageOwner, fn: () => Promise<T>, opts: { signal?: AbortSignal; timeoutMs?: number; name?: string } = {}): Promise<T> {
  return withPathMutex(`oci-layout:${dir}`, () =>
    withFileLock(join(dir, LOCK_FILE_NAME), owner, fn, { signal: opts.signal, timeoutMs: opts.timeoutMs, what: `the layout ${opts.name ?? ''}`.trimEnd() }),
  );
}
