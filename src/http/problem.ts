import { HttpException } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DomainError, type DomainErrorCode } from '../errors/domain-error';
import { RequestValidationError } from './request-validation.error';

/** One invalid field of a request. */
export class FieldErrorDto {
  /** The field (query parameter, body property or header) at fault. */
  @ApiProperty({ example: 'image' })
  field: string;

  /** What is wrong with it. */
  @ApiProperty({ example: 'image should not be empty' })
  message: string;
}

/** An RFC 9457 problem object (`application/problem+json`). */
export class ProblemDto {
  /** A URI naming the kind of problem (`urn:skiff:problem:<code>`). */
  @ApiProperty({ format: 'uri', example: 'urn:skiff:problem:image-not-found' })
  type: string;

  /** Short summary of the kind of problem. */
  @ApiProperty({ example: 'Image not found' })
  title: string;

  /** HTTP status of this answer. */
  @ApiProperty({ type: 'integer', minimum: 100, maximum: 599, example: 404 })
  status: number;

  /** What went wrong in this case. */
  @ApiProperty({ example: 'reading manifest latest in registry.example/app: registry registry.example answered MANIFEST_UNKNOWN: manifest unknown' })
  detail: string;

  /** The request path this problem is about. */
  @ApiProperty({ format: 'uri-reference', example: '/v1/images/inspect' })
  instance: string;

  /** Stable machine-readable code (UPPER_SNAKE). */
  @ApiProperty({ example: 'IMAGE_NOT_FOUND' })
  code: string;

  /** Invalid fields, for validation problems. */
  @ApiPropertyOptional({ type: [FieldErrorDto] })
  errors?: FieldErrorDto[];

  /** The upstream registry (or daemon) involved. */
  @ApiPropertyOptional({ example: 'registry.example:5000' })
  registry?: string;

  /** HTTP status the upstream answered. */
  @ApiPropertyOptional({ type: 'integer', minimum: 100, maximum: 599, example: 404 })
  upstreamStatus?: number;

  /** The upstream's own error code, e.g. MANIFEST_UNKNOWN, DENIED, TOOMANYREQUESTS. */
  @ApiPropertyOptional({ example: 'MANIFEST_UNKNOWN' })
  upstreamCode?: string;

  /** Whether retrying the same request later may succeed. */
  @ApiPropertyOptional()
  retryable?: boolean;

  /** The request's `X-Request-Id` (the caller's, when it sent a sane one, else generated): quote it when reporting a problem. */
  @ApiPropertyOptional({ example: '3f2c1a9e-6d1b-4c55-9a0e-2b8f0f1c7d41' })
  requestId?: string;
}

interface ProblemKind {
  status: number;
  title: string;
}

export type HttpOnlyProblemCode = 'NOT_FOUND' | 'INTERNAL' | 'METHOD_NOT_ALLOWED' | 'PAYLOAD_TOO_LARGE' | 'HEADERS_TOO_LARGE' | 'REQUEST_TIMEOUT' | 'MALFORMED_REQUEST';

/** code → HTTP status and title; the only place domain codes meet HTTP. */
export const PROBLEM_KINDS: Record<DomainErrorCode | HttpOnlyProblemCode, ProblemKind> = {
  INVALID_REFERENCE: { status: 400, title: 'Invalid image reference' },
  INVALID_ARGUMENT: { status: 400, title: 'Invalid request' },
  INVALID_TEMPLATE: { status: 400, title: 'Invalid format template' },
  PATH_ESCAPES_STORAGE_ROOT: { status: 400, title: 'Path escapes the storage root' },
  OPERATION_NOT_SUPPORTED: { status: 400, title: 'Operation not supported for this transport' },
  TRANSPORT_NOT_IMPLEMENTED: { status: 501, title: 'Transport not implemented' },
  IMAGE_NOT_FOUND: { status: 404, title: 'Image not found' },
  PLATFORM_NOT_FOUND: { status: 404, title: 'No image for the requested platform' },
  CREDENTIALS_NOT_FOUND: { status: 404, title: 'No stored credentials' },
  REGISTRY_DENIED: { status: 403, title: 'Registry denied access' },
  INVALID_CREDENTIALS: { status: 403, title: 'Registry rejected the credentials' },
  RATE_LIMITED: { status: 429, title: 'Registry rate limit reached' },
  UPSTREAM_UNAVAILABLE: { status: 503, title: 'Registry unavailable' },
  UPSTREAM_TLS_ERROR: { status: 502, title: 'TLS failure talking to the registry' },
  UPSTREAM_REFUSED: { status: 502, title: 'Registry refused the request' },
  UPSTREAM_UNSUPPORTED: { status: 409, title: 'Registry does not support this operation' },
  UPSTREAM_PROTOCOL_ERROR: { status: 502, title: 'Registry answered outside the protocol' },
  DIGEST_MISMATCH: { status: 502, title: 'Content does not match its digest' },
  MANIFEST_INVALID: { status: 502, title: 'Invalid manifest or config' },
  BODY_TOO_LARGE: { status: 502, title: 'Upstream body too large' },
  CREDENTIAL_HELPER_FAILED: { status: 502, title: 'Credential helper failed' },
  ABORTED: { status: 503, title: 'Aborted' },
  UNAUTHORIZED: { status: 401, title: 'Missing or invalid API token' },
  OPERATION_NOT_FOUND: { status: 404, title: 'Operation not found' },
  OPERATION_CONFLICT: { status: 409, title: 'Conflict with the operation state' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency key reused with a different request' },
  CREDENTIALS_UNAVAILABLE: { status: 503, title: 'Inline credentials no longer available' },
  ARCHIVE_INVALID: { status: 422, title: 'Invalid or unsafe image archive' },
  LAYOUT_INVALID: { status: 422, title: 'Invalid image layout in storage' },
  STORAGE_CONFLICT: { status: 409, title: 'Storage path conflict' },
  DAEMON_UNAVAILABLE: { status: 503, title: 'Image daemon unavailable' },
  DAEMON_ERROR: { status: 502, title: 'Image daemon refused the request' },
  FORBIDDEN: { status: 403, title: 'Not allowed for this caller' },
  EGRESS_REFUSED: { status: 403, title: 'Destination refused by the egress policy' },
  TRANSPORT_DISABLED: { status: 403, title: 'Transport not enabled on this service' },
  TOO_MANY_REQUESTS: { status: 429, title: 'Too many requests from this caller' },
  QUEUE_FULL: { status: 429, title: 'The operations queue is full' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported request body type' },
  INSUFFICIENT_STORAGE: { status: 507, title: 'Insufficient storage' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream too slow' },
  STORE_UNAVAILABLE: { status: 503, title: 'Operations store unavailable' },
  SERVICE_BUSY: { status: 503, title: 'Service busy' },
  SECRET_KEY_REQUIRED: { status: 503, title: 'No secret key configured to encrypt credentials' },
  DEADLINE_EXCEEDED: { status: 504, title: 'Operation deadline exceeded' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request not received in time' },
  MALFORMED_REQUEST: { status: 400, title: 'Malformed HTTP request' },
  INTERNAL: { status: 500, title: 'Internal error' },
};

export function problemType(code: string): string {
  return `urn:skiff:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

export function baseProblem(code: keyof typeof PROBLEM_KINDS, detail: string, instance: string): ProblemDto {
  const kind = PROBLEM_KINDS[code];
  return { type: problemType(code), title: kind.title, status: kind.status, detail, instance, code };
}

/**
 * Any error as a problem object: DomainErrors by their code (with upstream details),
 * validation failures with `errors[]`, Nest's HttpExceptions by status, anything else as an
 * opaque 500. Used by the HTTP filter and for failed operations.
 */
export function problemFromError(exception: unknown, instance: string): ProblemDto {
  if (exception instanceof RequestValidationError) {
    return { ...baseProblem('INVALID_ARGUMENT', exception.message, instance), errors: exception.errors };
  }
  if (exception instanceof DomainError) {
    const p = baseProblem(exception.code, exception.message, instance);
    const u = exception.upstream;
    if (u.registry !== undefined) p.registry = u.registry;
    if (u.upstreamStatus !== undefined) p.upstreamStatus = u.upstreamStatus;
    if (u.upstreamCode !== undefined) p.upstreamCode = u.upstreamCode;
    if (u.retryable !== undefined) p.retryable = u.retryable;
    return p;
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code = status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : status === 405 ? 'METHOD_NOT_ALLOWED' : status === 413 ? 'PAYLOAD_TOO_LARGE' : status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL';
    const body = exception.getResponse();
    const detail = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : exception.message;
    return { ...baseProblem(code, detail, instance), status };
  }
  return baseProblem('INTERNAL', 'an unexpected error occurred; see the service log', instance);
}
