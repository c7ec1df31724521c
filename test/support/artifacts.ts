/**
 * OCI 1.1 artifacts for tests: manifests with an `artifactType`, the empty `{}` config or a
 * config of any media type, layers of any media type, and a `subject` (signatures, SBOMs);
 * the fallback referrers tag index a client writes on a registry without the referrers API;
 * cosign-style digest tags (`sha256-<hex>.sig`). Pushed over the v2 API like the other fixtures.
 */
import { createHash } from 'node:crypto';
import { pushBlob, putManifest, sha256Digest } from './images';
import type { RegistryEndpoint } from './registry';

export const EMPTY_CONFIG = Buffer.from('{}');
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const SPDX = 'application/spdx+json';
export const SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface PushedArtifact {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Buffer;
  /** As a referrers list names it. */
  descriptor: Descriptor;
  layers: { mediaType: string; digest: string; bytes: Buffer }[];
}

export interface ArtifactOptions {
  artifactType?: string;
  /** Default: the empty `{}` config. */
  config?: { mediaType: string; bytes: Buffer };
  layers: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[];
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
  /** Push under this tag; by digest when absent. */
  tag?: string;
}

/** Pushes an OCI 1.1 artifact manifest (blobs first). */
export async function pushArtifact(reg: RegistryEndpoint, repo: string, opts: ArtifactOptions): Promise<PushedArtifact> {
  const config = opts.config ?? { mediaType: EMPTY_MEDIA_TYPE, bytes: EMPTY_CONFIG };
  await pushBlob(reg, repo, config.bytes);
  for (const l of opts.layers) await pushBlob(reg, repo, l.bytes);
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: { mediaType: config.mediaType, digest: sha256Digest(config.bytes), size: config.bytes.length },
    layers: opts.layers.map((l) => ({ mediaType: l.mediaType, digest: sha256Digest(l.bytes), size: l.bytes.length, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256Digest(bytes);
  await putManifest(reg, repo, opts.tag ?? digest, bytes, OCI_MANIFEST);
  const artifactType = opts.artifactType ?? (config.mediaType === EMPTY_MEDIA_TYPE ? opts.layers[0]?.mediaType : config.mediaType);
  return {
    digest,
    size: bytes.length,
    mediaType: OCI_MANIFEST,
    bytes,
    descriptor: { mediaType: OCI_MANIFEST, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    layers: opts.layers.map((l) => ({ mediaType: l.mediaType, digest: sha256Digest(l.bytes), bytes: l.bytes })),
  };
}

/** `sha256-<hex>`: the fallback referrers tag of a digest. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

/** Writes the fallback tag index of `subject` listing `referrers` (what oras/cosign write on a registry without the referrers API). */
export async function pushFallbackIndex(reg: RegistryEndpoint, repo: string, subject: string, referrers: readonly Descriptor[]): Promise<string> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: referrers }));
  return putManifest(reg, repo, fallbackTag(subject), bytes, OCI_INDEX);
}

/** A cosign-style signature under `sha256-<hex>.sig` (image config, simplesigning layer with a signature annotation). */
export async function pushCosignSignature(reg: RegistryEndpoint, repo: string, subject: string, suffix: 'sig' | 'att' | 'sbom' = 'sig'): Promise<PushedArtifact> {
  const payload = Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': repo }, image: { 'docker-manifest-digest': subject }, type: 'cosign container image signature' }, optional: null }));
  const config = Buffer.from(JSON.stringify({ architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [sha256Digest(payload)] }, config: {} }));
  return pushArtifact(reg, repo, {
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: config },
    layers: [{ mediaType: SIMPLESIGNING, bytes: payload, annotations: { 'dev.cosignproject.cosign/signature': createHash('sha256').update(payload).digest('base64') } }],
    tag: `${fallbackTag(subject)}.${suffix}`,
  });
}
