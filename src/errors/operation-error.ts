import { DomainError, type DomainErrorCode, type UpstreamDetails } from './domain-error';

/** Why an operation (or one image of a sync) failed: a DomainError as a value. */
export interface OperationError extends UpstreamDetails {
  code: DomainErrorCode | 'INTERNAL';
  message: string;
}

/** Any error as an OperationError: a DomainError as it is, anything else as an opaque INTERNAL. */
export function operationErrorOf(e: unknown): OperationError {
  if (e instanceof DomainError) {
    const out: OperationError = { code: e.code, message: e.message };
    const u = e.upstream;
    if (u.registry !== undefined) out.registry = u.registry;
    if (u.upstreamStatus !== undefined) out.upstreamStatus = u.upstreamStatus;
    if (u.upstreamCode !== undefined) out.upstreamCode = u.upstreamCode;
    if (u.retryable !== undefined) out.retryable = u.retryable;
    return out;
  }
  return { code: 'INTERNAL', message: 'an unexpected error occurred; see the service log' };
}

/** The DomainError an OperationError stands for (to rethrow or map to a problem). */
export function domainErrorOf(e: OperationError): DomainError {
  const { code, message, ...upstream } = e;
  return new DomainError(code === 'INTERNAL' ? 'UPSTREAM_PROTOCOL_ERROR' : code, message, upstream);
}
