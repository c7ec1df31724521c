import type { Readable } from 'node:stream';
import type { DockerReference } from '../image-spec/docker-reference';
import type { ImageReference } from '../image-spec/image-reference';

/**
 * The ports every transport implements (containers/image's ImageSource / ImageDestination
 * shape). No undici or Nest type crosses these interfaces.
 */

/** Credentials for one registry, as the Docker Engine API's X-Registry-Auth carries them. */
export type RegistryAuth =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'identityToken'; identityToken: string; username?: string }
  | { kind: 'registryToken'; registryToken: string };

/** Resolves credentials for a registry host; `undefined` means anonymous. */
export type CredentialResolver = (registry: string) => Promise<RegistryAuth | undefined>;

export interface TransportContext {
  credentials: CredentialResolver;
  /** `false` = skopeo's `--tls-verify=false`: skip TLS checks and allow plain HTTP. */
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

/** A manifest exactly as stored, with its (normalised) media type and digest. */
export interface ManifestBlob {
  bytes: Buffer;
  mediaType: string;
  /** The digest of `bytes` (computed, never taken from a header). */
  digest: string;
}

export interface BlobReadOptions {
  signal?: AbortSignal;
}

export interface BlobStream {
  stream: Readable;
  /** Size announced by the transport, when known (-1 otherwise). Not yet verified. */
  size: number;
}

/**
 * Reads one image. Call order: getManifest() first; getManifest(instanceDigest) for
 * instances of an index; getBlob()/readBlob() for descriptors of that manifest. Calls may run
 * concurrently. The source does not verify blob digests (the caller does, with one
 * verifying stream); manifests fetched by digest are verified by the source.
 */
export interface ImageSource {
  readonly reference: ImageReference;
  /** The docker reference the image is known by, when the transport has one (inspect's Name). */
  readonly dockerReference?: DockerReference;
  getManifest(opts?: { instanceDigest?: string; signal?: AbortSignal }): Promise<ManifestBlob>;
  getBlob(descriptor: { digest: string; size: number }, opts?: BlobReadOptions): Promise<BlobStream>;
  /** Reads a small blob (a config) whole, verified against its digest, capped at `limit` bytes. */
  readBlob(descriptor: { digest: string; size: number }, opts?: BlobReadOptions & { limit?: number }): Promise<Buffer>;
  /**
   * The compression a layer's bytes (as getBlob() streams them) really have, when the source
   * knows it differs from what the layer's media type says — containers/image detects it from
   * the stream instead. docker-archive announces every layer as `…rootfs.diff.tar.gzip`, as
   * containers/image does, but streams plain tar. Undefined: the media type is right.
   */
  actualCompression?(descriptor: { digest: string }): 'none' | 'gzip' | 'zstd' | undefined;
  /**
   * The top-level manifest's digest and media type as a HEAD tells them, without reading the
   * manifest (a registry that meters pulls does not count it); `bytes` when verified bytes of
   * that digest are at hand already. Undefined when the source cannot tell. Only used to decide
   * that nothing needs copying, never to trust content.
   */
  headManifest?(opts?: { signal?: AbortSignal }): Promise<{ digest: string; mediaType: string; bytes?: Buffer } | undefined>;
  close(): Promise<void>;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

/** Where a blob may be mounted from (same registry, another repository). */
export interface MountSource {
  registry: string;
  repository: string;
}

/**
 * Writes one image. Contract (containers/image's): blobs first — tryReuseBlob() before
 * putBlob() — manifests last (instances before the index), so a failure leaves no tag on a
 * partial image. putBlob() consumes the engine's verifying stream and must not publish the blob
 * unless that stream ends cleanly; on error nothing partial stays visible. putBlob() calls may
 * run concurrently. putManifest() without instanceDigest is the commit point (the reference
 * becomes visible then, atomically); close() is always called last, and when no commit happened
 * it removes everything partial (temp files, unfinished archives).
 */
export interface ImageDestination {
  readonly reference: ImageReference;
  /**
   * What the destination wants layers to be (containers/image's DesiredLayerCompression):
   * `compress` (registries, OCI layouts: uncompressed layers are gzipped), `decompress`
   * (docker-archive: layers stored as plain tar), `preserve` (dir:, daemons). Default compress.
   */
  readonly layerCompression?: 'compress' | 'decompress' | 'preserve';
  /** Whether multi-image indexes can be stored (multiArch=all / index-only). Default true. */
  readonly acceptsIndexes?: boolean;
  /** Key of the host whose concurrency limit blob transfers share (e.g. the registry host). */
  readonly hostKey: string;
  /** Blobs written to destinations with the same scope are the same blobs (dedupe key). */
  readonly blobScope: string;
  /** Manifest types this destination can store, preferred first. */
  supportedManifestTypes(): readonly string[];
  /** Skips the upload when the blob is there ('present') or can be mounted ('mounted'). */
  tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | 'mounted' | undefined>;
  /**
   * Stores a blob. `known` is set when digest and size are known up front; otherwise `final()`
   * gives them once the stream has ended (recompressed layers).
   */
  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo>;
  /**
   * The digest of the manifest the destination reference points at now, if the destination can
   * tell cheaply (undefined when absent or unknown). A manifest a registry holds has all its
   * blobs, so an equal digest means there is nothing to copy.
   */
  currentManifestDigest?(opts: { signal?: AbortSignal }): Promise<string | undefined>;
  /** Stores a manifest: by `instanceDigest` for index instances, else under the destination's reference. */
  putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
}

/**
 * A destination reference looked at without writing anything (dry runs, up-to-date checks):
 * what it would accept and what its reference holds now. An opened ImageDestination is one too.
 */
export interface DestinationProbe
  extends Pick<ImageDestination, 'reference' | 'layerCompression' | 'acceptsIndexes' | 'supportedManifestTypes' | 'currentManifestDigest' | 'close'> {
  /** Whether a copy would find the blob there ('present'); a look only, nothing is mounted. */
  tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: undefined; signal?: AbortSignal }): Promise<'present' | 'mounted' | undefined>;
}

/** Options for opening a destination that only some transports take. */
export interface DestinationOptions {
  /** docker-archive: more `name:tag` references recorded for the image (skopeo copy --additional-tag). */
  additionalTags?: readonly string[];
}

export interface ImageTransport {
  readonly name: ImageReference['transport'];
  openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource>;
  openDestination?(ref: ImageReference, ctx: TransportContext, opts?: DestinationOptions): Promise<ImageDestination>;
  /** A look at a destination reference that writes nothing: what a copy would find there. */
  probeDestination?(ref: ImageReference, ctx: TransportContext): Promise<DestinationProbe>;
  /**
   * Opening a destination starts writing (dir: stages a new image) and the opened destination
   * cannot tell what its reference holds: a caller that may find nothing to copy asks
   * probeDestination() first. Without it, the opened destination tells that itself.
   */
  readonly probeBeforeOpening?: boolean;
  /**
   * The references `additionalTags` (DestinationOptions) make a destination of `ref` write
   * besides `ref` itself, for the caller's checks before anything is queued; INVALID_ARGUMENT
   * names a tag this transport cannot take. Absent: the transport takes no additional tags.
   */
  additionalTagReferences?(ref: ImageReference, tags: readonly string[]): ImageReference[];
  /** All tags of a repository (docker) or of an archive (docker-archive). */
  listTags?(ref: ImageReference, ctx: TransportContext): Promise<{ repository: string; tags: string[] }>;
  /** Deletes the image a reference points at; returns the deleted manifest digest. */
  deleteImage?(ref: ImageReference, ctx: TransportContext): Promise<string>;
}
