import type { Manifest } from './manifest';
import { isImageConfigMediaType } from './media-types';

/**
 * What any manifest a registry or layout holds is — image, index, or artifact (Helm chart,
 * SBOM, WASM module, signature) — as plain descriptors, without interpreting a config that is
 * not an image config (where skopeo's inspect refuses non-image artifacts).
 */

export interface ContentDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface PlatformEntry {
  os?: string;
  architecture?: string;
  variant?: string;
  digest: string;
  size: number;
}

export interface ArtifactDescription extends ContentDescriptor {
  /** `image`, `index`, `artifact` (a manifest whose config is not an image config, or with an artifactType) or `schema1`. */
  kind: 'image' | 'index' | 'artifact' | 'schema1';
  artifactType?: string;
  annotations?: Record<string, string>;
  subject?: ContentDescriptor;
  config?: ContentDescriptor;
  layers?: ContentDescriptor[];
  platforms: PlatformEntry[];
}

function plain(d: ContentDescriptor): ContentDescriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/**
 * The description of a manifest (`blob` as stored, `manifest` parsed from it). An image's
 * platform comes from its config when the caller read it (`imagePlatform`); an index lists its
 * entries' platforms.
 */
export function describeManifest(blob: { bytes: Uint8Array; mediaType: string; digest: string }, manifest: Manifest, imagePlatform?: { os?: string; architecture?: string; variant?: string }): ArtifactDescription {
  const base = { mediaType: blob.mediaType, digest: blob.digest, size: blob.bytes.length };
  if (manifest.kind === 'schema1') {
    return { ...base, kind: 'schema1', platforms: manifest.architecture ? [{ architecture: manifest.architecture, digest: blob.digest, size: blob.bytes.length }] : [] };
  }
  const common = {
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    ...(manifest.annotations && Object.keys(manifest.annotations).length > 0 ? { annotations: manifest.annotations } : {}),
    ...(manifest.subject ? { subject: plain(manifest.subject) } : {}),
  };
  if (manifest.kind === 'index') {
    const platforms = manifest.manifests
      .filter((d) => d.platform)
      .map((d) => ({ os: d.platform!.os, architecture: d.platform!.architecture, ...(d.platform!.variant ? { variant: d.platform!.variant } : {}), digest: d.digest, size: d.size }));
    return { ...base, kind: 'index', ...common, platforms };
  }
  const artifact = manifest.artifactType !== undefined || !isImageConfigMediaType(manifest.config.mediaType);
  const platforms = !artifact && imagePlatform && (imagePlatform.os || imagePlatform.architecture) ? [{ ...imagePlatform, digest: blob.digest, size: blob.bytes.length }] : [];
  return { ...base, kind: artifact ? 'artifact' : 'image', ...common, config: plain(manifest.config), layers: manifest.layers.map(plain), platforms };
}

/** os / architecture / variant of an image config (Docker or OCI), when they are strings. */
export function platformOfConfig(bytes: Uint8Array): { os?: string; architecture?: string; variant?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return {};
  }
  if (typeof doc !== 'object' || doc === null) return {};
  const d = doc as Record<string, unknown>;
  const s = (k: string) => (typeof d[k] === 'string' && d[k] !== '' ? (d[k] as string) : undefined);
  const os = s('os');
  const architecture = s('architecture');
  const variant = s('variant');
  return { ...(os ? { os } : {}), ...(architecture ? { architecture } : {}), ...(variant ? { variant } : {}) };
}
