import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { OciArchiveImageReference } from '../../image-spec/image-reference';
import type { BlobInfo, ImageDestination, MountSource } from '../transport';
import { FILE_WRITE_HIGH_WATER_MARK, syncPublishedDirectory } from '../../storage/atomic-write';
import type { LocalStorage } from '../../storage/local-storage';
import { tempName } from '../../storage/temp-names';
import { removeTree } from './oci-layout';
import type { OciDestination } from './oci.destination';

/**
 * Packs the directory tree `dir` into a tar stream as containers/storage's archive.Tar does for
 * skopeo's oci-archive: paths relative to `dir`, in filepath.Walk order (lexical per
 * directory), directories with a trailing slash, owner 0:0 root, modes 0755/0644, mtimes of the
 * files. Temp files, writer markers and lock files are never in it: the layout is private
 * (no other writer), packing starts after its commit and skips names starting with `.skiff-`.
 */
async function packTree(dir: string, pack: tar.Pack, signal?: AbortSignal): Promise<void> {
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      if (name.startsWith('.skiff-') || name === 'index.json.lock') continue;
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const path = rel ? `${rel}/${name}` : name;
      const st = await stat(join(dir, path));
      const common = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: st.mtime };
      if (st.isDirectory()) {
        pack.entry({ ...common, name: `${path}/`, type: 'directory', mode: 0o755 });
        await walk(path);
      } else if (st.isFile()) {
        const entry = pack.entry({ ...common, name: path, type: 'file', mode: 0o644, size: st.size });
        await pipeline(createReadStream(join(dir, path), { highWaterMark: FILE_WRITE_HIGH_WATER_MARK }), entry, { signal });
      }
    }
  };
  await walk('');
}

/** Bytes of the files of a tree (what packing it needs, before tar headers). */
async function treeSize(dir: string): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  for (const name of await readdir(dir)) {
    const st = await stat(join(dir, name));
    entries++;
    if (st.isDirectory()) {
      const sub = await treeSize(join(dir, name));
      bytes += sub.bytes;
      entries += sub.entries;
    } else if (st.isFile()) bytes += st.size;
  }
  return { bytes, entries };
}

/**
 * ImageDestination into an OCI archive, as skopeo's oci-archive destination: the image is
 * written into a private layout (a staging directory under the data directory) by an
 * OciDestination; the commit (top-level putManifest) commits that layout, checks that the
 * archive fits in the storage root's free space, then tars it into a temp file next to PATH
 * (`.skiff-tmp-<owner>-…`) and renames it onto PATH. The archive holds only the new image:
 * an existing archive at PATH is replaced, not extended (skopeo writes a new archive too).
 * Every failure of the packing — out of space included, as INSUFFICIENT_STORAGE — is the
 * commit's rejection (no promise of it is left unobserved); close() removes the private layout
 * and any unfinished temp archive. Once the archive is renamed onto PATH the commit resolves:
 * a directory that cannot be flushed after it is reported (syncPublishedDirectory).
 */
export class OciArchiveDestination implements ImageDestination {
  readonly layerCompression = 'compress' as const;
  readonly acceptsIndexes = true;
  readonly hostKey = 'local:oci-archive';
  readonly blobScope: string;
  private tempArchive?: string;

  constructor(
    readonly reference: OciArchiveImageReference,
    private readonly inner: OciDestination,
    private readonly out: { archivePath: string; layoutDir: string; local: LocalStorage },
  ) {
    this.blobScope = inner.blobScope;
  }

  supportedManifestTypes(): readonly string[] {
    return this.inner.supportedManifestTypes();
  }

  tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | 'mounted' | undefined> {
    return this.inner.tryReuseBlob(blob, opts);
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.inner.putBlob(stream, blob, opts);
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    await this.inner.putManifest(bytes, mediaType, opts);
    if (opts.instanceDigest) return;
    const { archivePath, layoutDir, local } = this.out;
    const dir = dirname(archivePath);
    const what = `oci-archive:${this.reference.path}`;
    const tree = await treeSize(layoutDir);
    // tar: a 512-byte header per entry, each file padded to 512 bytes, two closing blocks
    const needed = tree.bytes + tree.entries * 1024 + 1024;
    await local.storage.ensureRoom({ what, dir, needed });
    await local.storage.guard({ what, dir, needed }, async () => {
      const temp = join(dir, tempName(local.owner.id, basename(archivePath)));
      this.tempArchive = temp;
      const pack = tar.pack();
      const file = createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: FILE_WRITE_HIGH_WATER_MARK, fs: local.storage.writeStreamFs({ what, dir, needed }) });
      const written = pipeline(pack, file, { signal: opts.signal });
      // Observed at once: the file may fail (ENOSPC) while the tree is still being packed.
      written.catch(() => undefined);
      try {
        await packTree(layoutDir, pack, opts.signal);
        pack.finalize();
      } catch (e) {
        pack.destroy(e as Error);
        // the file's own failure (out of space) is the cause when packing broke because of it
        throw await written.then(
          () => e,
          (writeError: unknown) => writeError,
        );
      }
      await written;
      await rename(temp, archivePath);
      this.tempArchive = undefined;
      await syncPublishedDirectory(dirname(archivePath));
    });
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      if (this.tempArchive) await rm(this.tempArchive, { force: true });
      await removeTree(this.out.layoutDir);
    }
  }
}
