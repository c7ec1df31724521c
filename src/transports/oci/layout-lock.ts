import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortedError } from '../../errors/domain-error';
import { StorageConflictError, fsErrorCode } from '../../storage/storage-errors';

/**
 * Mutual exclusion for updates of one layout (index.json rewrites, delete + garbage collection).
 *
 * Contract: `withLayoutLock(dir, fn)` runs `fn` while holding (1) an in-process mutex keyed by
 * `dir` (callers pass the real, absolute path) and (2) an on-disk lock file `dir/index.json.lock`
 * created with O_EXCL, so other skiff processes on the same layout wait as well. Holders keep
 * the lock for a few file operations only. A lock file is broken when its owner is a process of
 * this host that no longer runs, or when it is older than STALE_LOCK_MS (a crashed owner on
 * another host). Waiting gives up after `timeoutMs` (STORAGE_CONFLICT) or when the signal
 * aborts (ABORTED). The lock file is removed on release (only by its owner's token).
 */

export const LOCK_FILE_NAME = 'index.json.lock';
const STALE_LOCK_MS = 10 * 60 * 1000;
const UNREADABLE_GRACE_MS = 5_000;

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

interface LockContent {
  pid: number;
  host: string;
  token: string;
  createdAt: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return fsErrorCode(e) !== 'ESRCH';
  }
}

async function isStale(path: string): Promise<boolean> {
  let text: string;
  let age: number;
  try {
    const [st, content] = await Promise.all([stat(path), readFile(path, 'utf8')]);
    age = Date.now() - st.mtimeMs;
    text = content;
  } catch (e) {
    if (fsErrorCode(e) === 'ENOENT') return false; // released meanwhile: just retry
    throw e;
  }
  let owner: LockContent | undefined;
  try {
    owner = JSON.parse(text) as LockContent;
  } catch {
    // its owner may be between create and write
    return age > UNREADABLE_GRACE_MS;
  }
  if (owner.host === hostname() && Number.isSafeInteger(owner.pid) && !processAlive(owner.pid)) return true;
  return age > STALE_LOCK_MS;
}

async function acquireFileLock(dir: string, opts: { signal?: AbortSignal; timeoutMs: number }): Promise<{ path: string; token: string }> {
  const path = join(dir, LOCK_FILE_NAME);
  const token = randomBytes(12).toString('hex');
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 5;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortedError('cancelled while waiting for the layout lock');
    try {
      const fh = await open(path, 'wx', 0o644);
      try {
        const content: LockContent = { pid: process.pid, host: hostname(), token, createdAt: new Date().toISOString() };
        await fh.writeFile(JSON.stringify(content));
      } finally {
        await fh.close();
      }
      return { path, token };
    } catch (e) {
      if (fsErrorCode(e) !== 'EEXIST') throw e;
    }
    if (await isStale(path)) {
      // Move it aside under a unique name first, so two breakers never remove a fresh lock twice.
      const aside = `${path}.stale-${token}`;
      await rename(path, aside).then(
        () => rm(aside, { force: true }),
        (e: unknown) => {
          if (fsErrorCode(e) !== 'ENOENT') throw e;
        },
      );
      continue;
    }
    if (Date.now() > deadline) throw new StorageConflictError(`the layout is locked by another writer (${LOCK_FILE_NAME} held for over ${Math.round(opts.timeoutMs / 1000)} s)`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

async function releaseFileLock(lock: { path: string; token: string }): Promise<void> {
  try {
    const owner = JSON.parse(await readFile(lock.path, 'utf8')) as LockContent;
    if (owner.token === lock.token) await rm(lock.path, { force: true });
  } catch {
    // gone or replaced: nothing of ours to remove
  }
}

/** Runs `fn` holding the layout's in-process mutex and its on-disk lock file (see above). */
export function withLayoutLock<T>(dir: string, fn: () => Promise<T>, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
  return withPathMutex(`oci-layout:${dir}`, async () => {
    const lock = await acquireFileLock(dir, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000 });
    try {
      return await fn();
    } finally {
      await releaseFileLock(lock);
    }
  });
}
