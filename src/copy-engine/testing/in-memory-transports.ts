/**
 * In-memory transports for the copy engine's unit specs (test support, not built into dist):
 * images built from real bytes (JSON configs, gzip/zstd layers, v2s2/OCI manifests and
 * indexes), an ImageSource over one such image with fault hooks, and an ImageDestination that
 * behaves like a strict registry or local store: it publishes a blob only when its stream ended
 * cleanly and its bytes hash to the digest, refuses a manifest whose blobs or instances it does
 * not hold, mounts from other repositories of the same {@link MemoryRegistry}, and records what
 * happened, in order, in `events`.
 */

import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import { type ImageReference, parseImageReference } from '../../image-spec/image-reference';
import { type Descriptor, type Platform, parseManifest } from '../../image-spec/manifest';
import { type ManifestFormat, indexMediaType, serializeImageManifest, serializeIndex } from '../../image-spec/manifest-conversion';
import { MediaType } from '../../image-spec/media-types';
import type { BlobInfo, BlobStream, ImageDestination, ImageSource, ManifestBlob, MountSource } from '../../transports/transport';

/** An image (or an index with its instances) as bytes. */
export interface BuiltImage {
  /** The top manifest: an image manifest, or an index whose instances are in `manifests`. */
  readonly top: ManifestBlob;
  /** Every manifest by digest, the top one included. */
  readonly manifests: ReadonlyMap<string, ManifestBlob>;
  /** Every blob (configs and layers) by digest. */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

export interface SingleImage extends BuiltImage {
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** The layers' uncompressed bytes, in order. */
  readonly layerContents: readonly Buffer[];
  readonly platform: Platform;
}

export interface ImageRecipe {
  /** Manifest format. Default v2s2. */
  format?: ManifestFormat;
  /** How the layers are stored. Default gzip. */
  compression?: 'gzip' | 'zstd' | 'none';
  /** The layers' uncompressed contents. Default two small distinct layers. */
  layers?: readonly (string | Buffer)[];
  /** Default linux/amd64. */
  platform?: Platform;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function layerMediaType(format: ManifestFormat, compression: 'gzip' | 'zstd' | 'none'): string {
  if (format === 'oci') return compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
  if (compression === 'zstd') throw new Error('buildImage: a v2s2 manifest cannot hold zstd layers');
  return compression === 'gzip' ? MediaType.dockerLayerGzip : 'application/vnd.docker.image.rootfs.diff.tar';
}

/** One image: a config naming the layers' DiffIDs and platform, the layers compressed as asked, the manifest. */
export function buildImage(recipe: ImageRecipe = {}): SingleImage {
  const format = recipe.format ?? 'v2s2';
  const compression = recipe.compression ?? 'gzip';
  const platform = recipe.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerContents = (recipe.layers ?? [`layer one of ${platform.architecture}`, `layer two of ${platform.architecture}`]).map((l) => Buffer.from(l));
  const stored = layerContents.map((c) => (compression === 'gzip' ? gzipSync(c) : compression === 'zstd' ? zstdCompressSync(c) : c));
  // A Docker config carries Docker-only fields, so converting it to an OCI config changes its bytes.
  const configBytes = json({
    ...(format === 'v2s2' ? { docker_version: '24.0.7' } : {}),
    created: '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/bin'] },
    rootfs: { type: 'layers', diff_ids: layerContents.map((c) => digestOf(c)) },
  });
  const config: Descriptor = { mediaType: format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig, digest: digestOf(configBytes), size: configBytes.length };
  const layers: Descriptor[] = stored.map((b) => ({ mediaType: layerMediaType(format, compression), digest: digestOf(b), size: b.length }));
  const mediaType = format === 'oci' ? MediaType.ociManifest : MediaType.dockerV2S2;
  const bytes = serializeImageManifest({ kind: 'image', mediaType, config, layers });
  const top: ManifestBlob = { bytes, mediaType, digest: digestOf(bytes) };
  const blobs = new Map<string, Buffer>([[config.digest, configBytes], ...stored.map((b, i): [string, Buffer] => [layers[i]!.digest, b])]);
  return { top, manifests: new Map([[top.digest, top]]), blobs, config, layers, layerContents, platform };
}

/** An index (OCI) or manifest list (v2s2) over images, each entry carrying its image's platform. */
export function buildIndex(images: readonly SingleImage[], opts: { format?: ManifestFormat } = {}): BuiltImage {
  const format = opts.format ?? 'v2s2';
  const bytes = serializeIndex(
    format,
    images.map((img) => ({ mediaType: img.top.mediaType, digest: img.top.digest, size: img.top.bytes.length, platform: img.platform })),
  );
  const top: ManifestBlob = { bytes, mediaType: indexMediaType(format), digest: digestOf(bytes) };
  const manifests = new Map<string, ManifestBlob>([[top.digest, top]]);
  const blobs = new Map<string, Buffer>();
  for (const img of images) {
    manifests.set(img.top.digest, img.top);
    for (const [d, b] of img.blobs) blobs.set(d, b);
  }
  return { top, manifests, blobs };
}

/** What a source does when a blob is read; `attempt` counts the reads of that digest, from 1. */
export interface BlobReadHooks {
  /** Before the read starts: throw to fail it (as a refused request or a dropped connection). */
  open?(digest: string, attempt: number): void;
  /**
   * After each chunk was pushed (`sent` bytes so far): throw to break the stream there, or
   * return a promise to hold it until the promise settles (the read's abort ends the wait).
   */
  chunk?(digest: string, attempt: number, sent: number): void | Promise<void>;
}

export interface MemorySourceOptions {
  /** Default `docker://registry.test/src/app:1` (so blobs may be mounted from `src/app`). */
  reference?: string;
  /** Bytes per chunk of a blob stream. Default 4 (so even small blobs stream in several chunks). */
  chunkSize?: number;
  hooks?: BlobReadHooks;
  /** Bytes served for a digest instead of the image's (a source lying about content). */
  tampered?: ReadonlyMap<string, Buffer>;
}

/** Rejects when `signal` aborts (with AbortedError), never resolves otherwise. */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (signal?.aborted) reject(new AbortedError('blob read aborted'));
    signal?.addEventListener('abort', () => reject(new AbortedError('blob read aborted')), { once: true });
  });
}

/** An ImageSource over a BuiltImage. `reads` counts getBlob() calls per digest. */
export class MemorySource implements ImageSource {
  readonly reference: ImageReference;
  readonly reads = new Map<string, number>();
  closed = false;

  constructor(
    private readonly image: BuiltImage,
    private readonly opts: MemorySourceOptions = {},
  ) {
    this.reference = parseImageReference(opts.reference ?? 'docker://registry.test/src/app:1');
  }

  async getManifest(opts: { instanceDigest?: string } = {}): Promise<ManifestBlob> {
    if (opts.instanceDigest === undefined) return this.image.top;
    const m = this.image.manifests.get(opts.instanceDigest);
    if (!m) throw new DomainError('IMAGE_NOT_FOUND', `manifest ${opts.instanceDigest} is not in the source`, { upstreamStatus: 404, upstreamCode: 'MANIFEST_UNKNOWN' });
    return m;
  }

  private bytesOf(digest: string): Buffer {
    const b = this.opts.tampered?.get(digest) ?? this.image.blobs.get(digest);
    if (!b) throw new DomainError('IMAGE_NOT_FOUND', `blob ${digest} is not in the source`, { upstreamStatus: 404, upstreamCode: 'BLOB_UNKNOWN' });
    return b;
  }

  async getBlob(d: { digest: string; size: number }, opts: { signal?: AbortSignal } = {}): Promise<BlobStream> {
    const attempt = (this.reads.get(d.digest) ?? 0) + 1;
    this.reads.set(d.digest, attempt);
    this.opts.hooks?.open?.(d.digest, attempt);
    const bytes = this.bytesOf(d.digest);
    const chunkSize = this.opts.chunkSize ?? 4;
    const hooks = this.opts.hooks;
    const signal = opts.signal;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let sent = 0; sent < bytes.length; ) {
        if (signal?.aborted) throw new AbortedError('blob read aborted');
        const chunk = bytes.subarray(sent, sent + chunkSize);
        sent += chunk.length;
        yield chunk;
        const hold = hooks?.chunk?.(d.digest, attempt, sent);
        if (hold) await Promise.race([hold, aborted(signal)]);
      }
    }
    return { stream: Readable.from(chunks(), { objectMode: false }), size: bytes.length };
  }

  async readBlob(d: { digest: string; size: number }): Promise<Buffer> {
    const bytes = this.bytesOf(d.digest);
    if (digestOf(bytes) !== d.digest) throw new DomainError('DIGEST_MISMATCH', `blob ${d.digest} does not match its digest`);
    return bytes;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** One repository's content. */
export class MemoryRepository {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, ManifestBlob>();
  readonly tags = new Map<string, string>();
}

/** Repositories on one registry host: destinations in it share blobs per repository and mount across repositories. */
export class MemoryRegistry {
  private readonly repositories = new Map<string, MemoryRepository>();

  constructor(readonly host = 'registry.test') {}

  repository(name: string): MemoryRepository {
    let repo = this.repositories.get(name);
    if (!repo) this.repositories.set(name, (repo = new MemoryRepository()));
    return repo;
  }

  /** Stores an image's blobs and manifests in a repository (e.g. the source's, to mount from), tagged when a tag is given. */
  push(repository: string, image: BuiltImage, tag?: string): void {
    const repo = this.repository(repository);
    for (const [d, b] of image.blobs) repo.blobs.set(d, b);
    for (const [d, m] of image.manifests) repo.manifests.set(d, m);
    if (tag) repo.tags.set(tag, image.top.digest);
  }
}

export interface MemoryDestinationOptions {
  /** Default `docker://registry.test/dst/app:1`. */
  reference?: string;
  /** Store into this registry's repository named by the (docker) reference; default a private store. */
  registry?: MemoryRegistry;
  layerCompression?: 'compress' | 'decompress' | 'preserve';
  acceptsIndexes?: boolean;
  /** supportedManifestTypes(); default every v2s2 and OCI type. */
  manifestTypes?: readonly string[];
  /** putManifest() of these types fails as a registry refusing them (upstream MANIFEST_INVALID). */
  rejectManifestTypes?: readonly string[];
}

const ALL_TYPES = [MediaType.dockerV2S2, MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifestList];

/** Like a docker-archive (or daemon) destination: plain-tar layers, v2s2 only, one image. */
export const DOCKER_ARCHIVE_LIKE: MemoryDestinationOptions = {
  reference: 'docker-archive:/out/image.tar',
  layerCompression: 'decompress',
  acceptsIndexes: false,
  manifestTypes: [MediaType.dockerV2S2],
};

/** Like an OCI layout: OCI manifests and indexes only, layers compressed. */
export const OCI_LAYOUT_LIKE: MemoryDestinationOptions = {
  reference: 'oci:/out/layout:1',
  layerCompression: 'compress',
  manifestTypes: [MediaType.ociManifest, MediaType.ociIndex],
};

function refused(what: string, upstreamCode: string): DomainError {
  return new DomainError('UPSTREAM_REFUSED', `${what}: ${upstreamCode}`, { upstreamStatus: 400, upstreamCode, retryable: false });
}

/** An ImageDestination in memory; see the module comment for how strict it is. */
export class MemoryDestination implements ImageDestination {
  readonly reference: ImageReference;
  readonly hostKey: string;
  readonly blobScope: string;
  readonly layerCompression: 'compress' | 'decompress' | 'preserve';
  readonly acceptsIndexes: boolean;
  readonly repo: MemoryRepository;
  /** In order: `mount D`, `present D`, `blob D`, `aborted D` (an upload whose stream failed), `instance D TYPE`, `manifest TYPE`. */
  readonly events: string[] = [];
  /** putBlob() calls per digest the blob turned out to have (aborted ones under `aborted`). */
  readonly uploads = new Map<string, number>();
  /** The manifest written under the reference (the commit), if any. */
  committed?: ManifestBlob;
  closed = false;
  private readonly tag: string;

  constructor(private readonly opts: MemoryDestinationOptions = {}) {
    const ref = parseImageReference(opts.reference ?? 'docker://registry.test/dst/app:1');
    this.reference = ref;
    this.layerCompression = opts.layerCompression ?? 'compress';
    this.acceptsIndexes = opts.acceptsIndexes ?? true;
    if (ref.transport === 'docker' && opts.registry) {
      this.repo = opts.registry.repository(ref.named.path);
      this.hostKey = `docker://${ref.named.domain}`;
      this.blobScope = `memory://${ref.named.domain}/${ref.named.path}`;
      this.tag = ref.named.tag ?? ref.named.digest ?? 'latest';
    } else {
      this.repo = new MemoryRepository();
      this.hostKey = ref.transport === 'docker' ? `docker://${ref.named.domain}` : `local:${ref.transport}`;
      this.blobScope = `memory:${randomUUID()}`;
      this.tag = 'latest';
    }
  }

  supportedManifestTypes(): readonly string[] {
    return this.opts.manifestTypes ?? ALL_TYPES;
  }

  async tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource }): Promise<'present' | 'mounted' | undefined> {
    if (this.repo.blobs.has(blob.digest)) {
      this.events.push(`present ${blob.digest}`);
      return 'present';
    }
    const from = opts.mountFrom;
    const registry = this.opts.registry;
    if (from && registry && this.reference.transport === 'docker' && from.registry === registry.host && from.repository !== this.reference.named.path) {
      const bytes = registry.repository(from.repository).blobs.get(blob.digest);
      if (bytes) {
        this.repo.blobs.set(blob.digest, bytes);
        this.events.push(`mount ${blob.digest}`);
        return 'mounted';
      }
    }
    return undefined;
  }

  async putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }): Promise<BlobInfo> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of stream) chunks.push(c as Buffer);
    } catch (e) {
      this.events.push(`aborted ${blob.known?.digest ?? 'unknown'}`);
      throw e;
    }
    const bytes = Buffer.concat(chunks);
    const info = blob.known ?? blob.final();
    if (digestOf(bytes) !== info.digest || bytes.length !== info.size) throw refused(`uploading blob ${info.digest}`, 'DIGEST_INVALID');
    this.uploads.set(info.digest, (this.uploads.get(info.digest) ?? 0) + 1);
    this.repo.blobs.set(info.digest, bytes);
    this.events.push(`blob ${info.digest}`);
    return info;
  }

  async currentManifestDigest(): Promise<string | undefined> {
    return this.repo.tags.get(this.tag);
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string }): Promise<void> {
    if (this.opts.rejectManifestTypes?.includes(mediaType)) throw refused(`writing a ${mediaType} manifest`, 'MANIFEST_INVALID');
    if (!this.supportedManifestTypes().includes(mediaType)) throw new DomainError('OPERATION_NOT_SUPPORTED', `this destination does not store ${mediaType}`);
    const manifest = parseManifest(bytes, mediaType);
    if (manifest.kind === 'image') {
      for (const d of [manifest.config, ...manifest.layers]) if (!this.repo.blobs.has(d.digest)) throw refused(`writing manifest: blob ${d.digest}`, 'MANIFEST_BLOB_UNKNOWN');
    } else if (manifest.kind === 'index') {
      for (const d of manifest.manifests) if (!this.repo.manifests.has(d.digest)) throw refused(`writing index: manifest ${d.digest}`, 'MANIFEST_BLOB_UNKNOWN');
    }
    const digest = digestOf(bytes);
    if (opts.instanceDigest !== undefined && opts.instanceDigest !== digest) throw refused(`writing instance ${opts.instanceDigest}`, 'DIGEST_INVALID');
    const blob = { bytes, mediaType, digest };
    this.repo.manifests.set(digest, blob);
    if (opts.instanceDigest !== undefined) {
      this.events.push(`instance ${digest} ${mediaType}`);
      return;
    }
    this.repo.tags.set(this.tag, digest);
    this.committed = blob;
    this.events.push(`manifest ${mediaType}`);
  }

  /** The blob bytes this destination holds for a digest. */
  blob(digest: string): Buffer | undefined {
    return this.repo.blobs.get(digest);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
