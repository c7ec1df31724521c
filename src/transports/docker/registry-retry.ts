import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { ANONYMOUS_IDENTITY } from './credential-identity';
import { type RegistryResponse, discardBody, header } from './registry-exchange';
import { isRetryableNetworkError, networkError } from './registry-errors';
import type { RegistryStates } from './registry-state';
import { ThroughputStallError, type UpstreamLimits, upstreamTimeoutError } from './upstream-limits';
import type { UpstreamObserver } from './upstream-observer';

/**
 * Retries of registry requests: 408/429/5xx answers and connection failures are tried again
 * with exponential backoff and jitter, honouring `Retry-After` up to a bound; every attempt
 * is reported to the observer. One call (every attempt and wait) ends within the call budget
 * (SKIFF_UPSTREAM_TIMEOUT_MS): a wait that would pass it is not started. A 429 holds off every
 * request to that host sent with the same credentials (the request's `identity`) until its
 * `Retry-After` (or the backoff) has passed; requests with other credentials go on. Requests whose
 * body is a stream are never retried (the body cannot be sent twice); the caller says so with
 * `retry: false`, and such a request is bounded by its throughput and first-byte limits instead.
 */

/** The longest a 429 holds off a host for one identity: a registry asking for hours is asked again after this. */
const MAX_HOLD_OFF_MS = 10 * 60_000;

export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** `Retry-After` (delta-seconds or an HTTP date) in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (!v) return undefined;
  const trimmed = v.trim();
  if (/^\d{1,10}$/.test(trimmed)) return Number(trimmed) * 1000;
  if (trimmed.length > 64) return undefined;
  const t = Date.parse(trimmed);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** `Retry-After` in whole seconds, for the problem answer. */
export function retryAfterSeconds(res: RegistryResponse): number | undefined {
  const ms = parseRetryAfter(header(res, 'retry-after'));
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

/** A failure to get an answer as a domain error: the limit that fired, or the network failure. */
export function upstreamFailure(e: unknown, what: string, registry: string, limits: UpstreamLimits, firstByteMs?: number): DomainError {
  if (e instanceof DomainError) return e;
  if (e instanceof ThroughputStallError) return upstreamTimeoutError('throughput', what, registry, limits, `${e.bytesInWindow} bytes`);
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return upstreamTimeoutError('connect', what, registry, limits);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return upstreamTimeoutError('first-byte', what, registry, limits, undefined, firstByteMs);
  if (code === 'UND_ERR_HEADERS_OVERFLOW') return new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: registry ${registry} answered with headers larger than 16 KiB`, { registry });
  return networkError(what, registry, e);
}

export interface RetryOptions {
  retryTimes: number;
  /** Longest `Retry-After` waited for inside one call; a longer one is handed back at once. */
  maxRetryAfterMs: number;
  /** First backoff delay; doubles each attempt (capped at 10 s), plus up to this much jitter. */
  baseBackoffMs: number;
  limits: UpstreamLimits;
  observer?: UpstreamObserver;
  /** Per-registry knowledge: told of every answer; holds the 429 hold-offs. */
  states?: RegistryStates;
  /** The metrics label of a host (bounded: see RegistryHttp.metricLabel). */
  label?: (host: string) => string;
}

/** One request to retry: what it is for (metrics, messages) and how to send it once. */
export interface RetriedRequest {
  registry: string;
  method: string;
  operation: string;
  what: string;
  /**
   * Who the request is sent as: credentialIdentity() of the credentials it carries (ANONYMOUS_IDENTITY
   * when it carries none). 429 hold-offs are kept per registry and identity.
   */
  identity: string;
  signal?: AbortSignal;
  /** Sends one attempt; `signal` ends it (the caller's signal and the call budget). */
  send: (signal: AbortSignal | undefined) => Promise<RegistryResponse>;
  /** False for a request whose body can be sent only once. */
  retry?: boolean;
  /** This request's first-byte limit when it is not the configured one (an upload's). */
  firstByteTimeoutMs?: number;
}

export class RegistryRetry {
  constructor(private readonly opts: RetryOptions) {}

  get limits(): UpstreamLimits {
    return this.opts.limits;
  }

  /**
   * Runs `send` with retries. The final answer (any status) is returned as is; a failure that
   * outlives the retries or the budget becomes a domain error. Aborting the signal stops at once.
   */
  async run(req: RetriedRequest): Promise<RegistryResponse> {
    const once = req.retry === false;
    const retryTimes = once ? 0 : this.opts.retryTimes;
    // An upload's longer first-byte limit extends its budget by as much.
    const budgetMs = this.opts.limits.callTimeoutMs + Math.max(0, (req.firstByteTimeoutMs ?? 0) - this.opts.limits.firstByteTimeoutMs);
    const started = performance.now();
    const remaining = (): number => (once ? Number.POSITIVE_INFINITY : budgetMs - (performance.now() - started));
    const budget = new AbortController();
    const timer = once ? undefined : setTimeout(() => budget.abort(), budgetMs);
    const signal = once ? req.signal : req.signal ? AbortSignal.any([req.signal, budget.signal]) : budget.signal;
    try {
      for (let attempt = 0; ; attempt++) {
        if (req.signal?.aborted) throw new AbortedError();
        await this.waitForHoldOff(req, remaining(), signal);
        const attemptStarted = performance.now();
        let res: RegistryResponse;
        try {
          res = await req.send(signal);
        } catch (e) {
          this.observe(req, 'error', attemptStarted);
          if (req.signal?.aborted) throw new AbortedError();
          if (budget.signal.aborted) throw this.failed(req, upstreamTimeoutError('call', req.what, req.registry, this.opts.limits));
          const delay = this.backoffDelay(attempt);
          if (attempt < retryTimes && isRetryableNetworkError(e) && delay < remaining()) {
            await this.sleep(delay, signal, req);
            continue;
          }
          throw this.failed(req, upstreamFailure(e, req.what, req.registry, this.opts.limits, req.firstByteTimeoutMs));
        }
        this.observe(req, res.status, attemptStarted);
        this.opts.states?.onAnswer(req.registry, res.headers, req.identity);
        const retryAfter = parseRetryAfter(header(res, 'retry-after'));
        const delay = retryAfter ?? this.backoffDelay(attempt);
        if (res.status === 429) this.opts.states?.holdOff(req.registry, req.identity, Date.now() + Math.min(delay, MAX_HOLD_OFF_MS));
        if (RETRYABLE_STATUS.has(res.status) && attempt < retryTimes && (retryAfter === undefined || retryAfter <= this.opts.maxRetryAfterMs) && delay < remaining()) {
          await discardBody(res);
          await this.sleep(delay, signal, req);
          continue;
        }
        return res;
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** The error a call ends with. Recording it is the caller's (a ping over HTTPS may fail and fall back). */
  private failed(_req: RetriedRequest, e: DomainError): DomainError {
    return e;
  }

  /** Waits out a 429 hold-off on this host and identity, or fails fast when it is longer than this call may wait. */
  private async waitForHoldOff(req: RetriedRequest, remainingMs: number, signal: AbortSignal | undefined): Promise<void> {
    const held = this.opts.states?.heldFor(req.registry, req.identity) ?? 0;
    if (held <= 0) return;
    if (held > this.opts.maxRetryAfterMs || held >= remainingMs) {
      const who = req.identity === ANONYMOUS_IDENTITY ? 'anonymous requests' : 'requests with these credentials';
      throw new DomainError(
        'RATE_LIMITED',
        `${req.what}: registry ${req.registry} asked to slow down (429); ${who} to it are held for ${Math.ceil(held / 1000)} s more`,
        { registry: req.registry, upstreamStatus: 429, retryable: true, retryAfterSeconds: Math.ceil(held / 1000) },
      );
    }
    await this.sleep(held, signal, req);
  }

  private observe(req: RetriedRequest, status: number | 'error', started: number): void {
    const registry = this.opts.label ? this.opts.label(req.registry) : req.registry;
    this.opts.observer?.onUpstreamRequest({ registry, method: req.method, operation: req.operation, status, durationSeconds: (performance.now() - started) / 1000 });
  }

  private backoffDelay(attempt: number): number {
    return Math.min(this.opts.baseBackoffMs * 2 ** attempt, 10_000) + Math.floor(Math.random() * this.opts.baseBackoffMs);
  }

  private async sleep(delay: number, signal: AbortSignal | undefined, req: RetriedRequest): Promise<void> {
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      if (req.signal?.aborted) throw new AbortedError();
      throw this.failed(req, upstreamTimeoutError('call', req.what, req.registry, this.opts.limits));
    }
  }
}
