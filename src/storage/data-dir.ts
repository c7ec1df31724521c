import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from './atomic-write';
import { fsErrorCode } from './storage-errors';
import { isInside } from './storage-root';
import { isLegacyAtomicTempName, parseTempName } from './temp-names';

/** The data directory is owned by another live process. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the data directory ${dataDir} is in use by process ${pid} (another skiff?); give each service its own SKIFF_DATA_DIR`);
  }
}

/** A live process that may be a skiff service (a reused pid running something else is not). */
function liveService(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (fsErrorCode(e) !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true; // no /proc to tell: assume it is
  }
}

/**
 * One service per data directory. `skiff.pid` holds the owner's pid: a live owner other than
 * this process means refusal (two workers on one operations database would run operations
 * twice, and each would take the other's temporary files for leftovers); a file whose process
 * is gone or runs something other than Node.js (a reused pid), or that names this very pid (a
 * restarted container is pid 1 again), is taken over. Returns the release function, which
 * the service calls once it has shut down; a normal process exit releases too.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'skiff.pid');
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      if (fsErrorCode(e) !== 'EEXIST' || attempt > 0) throw e;
      const owner = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && liveService(owner)) throw new DataDirInUseError(dataDir, owner);
      unlinkSync(path);
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    const release = (): void => {
      try {
        if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
      } catch {
        // already gone
      }
    };
    process.once('exit', release);
    return release;
  }
}

/**
 * Empties `$SKIFF_DATA_DIR/tmp` (staged layers, unpacked archives) at start: only this
 * service writes there, and whatever a crashed or killed process left is of no use. The
 * directory itself stays (it may be a mount point of its own); its contents are removed.
 * Refuses a storage root inside `tmp/`, and a data directory inside (or equal to) the storage
 * root: callers' oci:/dir:/archive paths would then reach the service's own files (auth.json,
 * skiff.db, other callers' staged layers) and the sweeps would mix the two.
 */
export function resetTempDir(dataDir: string, storageRoot: string): string {
  const dir = join(dataDir, 'tmp');
  if (isInside(dir, storageRoot)) {
    throw new Error(`SKIFF_STORAGE_ROOT (${storageRoot}) must not be inside ${dir}, which is emptied at every start`);
  }
  if (isInside(storageRoot, dataDir)) {
    throw new Error(`SKIFF_DATA_DIR (${dataDir}) must not be inside SKIFF_STORAGE_ROOT (${storageRoot}): callers' paths would reach the service's own files (credentials, database, staging)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true, maxRetries: 3 });
  return dir;
}

/**
 * Removes the temp files of interrupted atomic writes (credentials, the replica id) from the
 * data directory itself at start: names skiff makes (temp-names.ts, and those of earlier
 * versions), nothing else. The data directory belongs to this process alone (lockDataDir), so
 * every such file there is a leftover. Returns the names removed.
 */
export function sweepDataDir(dataDir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dataDir)) {
    if (parseTempName(name) === undefined && !isLegacyAtomicTempName(name)) continue;
    rmSync(join(dataDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

const REPLICA_ID_FILE = 'storage-replica-id';

/**
 * The replica part of this process's storage owner id (8 hex digits, see StorageOwner), one
 * notion with the replica id of the operations (SKIFF_REPLICA_ID):
 * - SKIFF_REPLICA_ID set (`configured`): the first 8 hex digits of its sha256. A replica
 *   restarted under the same id, even on a fresh data directory (a StatefulSet pod on an
 *   emptyDir), recognises its earlier incarnation's temp files and locks at once, as it takes
 *   back the operation leases its earlier run held. This rests on what SKIFF_REPLICA_ID already
 *   requires: one live process per id; StorageOwner.isGone still refuses to judge gone a
 *   same-id process whose lease is live on another host or held by another live pid here.
 * - unset: the id kept in the data directory (replicaIdOf), whose lock makes it one process's.
 */
export function storageReplicaOf(opts: { dataDir: string; configured?: string; warn?: (message: string) => void }): string {
  if (opts.configured !== undefined) return createHash('sha256').update(`skiff-replica:${opts.configured}`).digest('hex').slice(0, 8);
  return replicaIdOf(opts.dataDir, opts.warn);
}

/**
 * This replica's id for the storage root (8 hex digits, see StorageOwner): read from
 * `$SKIFF_DATA_DIR/storage-replica-id`, created there on first start. When it cannot be kept
 * (the data directory is full or read-only) a fresh id is used for this run, and `warn` says so.
 */
export function replicaIdOf(dataDir: string, warn: (message: string) => void = () => undefined): string {
  const path = join(dataDir, REPLICA_ID_FILE);
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{8}$/.test(id)) return id;
  } catch (e) {
    if (fsErrorCode(e) !== 'ENOENT') warn(`cannot read ${REPLICA_ID_FILE}: ${(e as Error).message}`);
  }
  const id = randomBytes(4).toString('hex');
  try {
    writeFileAtomicSync(path, `${id}\n`, {
      mode: 0o644,
      owner: `${id}-00000000`,
      onUnflushedDirectory: (_dir, e) => warn(`kept the replica id in ${REPLICA_ID_FILE}, but the data directory could not be flushed (${(e as Error).message})`),
    });
  } catch (e) {
    warn(`cannot keep the replica id in ${REPLICA_ID_FILE} (${(e as Error).message}); this run uses ${id}`);
  }
  return id;
}
