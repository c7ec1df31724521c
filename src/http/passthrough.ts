import type { ServerResponse } from 'node:http';
import { MANIFEST_MEDIA_TYPES, MediaType } from '../image-spec/media-types';

/**
 * Answers whose bytes come from an upstream (manifests, blobs) or are rendered from upstream
 * data (inspect text): a browser must never run or sniff them, whatever they hold.
 *
 * - The Content-Type is the stored media type only when it is a known manifest or config type,
 *   else `application/octet-stream` (an upstream could name `text/html`).
 * - `X-Content-Type-Options: nosniff` and `Content-Security-Policy: default-src 'none'`.
 */
const KNOWN_MEDIA_TYPES: ReadonlySet<string> = new Set([...MANIFEST_MEDIA_TYPES, MediaType.ociConfig, MediaType.dockerConfig]);

export const OCTET_STREAM = 'application/octet-stream';

/** `mediaType` when it is a known manifest or config type, else application/octet-stream. */
export function passthroughContentType(mediaType: string): string {
  return KNOWN_MEDIA_TYPES.has(mediaType) ? mediaType : OCTET_STREAM;
}

/** Sets the headers every pass-through answer carries. */
export function setPassthroughHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', "default-src 'none'");
}

/**
 * The entity tag of a digest-addressed answer: strong (`"sha256:…"`) when the body is the
 * digested bytes themselves, weak (`W/"sha256:…"`) when it is a representation derived from
 * them (an OCI config or a descriptor computed from a manifest).
 */
export function entityTag(digest: string, opts: { weak?: boolean } = {}): string {
  return `${opts.weak ? 'W/' : ''}"${digest}"`;
}

/**
 * Whether an `If-None-Match` header matches `etag` (RFC 9110 §13.1.2: weak comparison, `*`
 * matches any current representation). A malformed header matches nothing.
 */
export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.length > 8192) return false;
  if (text.trim() === '*') return true;
  const opaque = (tag: string) => tag.replace(/^W\//, '');
  const wanted = opaque(etag);
  for (const part of text.split(',')) {
    const tag = part.trim();
    if (/^(?:W\/)?"[^"]*"$/.test(tag) && opaque(tag) === wanted) return true;
  }
  return false;
}

/** Answers 304 Not Modified with the entity tag (no body). */
export function notModified(res: ServerResponse, etag: string): void {
  res.statusCode = 304;
  res.setHeader('ETag', etag);
  res.end();
}
