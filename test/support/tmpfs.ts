/**
 * Small tmpfs volumes for full-disk tests.
 *
 * Contract: `mountTmpfs(bytes)` mounts a fresh tmpfs of that size on an empty directory (or on
 * the directory given) and returns it; `fill(leaveFree)` writes a ballast file until only about
 * `leaveFree` bytes are free, `unfill()` removes it; `unmount()` (also run at process exit)
 * unmounts it, lazily if something still holds it. Mounting needs root: `tmpfsProblem()` says
 * why it cannot be done here, and `requireTmpfs(t)` skips the test with that reason — or fails
 * it under SKIFF_TEST_REQUIRE_DAEMONS=1 (CI runs as root: there the full-disk tests must run).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { onExitSync } from './cleanup';
import { DAEMONS_REQUIRED } from './dockerd';

export interface TestTmpfs {
  readonly dir: string;
  /** Bytes free now (statfs). */
  freeBytes(): number;
  /** Writes a ballast file leaving about `leaveFree` bytes free (rounded down to whole pages). */
  fill(leaveFree: number): void;
  /** Removes the ballast. */
  unfill(): void;
  unmount(): void;
}

/** Why a tmpfs cannot be mounted by these tests, or undefined. */
export function tmpfsProblem(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs volumes need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root (CI runs the tests as root)';
  return undefined;
}

/** Skips the test when no tmpfs can be mounted here (a failure under SKIFF_TEST_REQUIRE_DAEMONS=1); true when it may run. */
export function requireTmpfs(t: TestContext): boolean {
  const problem = tmpfsProblem();
  if (problem === undefined) return true;
  if (DAEMONS_REQUIRED) throw new Error(`SKIFF_TEST_REQUIRE_DAEMONS=1, but the full-disk tests cannot run: ${problem}`);
  t.skip(problem);
  return false;
}

const BALLAST = 'ballast.bin';

export function mountTmpfs(bytes: number, opts: { on?: string } = {}): TestTmpfs {
  const dir = opts.on ?? mkdtempSync(join(tmpdir(), 'skiff-tmpfs-'));
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir]);
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    }
    if (!opts.on) rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onExitSync(unmount);
  const freeBytes = () => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    freeBytes,
    fill(leaveFree) {
      const fd = openSync(join(dir, BALLAST), 'a');
      try {
        const chunk = Buffer.alloc(64 * 1024, 0x5a);
        for (;;) {
          const room = freeBytes() - leaveFree;
          if (room <= 0) break;
          try {
            writeSync(fd, chunk, 0, Math.min(chunk.length, room));
          } catch {
            break;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    unfill() {
      rmSync(join(dir, BALLAST), { force: true });
    },
    unmount() {
      unregister();
      unmount();
    },
  };
}

export const BALLAST_FILE = BALLAST;
