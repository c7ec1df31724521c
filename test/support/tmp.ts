/**
 * Temporary directories for tests.
 *
 * Contract: `makeTmpDir` creates a fresh, empty, private directory under
 * `$SKIFF_TEST_TMPDIR` (default: the OS tmp dir). It is removed by `removeTmpDir`
 * or, if the test forgets, at process exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onExitSync } from './cleanup';

const unregister = new Map<string, () => void>();

function baseDir(): string {
  return process.env.SKIFF_TEST_TMPDIR || tmpdir();
}

function track(dir: string): string {
  unregister.set(
    dir,
    onExitSync(() => rmSync(dir, { recursive: true, force: true })),
  );
  return dir;
}

/** Creates a fresh tmp dir whose name starts with `prefix`; absolute path. */
export async function makeTmpDir(prefix = 'skiff-test-'): Promise<string> {
  return track(await mkdtemp(join(baseDir(), prefix)));
}

/** Synchronous variant of `makeTmpDir`, for lazily created per-process fixtures. */
export function makeTmpDirSync(prefix = 'skiff-test-'): string {
  return track(mkdtempSync(join(baseDir(), prefix)));
}

/** Removes a dir made by `makeTmpDir` (recursive; missing dir is fine). */
export async function removeTmpDir(dir: string): Promise<void> {
  unregister.get(dir)?.();
  unregister.delete(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
