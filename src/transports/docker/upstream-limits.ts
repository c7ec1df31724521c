import { DomainError } from '../../errors/domain-error';

/**
 * The deadlines of every upstream call, from the configuration. Each limit has a setting; a
 * limit that fires becomes a 504 UPSTREAM_TIMEOUT whose message names it and its value.
 */
export interface UpstreamLimits {
  /** DNS, TCP and TLS handshake of one connection (SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** From the request (its body, if any, sent) to the answer's headers (SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS). */
  firstByteTimeoutMs: number;
  /** Slowest accepted body transfer, either direction (SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND). */
  minBytesPerSecond: number;
  /** The sliding window the throughput is measured over (SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS). */
  throughputWindowSeconds: number;
  /** One call to its answer, every retry and backoff included (SKIFF_UPSTREAM_TIMEOUT_MS). */
  callTimeoutMs: number;
}

export type UpstreamLimitName = 'connect' | 'first-byte' | 'throughput' | 'call';

/**
 * A registry answers a blob upload only once it has stored (hashed, moved) the whole blob,
 * which for a large layer on object storage takes a while: such a request waits for its
 * answer the first-byte limit plus one second per COMMIT_BYTES_PER_SECOND of the blob.
 */
export const COMMIT_BYTES_PER_SECOND = 8 * 1024 * 1024;

/** The first-byte limit of a request that uploads `size` bytes (see COMMIT_BYTES_PER_SECOND). */
export function uploadFirstByteTimeoutMs(limits: UpstreamLimits, size: number): number {
  return limits.firstByteTimeoutMs + Math.ceil(Math.max(0, size) / COMMIT_BYTES_PER_SECOND) * 1000;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The UPSTREAM_TIMEOUT error for a limit that fired; `observed` adds what was seen (bytes in the window). */
export function upstreamTimeoutError(limit: UpstreamLimitName, what: string, registry: string, limits: UpstreamLimits, observed?: string, firstByteMs = limits.firstByteTimeoutMs): DomainError {
  let detail: string;
  switch (limit) {
    case 'connect':
      detail = `could not connect to ${registry} within ${seconds(limits.connectTimeoutMs)} (SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS=${limits.connectTimeoutMs})`;
      break;
    case 'first-byte':
      detail =
        `${registry} sent no answer within ${seconds(firstByteMs)} (SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS=${limits.firstByteTimeoutMs}` +
        `${firstByteMs > limits.firstByteTimeoutMs ? ', plus 1 s per 8 MiB uploaded' : ''})`;
      break;
    case 'throughput':
      detail =
        `the transfer with ${registry} stalled: ${observed ?? 'too few bytes'} in the last ${limits.throughputWindowSeconds} s, below the floor of ` +
        `${limits.minBytesPerSecond} bytes/s (SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND=${limits.minBytesPerSecond} over SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS=${limits.throughputWindowSeconds})`;
      break;
    case 'call':
      detail = `${registry} gave no usable answer within ${seconds(limits.callTimeoutMs)}, retries included (SKIFF_UPSTREAM_TIMEOUT_MS=${limits.callTimeoutMs})`;
      break;
  }
  return new DomainError('UPSTREAM_TIMEOUT', `${what}: ${detail}`, { registry, retryable: true });
}

/** The error a throughput watch raises inside a stream; mapped to UPSTREAM_TIMEOUT by whoever knows the request. */
export class ThroughputStallError extends Error {
  readonly code = 'SKIFF_THROUGHPUT_STALL';
  constructor(readonly bytesInWindow: number) {
    super(`throughput below the floor: ${bytesInWindow} bytes in the window`);
  }
}
