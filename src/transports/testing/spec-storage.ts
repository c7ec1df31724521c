import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { LocalStorage } from '../../storage/local-storage';

/** A LocalStorage of the transports' unit specs, on a storage root and data directory of their own. */
export interface SpecStorage {
  /** The storage root (real path). */
  readonly root: string;
  /** The LocalStorage once opened: await it in the spec's before() hook. */
  readonly ready: Promise<LocalStorage>;
  /** The LocalStorage, once `ready` has resolved. */
  readonly local: LocalStorage;
}

/**
 * A LocalStorage on fresh temp directories (`<prefix>-…`) for the calling spec file: opened at
 * once (`ready`), closed and its directories removed after the file's tests.
 */
export function specStorage(prefix: string): SpecStorage {
  const root = realpathSync(mkdtempSync(join(tmpdir(), `${prefix}-`)));
  const data = realpathSync(mkdtempSync(join(tmpdir(), `${prefix}-data-`)));
  let local: LocalStorage | undefined;
  const ready = LocalStorage.open({ storageRoot: root, dataDir: data, leaseMs: 30_000, minFreeBytes: 0 });
  void ready.then((opened) => (local = opened), () => undefined);
  after(async () => {
    await (await ready.catch(() => undefined))?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  return {
    root,
    ready,
    get local(): LocalStorage {
      if (!local) throw new Error('specStorage: await `ready` (in a before() hook) before using the LocalStorage');
      return local;
    },
  };
}
