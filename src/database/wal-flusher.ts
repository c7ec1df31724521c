import { type FileHandle, open } from 'node:fs/promises';

/**
 * Makes the commits of a SQLite database in WAL mode with `synchronous = NORMAL` durable
 * without stopping the event loop: flush() fdatasyncs the WAL file on the thread pool (what
 * `synchronous = FULL` does inside COMMIT, on the caller's thread). A commit's frames are in
 * the WAL once COMMIT returns; a flush that starts after that makes them survive a power loss
 * (and every commit before them: the WAL is written in order). SQLite itself syncs the WAL
 * before a checkpoint copies it and the database after, so a commit is durable in one place or
 * the other.
 *
 * Contract: flush() resolves once every commit made before the call is on disk. Calls while a
 * flush runs share the next one (group commit): at most one runs and one waits. A WAL file that
 * cannot be opened rejects the calls that waited for it; it is opened again for the next flush.
 * A failed fdatasync is for good (`failure`): the kernel may have dropped the dirty pages it
 * could not write and reports that error once, so a later fdatasync that succeeds proves
 * nothing about the frames before it (a hole in the WAL: SQLite's recovery then stops at it,
 * losing every later commit). Every flush from then on rejects; the store reports it unready.
 */
export class WalFlusher {
  private handle?: Promise<FileHandle>;
  private running?: Promise<void>;
  private waiting?: Promise<void>;
  /** fdatasync calls made (for tests and metrics: concurrent commits share them). */
  syncs = 0;
  /** The fdatasync that failed: no commit made durable by this flusher since can be trusted. */
  failure: Error | undefined;

  constructor(private readonly walPath: string) {}

  flush(): Promise<void> {
    // One not started yet covers this commit too.
    if (this.waiting) return this.waiting;
    const before = this.running ?? Promise.resolve();
    const next: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        if (this.waiting === next) this.waiting = undefined;
        this.running = next;
        return this.sync();
      })
      .finally(() => {
        if (this.running === next) this.running = undefined;
      });
    this.waiting = next;
    return next;
  }

  private async sync(): Promise<void> {
    if (this.failure) throw this.failure;
    this.handle ??= open(this.walPath, 'r');
    const handle = this.handle;
    let fh: FileHandle;
    try {
      fh = await handle;
    } catch (e) {
      if (this.handle === handle) this.handle = undefined;
      throw e;
    }
    this.syncs++;
    try {
      await fh.datasync();
    } catch (e) {
      this.failure ??= new Error(`fdatasync of ${this.walPath} failed (${(e as Error).message}): commits since the last one on disk may be lost; restart skiff`, { cause: e });
      throw this.failure;
    }
  }

  /** Waits for flushes under way, then closes the file. */
  async close(): Promise<void> {
    await this.waiting?.catch(() => undefined);
    await this.running?.catch(() => undefined);
    const handle = this.handle;
    this.handle = undefined;
    await handle?.then((fh) => fh.close()).catch(() => undefined);
  }
}
