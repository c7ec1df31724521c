import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError, DomainError, OperationNotSupportedError } from '../../errors/domain-error';
import { digestHex } from '../../image-spec/digest';
import type { DockerReference } from '../../image-spec/docker-reference';
import type { DockerArchiveImageReference } from '../../image-spec/image-reference';
import { parseManifest } from '../../image-spec/manifest';
import { MediaType } from '../../image-spec/media-types';
import { TarWriter } from '../archive/tar-writer';
import type { BlobInfo, ImageDestination } from '../transport';
import { ARCHIVE_METADATA_LIMIT } from './docker-archive-reader';
import { configFileName, layerFileName, legacyLayers, manifestJson, repoTagString, repositoriesJson } from './legacy-metadata';
import { FILE_WRITE_HIGH_WATER_MARK } from '../../storage/atomic-write';

/**
 * ImageDestination writing a `docker save` archive as containers/image's docker-archive writer
 * does: uncompressed layers `<hex>.tar`, the config `<hex>.json`, the legacy per-layer
 * directories, `manifest.json` (Config, RepoTags, Layers) and `repositories`; RepoTags are the
 * reference's name plus the additional tags. Docker v2s2 manifests only, no manifest lists.
 *
 * Contract:
 * - putBlob() may run concurrently: each blob is staged in a private temp directory (under the
 *   service's data directory) and only recorded once its stream ended cleanly (the engine's
 *   verifying stream); a failed stream leaves no staged file.
 * - putManifest() is the commit: the whole archive is written into a temp file next to PATH
 *   (same directory, so the final step is atomic), synced, then put in place without ever
 *   replacing a non-empty file. Until then nothing exists at PATH.
 * - close() removes the staging directory and, without a commit, any unfinished archive: a
 *   failed or cancelled copy leaves neither an archive nor temp files.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly layerCompression = 'decompress' as const;
  readonly acceptsIndexes = false;
  readonly hostKey = 'local:docker-archive';
  /** Unique per destination: two copies to the same path never share staged blobs. */
  readonly blobScope = `docker-archive:${randomUUID()}`;
  private readonly staged = new Map<string, { file: string; size: number }>();
  private partialArchive?: string;

  constructor(
    readonly reference: DockerArchiveImageReference,
    /** The absolute archive path (inside the storage root). */
    private readonly path: string,
    private readonly stagingDir: string,
    private readonly repoTags: readonly DockerReference[],
  ) {}

  supportedManifestTypes(): readonly string[] {
    return [MediaType.dockerV2S2];
  }

  async tryReuseBlob(blob: BlobInfo): Promise<'present' | undefined> {
    return this.staged.has(blob.digest) ? 'present' : undefined;
  }

  async putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    const partial = join(this.stagingDir, `partial-${randomUUID()}`);
    try {
      await pipeline(stream, createWriteStream(partial, { flags: 'wx', mode: 0o600, highWaterMark: FILE_WRITE_HIGH_WATER_MARK }), { signal: opts.signal });
      const info = blob.known ?? blob.final();
      const size = (await stat(partial)).size;
      if (size !== info.size) throw new DomainError('DIGEST_MISMATCH', `blob ${info.digest}: ${size} bytes were written, ${info.size} expected`);
      const file = join(this.stagingDir, `blob-${digestHex(info.digest)}`);
      await rename(partial, file);
      this.staged.set(info.digest, { file, size });
      return info;
    } catch (e) {
      stream.destroy();
      await rm(partial, { force: true });
      if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw e;
    }
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    if (opts.instanceDigest !== undefined) throw new OperationNotSupportedError('manifest lists are not supported for docker-archive destinations');
    if (mediaType !== MediaType.dockerV2S2) throw new OperationNotSupportedError(`a docker-archive stores Docker v2s2 images only, not ${mediaType}`);
    const manifest = parseManifest(bytes, mediaType);
    if (manifest.kind !== 'image') throw new OperationNotSupportedError('a docker-archive stores single images only');
    const stagedOf = (digest: string) => {
      const s = this.staged.get(digest);
      if (!s) throw new Error(`docker-archive destination: blob ${digest} was not written before the manifest`);
      return s;
    };
    const config = stagedOf(manifest.config.digest);
    if (config.size > ARCHIVE_METADATA_LIMIT) throw new DomainError('BODY_TOO_LARGE', `the image config is ${config.size} bytes, more than ${ARCHIVE_METADATA_LIMIT}`);
    const configBytes = await readFile(config.file);
    const layerDigests = manifest.layers.map((l) => l.digest);
    for (const d of layerDigests) stagedOf(d);

    await mkdir(dirname(this.path), { recursive: true });
    const partial = join(dirname(this.path), `.${basename(this.path)}.skiff-${randomUUID()}.partial`);
    this.partialArchive = partial;
    const fh = await open(partial, 'wx', 0o644);
    try {
      const tar = new TarWriter(fh, opts.signal);
      const written = new Set<string>();
      for (const d of layerDigests) {
        if (written.has(d)) continue;
        written.add(d);
        const s = stagedOf(d);
        await tar.addStream(layerFileName(d), s.size, createReadStream(s.file, { signal: opts.signal, highWaterMark: FILE_WRITE_HIGH_WATER_MARK }));
      }
      await tar.addBytes(configFileName(manifest.config.digest), configBytes);
      const legacy = legacyLayers(layerDigests, configBytes);
      const legacyWritten = new Set<string>();
      for (let i = 0; i < legacy.length; i++) {
        const { id, json } = legacy[i]!;
        if (legacyWritten.has(id)) continue;
        legacyWritten.add(id);
        await tar.addSymlink(`${id}/layer.tar`, `../${layerFileName(layerDigests[i]!)}`);
        await tar.addBytes(`${id}/VERSION`, Buffer.from('1.0'));
        await tar.addBytes(`${id}/json`, json);
      }
      await tar.addBytes('manifest.json', manifestJson({ config: configFileName(manifest.config.digest), repoTags: this.repoTags.map(repoTagString), layers: layerDigests.map(layerFileName) }));
      await tar.addBytes('repositories', repositoriesJson(this.repoTags, legacy[legacy.length - 1]?.id));
      await tar.close();
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(partial, { force: true });
      this.partialArchive = undefined;
      if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw e;
    }
    await fh.close();
    if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
    await this.publish(partial);
    this.partialArchive = undefined;
  }

  /** Puts the finished archive at PATH: never over a non-empty file (skopeo refuses to modify an existing archive). */
  private async publish(partial: string): Promise<void> {
    try {
      await link(partial, this.path);
      await unlink(partial);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const existing = await stat(this.path).catch(() => undefined);
        if (existing?.isFile() && existing.size === 0) {
          await rename(partial, this.path);
          return;
        }
        await rm(partial, { force: true });
        throw existingArchiveError(this.reference.path);
      }
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') {
        // file systems without hard links: a plain rename (the existence check happened at open)
        await rename(partial, this.path);
        return;
      }
      await rm(partial, { force: true });
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.partialArchive) await rm(this.partialArchive, { force: true });
    await rm(this.stagingDir, { recursive: true, force: true });
  }
}

/** skopeo: "docker-archive doesn't support modifying existing images". */
export function existingArchiveError(path: string): DomainError {
  return new DomainError('STORAGE_CONFLICT', `docker-archive:${path} already exists: docker-archive doesn't support modifying existing images; remove it or choose another path`);
}
