/**
 * Forces the failure a directory fsync can meet on a real disk (EIO) in unit specs: while `fn`
 * runs, every fsync of a directory (FileHandle.sync and fs.fsyncSync) fails with EIO, or only
 * is counted with `fail: false`; fsyncs of files go through.
 */
import fs = require('node:fs');
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const eio = (): NodeJS.ErrnoException => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });

export async function withFailingDirectorySync<T>(fn: () => Promise<T> | T, opts: { fail: boolean } = { fail: true }): Promise<{ result: T; directorySyncs: number }> {
  const probe = await open(tmpdir(), 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const sync = proto.sync;
  const fsyncSync = fs.fsyncSync;
  let directorySyncs = 0;
  proto.sync = async function (this: { stat: () => Promise<fs.Stats> }) {
    if ((await this.stat()).isDirectory()) {
      directorySyncs++;
      if (opts.fail) throw eio();
    }
    return sync.call(this);
  };
  fs.fsyncSync = (fd: number) => {
    if (fs.fstatSync(fd).isDirectory()) {
      directorySyncs++;
      if (opts.fail) throw eio();
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
 * Runs `fn` with every directory fsync failing (withFailingDirectorySync) and collects the
 * process warnings of code SKIFF_DIRECTORY_SYNC it caused (the default report of a published
 * entry whose directory could not be flushed).
 */
export async function unflushedDirectoryWarnings<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === 'SKIFF_DIRECTORY_SYNC') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    const { result } = await withFailingDirectorySync(fn);
    // process warnings are emitted on the next tick
    await new Promise((resolve) => setImmediate(resolve));
    return { result, warnings };
  } finally {
    process.off('warning', onWarning);
  }
}
