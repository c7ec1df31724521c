import { DomainError } from '../errors/domain-error';

/**
 * Errors of the file transports (oci:, oci-archive:, dir:). A layout in the storage root that
 * is malformed, references content it does not have, or lies about sizes and digests is
 * LAYOUT_INVALID (422: the request was fine, the stored data is not); a destination path that
 * holds something this transport must not overwrite, or a layout another writer keeps locked,
 * is STORAGE_CONFLICT (409).
 */
export class LayoutInvalidError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LAYOUT_INVALID', message, {}, options);
  }
}

export class StorageConflictError extends DomainError {
  constructor(message: string) {
    super('STORAGE_CONFLICT', message);
  }
}

/** An error from the file system, as `code` (ENOENT, EACCES…) or undefined. */
export function fsErrorCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
