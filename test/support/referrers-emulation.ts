/**
 * An EMULATION of the OCI 1.1 referrers API for the CNCF registry packaged here
 * (docker-registry 2.8), which has none: `GET /v2/<name>/referrers/<digest>[?artifactType=T]`
 * is answered from what the registry holds — every manifest revision of that repository in its
 * filesystem storage whose `subject` is the digest — as an OCI index of descriptors
 * (mediaType, digest, size, artifactType, annotations), with `OCI-Filters-Applied:
 * artifactType` when filtered. Manifest PUTs with a `subject` get the `OCI-Subject` answer
 * header a registry with referrers support sends. Used by the fault proxy; tests that rely on
 * it say so.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest } from './images';

export interface ReferrersEmulation {
  /** The registry's storage directory (TestRegistry.storageDir). */
  storageDir: string;
}

const REFERRERS_PATH = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})(?:\?(.*))?$/;

function manifestsDir(storageDir: string, repository: string): string {
  return join(storageDir, 'docker/registry/v2/repositories', repository, '_manifests/revisions/sha256');
}

function blobPath(storageDir: string, hex: string): string {
  return join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** The answer to a referrers request, or undefined when `path` is not one. */
export async function referrersAnswer(emulation: ReferrersEmulation, path: string): Promise<{ status: number; headers: Record<string, string>; body: Buffer } | undefined> {
  const m = REFERRERS_PATH.exec(path);
  if (!m) return undefined;
  const [, repository, subject, query] = m as unknown as [string, string, string, string | undefined];
  const artifactType = new URLSearchParams(query ?? '').get('artifactType') ?? undefined;
  const manifests: Record<string, unknown>[] = [];
  let hexes: string[] = [];
  try {
    hexes = await readdir(manifestsDir(emulation.storageDir, repository));
  } catch {
    // no such repository: an empty list, as the API answers for an unknown subject
  }
  for (const hex of hexes.sort()) {
    try {
      await readFile(join(manifestsDir(emulation.storageDir, repository), hex, 'link'));
      const bytes = await readFile(blobPath(emulation.storageDir, hex));
      const doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      const subj = doc['subject'] as { digest?: unknown } | undefined;
      if (subj?.digest !== subject) continue;
      const config = doc['config'] as { mediaType?: string } | undefined;
      const type = (doc['artifactType'] as string | undefined) ?? config?.mediaType;
      if (artifactType !== undefined && type !== artifactType) continue;
      manifests.push({
        mediaType: doc['mediaType'] ?? 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256Digest(bytes),
        size: bytes.length,
        ...(type ? { artifactType: type } : {}),
        ...(doc['annotations'] ? { annotations: doc['annotations'] } : {}),
      });
    } catch {
      // a revision being written or deleted meanwhile: not listed
    }
  }
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  return {
    status: 200,
    headers: { 'content-type': 'application/vnd.oci.image.index.v1+json', ...(artifactType !== undefined ? { 'oci-filters-applied': 'artifactType' } : {}) },
    body,
  };
}

/** The `OCI-Subject` header for a manifest PUT body, when it has a subject. */
export function subjectHeader(method: string, path: string, body: Buffer): Record<string, string> {
  if (method !== 'PUT' || !/^\/v2\/.+\/manifests\/[^/]+$/.test(path)) return {};
  try {
    const subject = (JSON.parse(body.toString('utf8')) as { subject?: { digest?: unknown } }).subject?.digest;
    return typeof subject === 'string' ? { 'oci-subject': subject } : {};
  } catch {
    return {};
  }
}
