import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { OciArchiveImageReference } from '../../image-spec/image-reference';
import type { BlobInfo, ImageDestination, MountSource } from '../transport';
import { FILE_WRITE_HIGH_WATER_MARK, tempPath } from '../../storage/atomic-write';
import { removeTree } from './oci-layout';
import type { OciDestination } from './oci.destination';

/**
 * Packs the directory tree `dir` into a tar stream as containers/storage's archive.Tar does for
 * skopeo's oci-archive: paths relative to `dir`, in filepath.Walk order (lexical per
 * directory), directories with a trailing slash, owner 0:0 root, modes 0755/0644, mtimes of the
 * files. Hidden temp files (`.…skiff-….tmp`) and lock files are never in it: packing starts
 * after the layout's commit.
 */
async function packTree(dir: string, pack: tar.Pack, signal?: AbortSignal): Promise<void> {
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
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

/**
 * ImageDestination into an OCI archive, as skopeo's oci-archive destination: the image is
 * written into a private layout (a temp directory under the data directory) by an
 * OciDestination; the commit (top-level putManifest) commits that layout, then tars it into a
 * hidden temp file next to PATH and renames it onto PATH. The archive holds only the new image:
 * an existing archive at PATH is replaced, not extended (skopeo writes a new archive too).
 * close() removes the private layout and any unfinished temp archive.
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
    private readonly archivePath: string,
    private readonly layoutDir: string,
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
    const temp = tempPath(dirname(this.archivePath), basename(this.archivePath));
    this.tempArchive = temp;
    const pack = tar.pack();
    const written = pipeline(pack, createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: FILE_WRITE_HIGH_WATER_MARK }), { signal: opts.signal });
    try {
      await packTree(this.layoutDir, pack, opts.signal);
      pack.finalize();
    } catch (e) {
      pack.destroy(e as Error);
      await written.catch(() => undefined);
      throw e;
    }
    await written;
    await rename(temp, this.archivePath);
    this.tempArchive = undefined;
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      if (this.tempArchive) await rm(this.tempArchive, { force: true });
      await removeTree(this.layoutDir);
    }
  }
}
