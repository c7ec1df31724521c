import { DomainError } from '../errors/domain-error';

/** How the copy engine reads failures: which are worth another attempt, and how they are told to the caller. */

const RETRYABLE_NET = /ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_BODY_TIMEOUT|UND_ERR_CLOSED|terminated|other side closed|premature close/i;

/**
 * Whether a failed blob transfer is worth another attempt: a domain error says so itself (the
 * transports mark registry 408/429/5xx, resets and an unreachable daemon `retryable`, which is
 * also what clients see in the problem); a raw stream error when it is a broken connection.
 */
export function isRetryable(e: unknown): boolean {
  if (e instanceof DomainError) return e.upstream.retryable === true;
  const code = (e as { code?: unknown })?.code;
  const text = `${typeof code === 'string' ? code : ''} ${e instanceof Error ? e.message : ''}`;
  return RETRYABLE_NET.test(text);
}

/** Wraps a raw stream failure (socket, zlib) as a domain error. */
export function asDomainError(e: unknown, what: string): DomainError {
  if (e instanceof DomainError) return e;
  if (isRetryable(e)) return new DomainError('UPSTREAM_UNAVAILABLE', `${what}: ${(e as Error).message}`, { retryable: true }, { cause: e });
  return new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
}

/** A destination's refusal of a sparse index, said as what it is. */
export function sparseRefusal(e: unknown, transport: string): unknown {
  if (!(e instanceof DomainError)) return e;
  const code = e.upstream.upstreamCode;
  if (code === 'MANIFEST_BLOB_UNKNOWN' || code === 'MANIFEST_UNKNOWN' || code === 'BLOB_UNKNOWN') {
    return new DomainError(
      'UPSTREAM_UNSUPPORTED',
      `multiArch=sparse: the destination registry refuses an index whose instances are not all present (${e.message}); use multiArch=filtered (a new index with only these platforms) or all`,
      { ...e.upstream, retryable: false },
      { cause: e },
    );
  }
  if (e.code === 'LAYOUT_INVALID') {
    return new DomainError('OPERATION_NOT_SUPPORTED', `multiArch=sparse: a ${transport}: destination holds complete images only (${e.message}); use multiArch=filtered or all`, {}, { cause: e });
  }
  return e;
}
