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

/**
 * Errno codes that mean "this volume cannot hold what is being written": no space (ENOSPC), the
 * quota of the service's user (EDQUOT), a file larger than the file system allows (EFBIG), a
 * read-only file system (EROFS). They are answered as INSUFFICIENT_STORAGE (507), never as a crash
 * or an upstream fault.
 */
export const OUT_OF_SPACE_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS']);

/** Whether `e` is a file-system error saying the volume cannot take the write (see OUT_OF_SPACE_CODES). */
export function isOutOfSpace(e: unknown): boolean {
  const code = fsErrorCode(e);
  return code !== undefined && OUT_OF_SPACE_CODES.has(code);
}

/**
 * A write that the volume could not take (507). The message names what was written (the
 * caller's reference), the volume (by its role, or its mount point relative to the storage
 * root — never a server path the operator did not configure) and, when known, the bytes
 * needed and free.
 */
export class InsufficientStorageError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INSUFFICIENT_STORAGE', message, {}, options);
  }
}
