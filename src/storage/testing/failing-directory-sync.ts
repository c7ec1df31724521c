/**
 * Forces the failure a directory fsync can meet on a real disk (EIO) in unit specs: while `fn`
 * runs, every fsync of a directory (FileHandle.sync and fs.fsyncSync) fails with EIO, or only
 * is counted with `fail: false`; fsyncs of files go through.
 */
import fs = require('node:fs');
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const eio = (): NodeJS.ErrnoException => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });

export async function withFailingDirectorySync<T>(
  fn: () => Promise<T> | T,
  opts: { fail: boolean; onlyIn?: readonly string[] } = { fail: true },
): Promise<{ result: T; directorySyncs: number }> {
  // `onlyIn`: fail the fsyncs of these directories only (matched by inode), count all.
  const only = opts.onlyIn ? new Set(opts.onlyIn.map((d) => fs.statSync(d).ino)) : undefined;
  const failing = (st: fs.Stats): boolean => opts.fail && (!only || only.has(st.ino));
  const probe = await open(tmpdir(), 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const sync = proto.sync;
  const fsyncSync = fs.fsyncSync;
  let directorySyncs = 0;
  proto.sync = async function (this: { stat: () => Promise<fs.Stats> }) {
    const st = await this.stat();
    if (st.isDirectory()) {
      directorySyncs++;
      if (failing(st)) throw eio();
    }
    return sync.call(this);
  };
  fs.fsyncSync = (fd: number) => {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) {
      directorySyncs++;
      if (failing(st)) throw eio();
    }
    fsyncSync(fd);
  };
  try {
    return { result: await fn(), directorySyncs };
  } finally {
    proto.sync = sync;
    fs.fsyncSync = fsyncSync;
  }
}

/**
 * Runs `fn` with every directory fsync (or those `onlyIn`) failing (withFailingDirectorySync) and collects the
 * process warnings of code SKIFF_DIRECTORY_SYNC it caused (the default report of a published
 * entry whose directory could not be flushed).
 */
export async function unflushedDirectoryWarnings<T>(fn: () => Promise<T>, opts: { onlyIn?: readonly string[] } = {}): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === 'SKIFF_DIRECTORY_SYNC') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    const { result } = await withFailingDirectorySync(fn, { fail: true, onlyIn: opts.onlyIn });
    // process warnings are emitted on the next tick
    await new Promise((resolve) => setImmediate(resolve));
    return { result, warnings };
  } finally {
    process.off('warning', onWarning);
  }
}
