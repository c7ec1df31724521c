import { chmod, mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type DirImageReference, type ImageReference, expectTransport } from '../../image-spec/image-reference';
import type { LocalStorage } from '../../storage/local-storage';
import { StorageConflictError } from '../../storage/storage-errors';
import { resolveInStorageRoot } from '../../storage/storage-root';
import { tempName } from '../../storage/temp-names';
import type { DestinationProbe, ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { DirDestination, DirProbe, checkReplaceable, writeDirVersion } from './dir.destination';
import { DirSource } from './dir.source';

/** The `dir:PATH` transport: skopeo's directory format under the storage root (no delete, as skopeo). */
export class DirTransport implements ImageTransport {
  readonly name = 'dir' as const;
  /** Opening a destination stages a new image, which cannot tell what PATH holds. */
  readonly probeBeforeOpening = true;

  constructor(private readonly local: LocalStorage) {}

  async openSource(ref: ImageReference, _ctx: TransportContext): Promise<ImageSource> {
    return this.source(expectTransport(ref, 'dir'));
  }

  private async source(dir: DirImageReference): Promise<DirSource> {
    return new DirSource(dir, await resolveInStorageRoot(this.local.storageRoot, dir.path), this.local.storageRoot);
  }

  async probeDestination(ref: ImageReference, _ctx: TransportContext): Promise<DestinationProbe> {
    const dir = expectTransport(ref, 'dir');
    return new DirProbe(dir, await this.source(dir));
  }

  /**
   * Sweeps what gone writers left beside PATH, then stages a new image in a temp directory next
   * to it (see DirDestination). A staging directory that cannot be set up (out of space:
   * INSUFFICIENT_STORAGE) is removed again.
   */
  async openDestination(ref: ImageReference, _ctx: TransportContext): Promise<ImageDestination> {
    const dir = expectTransport(ref, 'dir');
    const name = `dir:${dir.path}`;
    const target = await resolveInStorageRoot(this.local.storageRoot, dir.path);
    const root = await resolveInStorageRoot(this.local.storageRoot, '.');
    if (target === root) throw new StorageConflictError(`${name}: the storage root itself cannot be replaced by an image`);
    await checkReplaceable(target, name);
    const parent = dirname(target);
    const staging = join(parent, tempName(this.local.owner.id, basename(target)));
    await this.local.storage.guard({ what: name, dir: root }, async () => {
      await mkdir(parent, { recursive: true });
      await this.local.sweepDirectory(parent);
      try {
        await mkdir(staging, { mode: 0o755 });
        await chmod(staging, 0o755);
        await writeDirVersion(staging, this.local.storageTarget(`${name}: version`));
      } catch (e) {
        await rm(staging, { recursive: true, force: true });
        throw e;
      }
    });
    return new DirDestination(dir, target, staging, this.local);
  }
}
