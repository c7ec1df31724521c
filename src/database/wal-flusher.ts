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
 * flush runs share the next one (group commit): at most one runs and one waits. A failed
 * fdatasync rejects the calls that waited for it (their commits may not be durable); the file
 * is opened again for the next flush.
 */
export class WalFlusher {
  private handle?: Promise<FileHandle>;
  private running?: Promise<void>;
  private waiting?: Promise<void>;
  /** fdatasync calls made (for tests and metrics: concurrent commits share them). */
  syncs = 0;

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
    this.handle ??= open(this.walPath, 'r');
    const handle = this.handle;
    try {
      const fh = await handle;
      this.syncs++;
      await fh.datasync();
    } catch (e) {
      if (this.handle === handle) this.handle = undefined;
      await handle.then((fh) => fh.close()).catch(() => undefined);
      throw e;
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
