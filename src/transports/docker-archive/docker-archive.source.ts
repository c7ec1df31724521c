import { posix } from 'node:path';
import { Readable, type Transform, pipeline as pipelineCb } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { AbortedError, DomainError, OperationNotSupportedError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import type { DockerReference } from '../../image-spec/docker-reference';
import type { DockerArchiveImageReference } from '../../image-spec/image-reference';
import type { IndexedFile } from '../archive/tar-index';
import { ArchiveInvalidError } from '../archive/tar-policy';
import type { BlobReadOptions, BlobStream, ImageSource, ManifestBlob } from '../transport';
import { type DockerArchiveReader, type ManifestItem } from './docker-archive-reader';
import { compressionOfHead, dockerSaveManifest, type LayerCompression, layerDiffIds } from './docker-save-image';
import { MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';

type LayerCompressionKind = Exclude<LayerCompression, 'bzip2' | 'xz'>;

interface KnownLayer {
  file: IndexedFile;
  compression: LayerCompressionKind;
  /** Uncompressed size (what getBlob streams). */
  size: number;
}

/**
 * ImageSource over one image of a docker-archive (containers/image docker/internal/tarfile
 * Source). The manifest is generated as containers/image generates it: Docker v2s2, the config
 * as stored, one layer per config `rootfs.diff_ids` entry with digest = that DiffID, size = the
 * uncompressed size of the layer file, media type `…rootfs.diff.tar.gzip` (whatever the file's
 * compression; getBlob always streams the uncompressed layer, whose digest is the DiffID).
 *
 * Contract: open() reads manifest.json, the config and (for compressed layer files) the layers
 * once; blobs are streamed in place from the archive. The engine verifies every blob, so a
 * DiffID that lies about its layer fails the copy (DIGEST_MISMATCH). close() removes the temp
 * files of the reader.
 */
export class DockerArchiveSource implements ImageSource {
  private constructor(
    readonly reference: DockerArchiveImageReference,
    private readonly reader: DockerArchiveReader,
    private readonly manifest: ManifestBlob,
    private readonly config: { digest: string; bytes: Buffer },
    private readonly layers: Map<string, KnownLayer>,
  ) {}

  get dockerReference(): DockerReference | undefined {
    return this.reference.named;
  }

  static async open(reference: DockerArchiveImageReference, reader: DockerArchiveReader, signal?: AbortSignal): Promise<DockerArchiveSource> {
    const what = reader.displayName;
    const { item, index } = reader.choose(reference);
    const where = `${what}: manifest.json item @${index}`;
    const configFile = fileOf(reader, item.Config, `${where}: config`);
    const configBytes = await reader.index.read(configFile, MANIFEST_SIZE_LIMIT, `${where}: config`, signal);
    const diffIds = layerDiffIds(configBytes, item.Layers.length, where);
    const layers = await knownLayers(reader, item, diffIds, where, signal);
    const { manifest, config } = dockerSaveManifest(configBytes, diffIds, (d) => layers.get(d)!.size);
    return new DockerArchiveSource(reference, reader, manifest, config, layers);
  }

  async getManifest(opts: { instanceDigest?: string; signal?: AbortSignal } = {}): Promise<ManifestBlob> {
    if (opts.instanceDigest !== undefined) throw new OperationNotSupportedError('docker-archive images are single images: they have no manifest list instances');
    return this.manifest;
  }

  /** Layers are announced as tar.gzip (containers/image's manifest) but always streamed uncompressed. */
  actualCompression(descriptor: { digest: string }): 'none' | undefined {
    return this.layers.has(descriptor.digest) ? 'none' : undefined;
  }

  async getBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions = {}): Promise<BlobStream> {
    if (descriptor.digest === this.config.digest) return { stream: Readable.from([this.config.bytes]), size: this.config.bytes.length };
    const layer = this.layers.get(descriptor.digest);
    if (!layer) throw new DomainError('IMAGE_NOT_FOUND', `${this.reader.displayName}: unknown blob ${descriptor.digest}`);
    const raw = this.reader.index.open(layer.file, opts.signal);
    if (layer.compression === 'none') return { stream: raw, size: layer.size };
    // errors and early destruction travel both ways (the caller may stop reading at any time)
    const inflated = pipelineCb(raw, decompressor(layer.compression), () => undefined);
    return { stream: inflated, size: layer.size };
  }

  async readBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions & { limit?: number } = {}): Promise<Buffer> {
    const limit = opts.limit ?? MANIFEST_SIZE_LIMIT;
    if (descriptor.digest === this.config.digest) return this.config.bytes;
    const layer = this.layers.get(descriptor.digest);
    if (!layer) throw new DomainError('IMAGE_NOT_FOUND', `${this.reader.displayName}: unknown blob ${descriptor.digest}`);
    if (layer.size > limit) throw new DomainError('BODY_TOO_LARGE', `reading blob ${descriptor.digest}: ${layer.size} bytes exceed the ${limit}-byte limit`);
    const { stream } = await this.getBlob(descriptor, opts);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    if (digestOf(bytes) !== descriptor.digest) throw new DomainError('DIGEST_MISMATCH', `reading blob ${descriptor.digest}: the content hashes to ${digestOf(bytes)}`);
    return bytes;
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}

function fileOf(reader: DockerArchiveReader, path: string, what: string): IndexedFile {
  if (path === '') throw new ArchiveInvalidError(`${what}: no path given`);
  const file = reader.index.file(posix.normalize(path));
  if (!file) throw new ArchiveInvalidError(`${what} ${JSON.stringify(path)} is not a file of the archive`);
  return file;
}

/**
 * The layers by DiffID (containers/image prepareLayerData): each DiffID once, from the file its
 * first occurrence names; one file may not serve two DiffIDs. Compressed files are read through
 * once to learn their uncompressed size.
 */
async function knownLayers(reader: DockerArchiveReader, item: ManifestItem, diffIds: string[], where: string, signal?: AbortSignal): Promise<Map<string, KnownLayer>> {
  const known = new Map<string, KnownLayer>();
  const byPath = new Map<string, string>();
  for (let i = 0; i < diffIds.length; i++) {
    const diffId = diffIds[i]!;
    if (known.has(diffId)) continue;
    const path = posix.normalize(item.Layers[i]!);
    if (byPath.has(path)) throw new ArchiveInvalidError(`${where}: layer file ${JSON.stringify(path)} is used for two different DiffID values`);
    byPath.set(path, diffId);
    const file = fileOf(reader, path, `${where}: layer`);
    const compression = await compressionOf(reader, file);
    let size = file.size;
    if (compression === 'bzip2' || compression === 'xz') throw new ArchiveInvalidError(`${where}: layer ${JSON.stringify(path)} is ${compression}-compressed, which skiff does not read`);
    if (compression !== 'none') size = await uncompressedSize(reader, file, compression, `${where}: layer ${JSON.stringify(path)}`, signal);
    known.set(diffId, { file, compression, size });
  }
  return known;
}

async function compressionOf(reader: DockerArchiveReader, file: IndexedFile): Promise<LayerCompression> {
  return compressionOfHead(await reader.index.read({ ...file, size: Math.min(file.size, 6) }, 6, 'layer'));
}

function decompressor(kind: 'gzip' | 'zstd'): Transform {
  return kind === 'gzip' ? createGunzip() : createZstdDecompress();
}

async function uncompressedSize(reader: DockerArchiveReader, file: IndexedFile, kind: 'gzip' | 'zstd', what: string, signal?: AbortSignal): Promise<number> {
  let size = 0;
  try {
    await pipeline(reader.index.open(file, signal), decompressor(kind), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) size += chunk.length;
    });
  } catch (e) {
    if (signal?.aborted) throw new AbortedError('reading the archive was cancelled');
    throw new ArchiveInvalidError(`${what}: cannot be decompressed: ${(e as Error).message}`, { cause: e });
  }
  return size;
}
