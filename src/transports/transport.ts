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
  close(): Promise<void>;
}

export interface ImageTransport {
  readonly name: ImageReference['transport'];
  openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource>;
  /** All tags of a repository (docker) or of an archive (docker-archive). */
  listTags?(ref: ImageReference, ctx: TransportContext): Promise<{ repository: string; tags: string[] }>;
  /** Deletes the image a reference points at; returns the deleted manifest digest. */
  deleteImage?(ref: ImageReference, ctx: TransportContext): Promise<string>;
}
