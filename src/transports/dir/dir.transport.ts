import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type ImageReference, expectTransport } from '../../image-spec/image-reference';
import { resolveInStorageRoot } from '../../storage/storage-root';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { StorageConflictError } from '../../storage/storage-errors';
import { DirDestination, checkReplaceable, writeDirVersion } from './dir.destination';
import { DirSource } from './dir.source';

/** The `dir:PATH` transport: skopeo's directory format under the storage root (no delete, as skopeo). */
export class DirTransport implements ImageTransport {
  readonly name = 'dir' as const;

  constructor(private readonly storageRoot: string) {}


  async openSource(ref: ImageReference, _ctx: TransportContext): Promise<ImageSource> {
    const dir = expectTransport(ref, 'dir');
    return new DirSource(dir, await resolveInStorageRoot(this.storageRoot, dir.path), this.storageRoot);
  }

  async openDestination(ref: ImageReference, _ctx: TransportContext): Promise<ImageDestination> {
    const dir = expectTransport(ref, 'dir');
    const target = await resolveInStorageRoot(this.storageRoot, dir.path);
    const root = await resolveInStorageRoot(this.storageRoot, '.');
    if (target === root) throw new StorageConflictError(`dir:${dir.path}: the storage root itself cannot be replaced by an image`);
    await checkReplaceable(target, `dir:${dir.path}`);
    await mkdir(dirname(target), { recursive: true });
    const staging = await mkdtemp(join(dirname(target), `.${basename(target)}.skiff-`));
    await chmod(staging, 0o755);
    await writeDirVersion(staging);
    return new DirDestination(dir, target, staging);
  }
}
