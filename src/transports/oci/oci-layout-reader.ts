import type { BlobStream } from '../transport';

/**
 * Read access to an OCI image layout's content, whatever holds it: a directory (OciLayout) or an
 * uncompressed oci-archive tar read in place (OciArchiveReader). What OciSource needs, with
 * one contract for both:
 * - readVerifiedBlob: a manifest (or other small blob) by digest, at most `limit` bytes,
 *   verified against `size` (-1: unknown) and the digest; missing is LAYOUT_INVALID
 *   `<what>: blob <digest> is missing from the layout`.
 * - openBlob: a blob to stream, unverified, but refused before streaming when it is missing
 *   (LAYOUT_INVALID `<what> is missing from the layout`), not a regular file, or of another
 *   size than the descriptor's (unless that is -1).
 * `name` is how the layout is called in messages (the caller's reference, never a server path).
 */
export interface OciLayoutReader {
  readonly name: string;
  readVerifiedBlob(digest: string, size: number, what: string, limit?: number): Promise<Buffer>;
  openBlob(descriptor: { digest: string; size: number }, what: string, signal?: AbortSignal): Promise<BlobStream>;
}
