import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { DomainError, InvalidArgumentError } from '../errors/domain-error';
import { fsErrorCode } from './storage-errors';
import { isLegacyTempName, isLockName } from './temp-names';

export class PathEscapesStorageRootError extends DomainError {
  constructor(path: string, why: string) {
    super('PATH_ESCAPES_STORAGE_ROOT', `path ${JSON.stringify(path)} is not allowed: ${why}`);
  }
}

/** Whether the absolute path `p` is `root` or lies below it (lexically: links are not followed). */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Names of the storage root that are skiff's own: the replicas' leases (`.skiff/` at the root),
 * temp files and staging directories (`.skiff-tmp-…`, removed by sweeps), locks (`.skiff-lock-…`,
 * `index.json.lock`) and the temp names of earlier versions (temp-names.ts). A caller's path
 * naming one is refused, so no image or archive is ever stored where a sweep would take it for a
 * leftover (every name a sweep may remove is refused here).
 */
function reservedSegment(rel: string): string | undefined {
  const segments = rel.split(sep);
  if (segments[0] === '.skiff') return '.skiff';
  return segments.find((s) => s.startsWith('.skiff-tmp-') || isLockName(s) || isLegacyTempName(s));
}

/**
 * Resolves a caller's path (from `oci:`, `oci-archive:`, `docker-archive:`, `dir:`) under the
 * storage root. Refused: absolute paths, NUL bytes, `..` that leaves the root, names reserved
 * for skiff's own files (INVALID_ARGUMENT), and any path whose existing part resolves (through
 * symlinks) outside the root. The path need not exist.
 */
export async function resolveInStorageRoot(root: string, path: string): Promise<string> {
  if (path.includes('\0')) throw new PathEscapesStorageRootError(path, 'it contains a NUL byte');
  if (isAbsolute(path)) throw new PathEscapesStorageRootError(path, 'paths are relative to the storage root; absolute paths are refused');
  const realRoot = await realpath(root).catch(() => resolve(root));
  const lexical = resolve(realRoot, normalize(path));
  if (!isInside(realRoot, lexical)) throw new PathEscapesStorageRootError(path, 'it leaves the storage root');
  const reserved = reservedSegment(relative(realRoot, lexical));
  if (reserved !== undefined) throw new InvalidArgumentError(`path ${JSON.stringify(path)} is not allowed: ${JSON.stringify(reserved)} is reserved for skiff's own files (leases, temp files, locks)`);
  // Walk up to the deepest existing ancestor and check where it really points.
  let probe = lexical;
  let rest = '';
  for (;;) {
    try {
      const real = await realpath(probe);
      if (!isInside(realRoot, real)) throw new PathEscapesStorageRootError(path, 'a symbolic link in it points outside the storage root');
      return rest ? join(real, rest) : real;
    } catch (e) {
      if (e instanceof DomainError) throw e;
      const code = fsErrorCode(e);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const parent = dirname(probe);
      if (parent === probe) throw new PathEscapesStorageRootError(path, 'it cannot be resolved');
      rest = rest ? join(probe.slice(parent.length + 1), rest) : probe.slice(parent.length + 1);
      probe = parent;
    }
  }
}
