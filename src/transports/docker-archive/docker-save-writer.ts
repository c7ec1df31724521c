import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AbortedError, DomainError, OperationNotSupportedError } from '../../errors/domain-error';
import { digestHex } from '../../image-spec/digest';
import type { DockerReference } from '../../image-spec/docker-reference';
import { type ImageManifest, parseManifest, MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import { MediaType } from '../../image-spec/media-types';
import { type WriteTarget, writeBlobFile } from '../../storage/atomic-write';
import type { TarWriter } from '../archive/tar-writer';
import type { BlobInfo } from '../transport';
import { configFileName, layerFileName, legacyLayers, manifestJson, repoTagString, repositoriesJson } from './legacy-metadata';

/**
 * Blobs staged for a `docker save` archive (docker-archive files and daemon loads). Contract:
 * put() may run concurrently; a blob is recorded only after its verified stream ended and its
 * size matched, under a name derived from its digest; a failed put leaves no file; a known
 * size that cannot fit, or a staging area that runs out of space, is INSUFFICIENT_STORAGE. The
 * caller removes the directory when done.
 */
export class StagedBlobs {
  private readonly staged = new Map<string, { file: string; size: number }>();

  constructor(
    private readonly dir: string,
    /** Who stages and where (the data directory's staging area); `what` names the destination. */
    private readonly target: WriteTarget,
  ) {}

  /** Bytes the archive of `image` takes: each distinct layer and the config padded to 512-byte blocks, headers and small entries. */
  archiveSize(image: { manifest: ImageManifest; configBytes: Buffer }): number {
    const pad = (n: number) => Math.ceil(n / 512) * 512;
    const layers = new Set(image.manifest.layers.map((l) => l.digest));
    let total = 0;
    for (const d of layers) total += 512 + pad(this.staged.get(d)?.size ?? 0);
    // config, the legacy directories (symlink, VERSION, json per layer), manifest.json, repositories
    total += 512 + pad(image.configBytes.length) + image.manifest.layers.length * 3 * 1024 + 64 * 1024 + 1024;
    return total;
  }

  has(digest: string): boolean {
    return this.staged.has(digest);
  }

  async put(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    const fileOf = (digest: string) => join(this.dir, `blob-${digestHex(digest)}`);
    try {
      // staged for one archive, never published: no flush, readable by this service only
      const target = { ...this.target, what: `${this.target.what}: staging blob ${blob.known?.digest ?? '(decompressed layer)'}` };
      const info = await writeBlobFile(stream, this.dir, blob, (partial, digest) => rename(partial, fileOf(digest)), target, { signal: opts.signal, durable: false, mode: 0o600 });
      this.staged.set(info.digest, { file: fileOf(info.digest), size: info.size });
      return info;
    } catch (e) {
      if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw e;
    }
  }

  private get(digest: string, what: string): { file: string; size: number } {
    const s = this.staged.get(digest);
    if (!s) throw new Error(`${what}: blob ${digest} was not written before the manifest`);
    return s;
  }

  /**
   * Checks that a manifest can be written as a `docker save` archive (a single Docker v2s2
   * image whose blobs are all staged) and reads its config. `what` names the destination kind
   * in messages ("a docker-archive", "a daemon").
   */
  async prepare(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string }, what: string): Promise<{ manifest: ImageManifest; configBytes: Buffer }> {
    if (opts.instanceDigest !== undefined) throw new OperationNotSupportedError(`manifest lists are not supported by ${what}`);
    if (mediaType !== MediaType.dockerV2S2) throw new OperationNotSupportedError(`${what} stores Docker v2s2 images only, not ${mediaType}`);
    const manifest = parseManifest(bytes, mediaType);
    if (manifest.kind !== 'image') throw new OperationNotSupportedError(`${what} stores single images only`);
    const config = this.get(manifest.config.digest, what);
    if (config.size > MANIFEST_SIZE_LIMIT) throw new DomainError('BODY_TOO_LARGE', `the image config is ${config.size} bytes, more than ${MANIFEST_SIZE_LIMIT}`);
    for (const l of manifest.layers) this.get(l.digest, what);
    return { manifest, configBytes: await readFile(config.file) };
  }

  /**
   * Writes the archive's entries in containers/image's order — layers, config, the legacy
   * per-layer directories, manifest.json, repositories — then closes the tar.
   */
  async writeArchive(tar: TarWriter, image: { manifest: ImageManifest; configBytes: Buffer }, repoTags: readonly DockerReference[]): Promise<void> {
    const { manifest, configBytes } = image;
    const layerDigests = manifest.layers.map((l) => l.digest);
    const written = new Set<string>();
    for (const d of layerDigests) {
      if (written.has(d)) continue;
      written.add(d);
      const s = this.get(d, 'archive');
      await tar.addFile(layerFileName(d), s.size, s.file);
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
    await tar.addBytes('manifest.json', manifestJson({ config: configFileName(manifest.config.digest), repoTags: repoTags.map(repoTagString), layers: layerDigests.map(layerFileName) }));
    await tar.addBytes('repositories', repositoriesJson(repoTags, legacy[legacy.length - 1]?.id));
    await tar.close();
  }
}
