import { closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsErrorCode } from './storage-errors';
import { isInside } from './storage-root';

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
 * service writes there, and whatever a crashed or killed process left is of no use.
 */
export function resetTempDir(dataDir: string, storageRoot: string): string {
  const dir = join(dataDir, 'tmp');
  if (isInside(dir, storageRoot)) {
    throw new Error(`SKIFF_STORAGE_ROOT (${storageRoot}) must not be inside ${dir}, which is emptied at every start`);
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
