import { DomainError } from '../errors/domain-error';
import { digestAlgorithm, digestHex, isDigest } from './digest';
import { type Descriptor, type Manifest, ManifestInvalidError, parseDescriptor } from './manifest';
import { MediaType } from './media-types';

/**
 * OCI 1.1 referrers (signatures, SBOMs, attestations pointing at a manifest through their
 * `subject`), as pure functions: the descriptor a referrer is listed with, the fallback tag
 * schema (`<alg>-<ref>` tag holding an index of referrers, for registries without the
 * referrers API), cosign's digest tags (`sha256-<hex>.sig`, `.att`, `.sbom`), and the merge of
 * a fallback index that keeps what other writers put there.
 */

/** A referrer as the referrers API lists it (an OCI descriptor with its artifact type). */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Suffixes of cosign's digest tags, in the order they are looked up. */
export const COSIGN_TAG_SUFFIXES = ['sig', 'att', 'sbom'] as const;
export type CosignTagSuffix = (typeof COSIGN_TAG_SUFFIXES)[number];

/** Most referrers one listing may hold (a hostile registry cannot make us hold more). */
export const MAX_REFERRERS_PER_SUBJECT = 10_000;

/**
 * The fallback tag of a subject (distribution-spec 1.1 "referrers tag schema"): `<alg>-<ref>`
 * with `<ref>` the encoded digest truncated to 64 characters.
 */
export function fallbackTag(subject: string): string {
  return `${digestAlgorithm(subject)}-${digestHex(subject).slice(0, 64)}`;
}

/** cosign's tag for a subject's signature (`.sig`), attestation (`.att`) or attached SBOM (`.sbom`). */
export function cosignTag(subject: string, suffix: CosignTagSuffix): string {
  return `${fallbackTag(subject)}.${suffix}`;
}

const DIGEST_TAG = /^(?:sha256|sha512)-[a-f0-9]{64}(?:\.[A-Za-z0-9_-]{1,32})?$/;

/** Whether a tag is a digest tag (a fallback referrers tag, or a cosign `.sig`/`.att`/`.sbom` tag). */
export function isDigestTag(tag: string): boolean {
  return DIGEST_TAG.test(tag);
}

/**
 * How a manifest is listed as a referrer: its own `artifactType`, else its config's media type
 * (image-spec 1.1), else — for an image-config manifest without one, as cosign writes them —
 * its first layer's media type, so a cosign signature is listed as one.
 */
export function referrerDescriptor(blob: { bytes: Uint8Array; mediaType: string; digest: string }, manifest: Manifest): ReferrerDescriptor {
  const d: ReferrerDescriptor = { mediaType: blob.mediaType, digest: blob.digest, size: blob.bytes.length };
  let artifactType: string | undefined;
  if (manifest.kind === 'image') {
    artifactType = manifest.artifactType;
    if (!artifactType && manifest.config.mediaType !== MediaType.ociEmpty) {
      const generic = manifest.config.mediaType === MediaType.ociConfig || manifest.config.mediaType === MediaType.dockerConfig;
      artifactType = generic ? manifest.layers[0]?.mediaType ?? manifest.config.mediaType : manifest.config.mediaType;
    }
    if (!artifactType) artifactType = manifest.layers[0]?.mediaType;
  } else if (manifest.kind === 'index') {
    artifactType = manifest.artifactType;
  }
  if (artifactType) d.artifactType = artifactType;
  if (manifest.kind !== 'schema1' && manifest.annotations && Object.keys(manifest.annotations).length > 0) d.annotations = { ...manifest.annotations };
  return d;
}

/** Whether a referrer passes an `artifactTypes` filter (no filter, or an empty one, passes everything). */
export function matchesArtifactTypes(d: { artifactType?: string }, artifactTypes: readonly string[] | undefined): boolean {
  if (!artifactTypes || artifactTypes.length === 0) return true;
  return d.artifactType !== undefined && artifactTypes.includes(d.artifactType);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toReferrer(d: Descriptor): ReferrerDescriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(d.annotations && Object.keys(d.annotations).length > 0 ? { annotations: d.annotations } : {}),
  };
}

/**
 * The referrers an index lists (a referrers API answer, or a fallback tag's index). Every
 * descriptor is validated (digest syntax, size) before it is used; a document that is not an
 * index of descriptors is MANIFEST_INVALID; more than MAX_REFERRERS_PER_SUBJECT is refused.
 */
export function parseReferrersIndex(bytes: Uint8Array, what: string): ReferrerDescriptor[] {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ManifestInvalidError(`${what} is not valid JSON`);
  }
  if (!isRecord(doc)) throw new ManifestInvalidError(`${what} is not a JSON object`);
  const list = doc['manifests'];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new ManifestInvalidError(`${what}: "manifests" is not a list`);
  if (list.length > MAX_REFERRERS_PER_SUBJECT) throw new DomainError('BODY_TOO_LARGE', `${what} lists more than ${MAX_REFERRERS_PER_SUBJECT} referrers`);
  return list.map((m, i) => toReferrer(parseDescriptor(m, `${what} manifests[${i}]`)));
}

function descriptorJson(d: ReferrerDescriptor): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(d.annotations && Object.keys(d.annotations).length > 0 ? { annotations: d.annotations } : {}),
  };
}

/**
 * A fallback tag index with `ours` added: the current document (`current`, undefined when the
 * tag does not exist) is kept as it is — other writers' entries and fields included — and the
 * descriptors it lacks (by digest) are appended. `missing` lists those; when it is empty the
 * index already holds everything and `bytes` is the current document.
 */
export function mergeReferrersIndex(current: Uint8Array | undefined, ours: readonly ReferrerDescriptor[], what: string): { bytes: Buffer; missing: ReferrerDescriptor[] } {
  let doc: Record<string, unknown> = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  if (current) {
    parseReferrersIndex(current, what);
    doc = JSON.parse(Buffer.from(current).toString('utf8')) as Record<string, unknown>;
    if (!Array.isArray(doc['manifests'])) doc['manifests'] = [];
  }
  const manifests = doc['manifests'] as Record<string, unknown>[];
  const present = new Set(manifests.map((m) => (isRecord(m) ? m['digest'] : undefined)));
  const missing = ours.filter((d, i) => !present.has(d.digest) && ours.findIndex((x) => x.digest === d.digest) === i);
  if (missing.length === 0 && current) return { bytes: Buffer.from(current), missing };
  if (manifests.length + missing.length > MAX_REFERRERS_PER_SUBJECT) {
    throw new DomainError('INVALID_ARGUMENT', `${what} would list more than ${MAX_REFERRERS_PER_SUBJECT} referrers`);
  }
  doc['manifests'] = [...manifests, ...missing.map(descriptorJson)];
  if (doc['mediaType'] === undefined) doc['mediaType'] = MediaType.ociIndex;
  return { bytes: Buffer.from(JSON.stringify(doc)), missing };
}

/** Whether a referrers listing holds every digest of `wanted`. */
export function listsAll(listed: readonly { digest: string }[], wanted: readonly { digest: string }[]): boolean {
  const have = new Set(listed.map((d) => d.digest));
  return wanted.every((d) => have.has(d.digest));
}

/** The subject digest of a fallback tag or cosign tag, when `tag` is one for a sha256 digest. */
export function subjectOfDigestTag(tag: string): string | undefined {
  const m = /^sha256-([a-f0-9]{64})(?:\.[A-Za-z0-9_-]+)?$/.exec(tag);
  const digest = m ? `sha256:${m[1]}` : undefined;
  return digest && isDigest(digest) ? digest : undefined;
}
