import { DomainError } from '../../errors/domain-error';
import { isDigest } from '../../image-spec/digest';

/**
 * Validation of everything that goes into a registry URL, whatever validated it before
 * (CVE-2024-3727: a digest or tag from an upstream document must never shape a path).
 */
export const TAG = /^[\w][\w.-]{0,127}$/;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export function isRepositoryName(repository: string): boolean {
  return repository.length <= 255 && REPOSITORY.test(repository);
}

export function assertRepository(repository: string): string {
  if (!isRepositoryName(repository)) throw new DomainError('INVALID_REFERENCE', `invalid repository name ${JSON.stringify(repository)}`);
  return repository;
}

/** A manifest reference: a tag or a digest. */
export function assertManifestReference(reference: string): string {
  if (isDigest(reference) || TAG.test(reference)) return reference;
  throw new DomainError('INVALID_REFERENCE', `invalid tag or digest ${JSON.stringify(reference)}`);
}

export function assertBlobDigest(digest: string): string {
  if (!isDigest(digest)) throw new DomainError('INVALID_REFERENCE', `invalid blob digest ${JSON.stringify(digest)}`);
  return digest;
}
