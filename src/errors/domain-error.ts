/**
 * Framework-free errors shared by image-spec, transports, the copy engine and the services.
 *
 * Contract: every failure that reaches a caller is a DomainError with a stable `code`
 * (UPPER_SNAKE). Domain code never chooses an HTTP status; the global problem filter maps
 * `code` to a status and an RFC 9457 problem object. Messages are written for the caller and
 * never contain credentials.
 */
export interface UpstreamDetails {
  /** Registry host (or daemon endpoint) that answered, e.g. `registry.example:5000`. */
  registry?: string;
  /** HTTP status the upstream answered with. */
  upstreamStatus?: number;
  /** The upstream's own error code, e.g. `MANIFEST_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`. */
  upstreamCode?: string;
  /** Whether the same request may succeed later. */
  retryable?: boolean;
  /** Seconds the upstream asked us to wait (from `Retry-After`). */
  retryAfterSeconds?: number;
}

export type DomainErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_ARGUMENT'
  | 'INVALID_TEMPLATE'
  | 'PATH_ESCAPES_STORAGE_ROOT'
  | 'TRANSPORT_NOT_IMPLEMENTED'
  | 'OPERATION_NOT_SUPPORTED'
  | 'IMAGE_NOT_FOUND'
  | 'PLATFORM_NOT_FOUND'
  | 'REGISTRY_DENIED'
  | 'INVALID_CREDENTIALS'
  | 'RATE_LIMITED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TLS_ERROR'
  | 'UPSTREAM_REFUSED'
  | 'UPSTREAM_UNSUPPORTED'
  | 'UPSTREAM_PROTOCOL_ERROR'
  | 'DIGEST_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'BODY_TOO_LARGE'
  | 'CREDENTIAL_HELPER_FAILED'
  | 'CREDENTIALS_NOT_FOUND'
  | 'ABORTED'
  | 'UNAUTHORIZED'
  | 'OPERATION_NOT_FOUND'
  | 'OPERATION_CONFLICT'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'CREDENTIALS_UNAVAILABLE'
  | 'ARCHIVE_INVALID'
  | 'LAYOUT_INVALID'
  | 'STORAGE_CONFLICT'
  | 'DAEMON_UNAVAILABLE'
  | 'DAEMON_ERROR'
  | 'FORBIDDEN'
  | 'EGRESS_REFUSED'
  | 'TRANSPORT_DISABLED'
  | 'TOO_MANY_REQUESTS'
  | 'QUEUE_FULL'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INSUFFICIENT_STORAGE'
  | 'UPSTREAM_TIMEOUT'
  | 'STORE_UNAVAILABLE'
  /** A bounded resource of the service (e.g. archive inspects at once) is in use; retry after Retry-After. */
  | 'SERVICE_BUSY'
  /** Storing credentials needs a secret key (SKIFF_SECRET_KEY) this service does not have: they are never kept in clear in a shared database. */
  | 'SECRET_KEY_REQUIRED'
  | 'DEADLINE_EXCEEDED';

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  readonly upstream: UpstreamDetails;

  constructor(code: DomainErrorCode, message: string, upstream: UpstreamDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.upstream = upstream;
  }
}

/** A caller-supplied value (query parameter, body field) is not acceptable. */
export class InvalidArgumentError extends DomainError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** The transport exists in the grammar but this operation is not implemented for it yet. */
export class TransportNotImplementedError extends DomainError {
  constructor(transport: string, operation: string) {
    super('TRANSPORT_NOT_IMPLEMENTED', `${operation} is not implemented for the "${transport}" transport yet`);
  }
}

/** skopeo itself does not support this operation on this transport (e.g. list-tags on oci:). */
export class OperationNotSupportedError extends DomainError {
  constructor(message: string) {
    super('OPERATION_NOT_SUPPORTED', message);
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends DomainError {
  constructor(message = 'the operation was aborted') {
    super('ABORTED', message);
  }
}
