import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomainError } from '../../errors/domain-error';
import { type ImageReference, type OciImageReference, formatImageReference, expectTransport } from '../../image-spec/image-reference';
import { InvalidReferenceError } from '../../image-spec/invalid-reference-error';
import type { LocalStorage } from '../../storage/local-storage';
import { StorageConflictError, fsErrorCode } from '../../storage/storage-errors';
import { resolveInStorageRoot } from '../../storage/storage-root';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { withLayoutLock } from './layout-lock';
import { type IndexEntry, type OciIndex, type IndexSelector, selectIndexEntry } from './oci-index';
import { OciLayout } from './oci-layout';
import { OciDestination, othersWriting } from './oci.destination';
import { OciSource } from './oci.source';

/** What a layout's index.json selects for a reference, or the matching domain error. */
export function selectOrThrow(index: OciIndex, sel: IndexSelector, layout: { readonly name: string }, reference: string): { entry: IndexEntry; position: number } {
  const found = selectIndexEntry(index, sel);
  if ('entry' in found) return found;
  if (found.problem === 'ambiguous') throw new InvalidReferenceError({ subject: 'image name', input: reference, reason: found.message });
  throw new DomainError('IMAGE_NOT_FOUND', `${layout.name}: ${found.message}`);
}

/** Opens an existing layout's index.json for reading; no layout there is IMAGE_NOT_FOUND. */
export async function readExistingIndex(layout: OciLayout): Promise<OciIndex> {
  const index = await layout.readIndex();
  if (!index) throw new DomainError('IMAGE_NOT_FOUND', `${layout.name}: no OCI layout there (index.json does not exist)`);
  return index;
}

/**
 * Prepares `dir` as a layout to write into: refuses a path that is a file (STORAGE_CONFLICT)
 * and an existing index.json that is not valid (LAYOUT_INVALID, as skopeo fails on it too);
 * creates the directory and blobs/sha256 (out of space: INSUFFICIENT_STORAGE, and a directory
 * it created is removed again). Returns whether the directory was created.
 */
export async function prepareLayoutForWriting(layout: OciLayout): Promise<{ createdDir: boolean }> {
  let createdDir = false;
  try {
    const st = await stat(layout.dir);
    if (!st.isDirectory()) throw new StorageConflictError(`${layout.name}: the path exists and is not a directory`);
  } catch (e) {
    if (fsErrorCode(e) !== 'ENOENT') throw e;
    createdDir = true;
  }
  if (!createdDir) await layout.readIndex();
  const volume = layout.io?.volume;
  try {
    await mkdir(layout.dir, { recursive: true });
    await mkdir(await layout.confinedBlobDir('sha256'), { recursive: true });
  } catch (e) {
    if (createdDir) await layout.removeIfEmpty();
    throw volume ? await volume.explain(e, { what: layout.name, dir: dirname(layout.dir) }) : e;
  }
  return { createdDir };
}

/**
 * The `oci:PATH[:NAME]` transport: OCI image layouts under the storage root, read and written
 * as skopeo 1.9 does, plus delete (newer skopeo's `delete oci:…`): the entry goes from
 * index.json and the blobs only it referenced are collected.
 */
export class OciTransport implements ImageTransport {
  readonly name = 'oci' as const;

  constructor(private readonly local: LocalStorage) {}

  private async layoutOf(ref: OciImageReference): Promise<OciLayout> {
    const dir = await resolveInStorageRoot(this.local.storageRoot, ref.path);
    return new OciLayout(dir, this.local.storageRoot, `oci:${ref.path}`, { owner: this.local.owner, volume: this.local.storage });
  }

  async openSource(ref: ImageReference, _ctx: TransportContext): Promise<ImageSource> {
    const oci = expectTransport(ref, 'oci');
    const layout = await this.layoutOf(oci);
    const { entry } = selectOrThrow(await readExistingIndex(layout), oci, layout, formatImageReference(oci));
    return new OciSource(oci, layout, entry);
  }

  async openDestination(ref: ImageReference, _ctx: TransportContext): Promise<ImageDestination> {
    const oci = expectTransport(ref, 'oci');
    if (oci.sourceIndex !== undefined) {
      throw new InvalidReferenceError({ subject: 'image name', input: formatImageReference(oci), reason: 'an @INDEX reference can only be read from, not written to' });
    }
    const layout = await this.layoutOf(oci);
    const { createdDir } = await prepareLayoutForWriting(layout);
    return OciDestination.open(oci, layout, { createdDir, image: oci.image });
  }

  /**
   * Removes the entry the reference selects from index.json (atomically, first), then deletes
   * the blobs reachable from it that no remaining entry reaches, under the layout lock. Blobs
   * are kept when a destination (of this process, or a live one of another replica) is writing
   * into the layout, or when a remaining manifest cannot be read (a collector never guesses).
   * Returns the entry's digest.
   */
  async deleteImage(ref: ImageReference, ctx: TransportContext): Promise<string> {
    const oci = expectTransport(ref, 'oci');
    const layout = await this.layoutOf(oci);
    await readExistingIndex(layout);
    const collect = () => withLayoutLock(
      layout.dir,
      this.local.owner,
      async () => {
        const index = await readExistingIndex(layout);
        const { entry, position } = selectOrThrow(index, oci, layout, formatImageReference(oci));
        const remaining = index.manifests.filter((_, i) => i !== position);
        await layout.writeIndex({ ...index, manifests: remaining });
        if (await othersWriting(layout, 0)) return entry.digest;
        let keep: Map<string, number>;
        try {
          keep = await layout.reachableBlobs(remaining, { strict: false });
        } catch {
          return entry.digest;
        }
        const mine = await layout.reachableBlobs([entry], { strict: false }).catch(() => new Map<string, number>([[entry.digest, entry.size]]));
        await layout.removeBlobs([...mine.keys()].filter((d) => !keep.has(d)));
        return entry.digest;
      },
      { signal: ctx.signal, name: layout.name },
    );
    return this.local.storage.guard({ what: layout.name, dir: layout.dir }, collect);
  }
}
