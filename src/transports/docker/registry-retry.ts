import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError } from '../../errors/domain-error';
import { type RegistryResponse, discardBody, header } from './registry-exchange';
import { isRetryableNetworkError, networkError } from './registry-errors';
import type { UpstreamObserver } from './upstream-observer';

/**
 * Retries of registry requests: 408/429/5xx answers and connection resets are tried again
 * with exponential backoff and jitter, honouring `Retry-After` up to a bound; every attempt
 * is reported to the observer. Requests whose body is a stream are never retried (the body
 * cannot be sent twice); the caller says so with `retry: false`.
 */

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

export interface RetryOptions {
  retryTimes: number;
  /** Longest `Retry-After` waited for inside one call; a longer one is handed back at once. */
  maxRetryAfterMs: number;
  /** First backoff delay; doubles each attempt (capped at 10 s), plus up to this much jitter. */
  baseBackoffMs: number;
  observer?: UpstreamObserver;
}

/** One request to retry: what it is for (metrics, messages) and how to send it once. */
export interface RetriedRequest {
  registry: string;
  method: string;
  operation: string;
  what: string;
  signal?: AbortSignal;
  send: () => Promise<RegistryResponse>;
  /** False for a request whose body can be sent only once. */
  retry?: boolean;
}

export class RegistryRetry {
  constructor(private readonly opts: RetryOptions) {}

  /**
   * Runs `send` with retries. The final answer (any status) is returned as is; a network
   * failure that outlives the retries becomes a domain error. Aborting the signal stops at once.
   */
  async run(req: RetriedRequest): Promise<RegistryResponse> {
    const retryTimes = req.retry === false ? 0 : this.opts.retryTimes;
    for (let attempt = 0; ; attempt++) {
      if (req.signal?.aborted) throw new AbortedError();
      const started = performance.now();
      let res: RegistryResponse;
      try {
        res = await req.send();
      } catch (e) {
        this.observe(req, 'error', started);
        if (req.signal?.aborted) throw new AbortedError();
        if (attempt < retryTimes && isRetryableNetworkError(e)) {
          await this.backoff(attempt, undefined, req.signal);
          continue;
        }
        throw networkError(req.what, req.registry, e);
      }
      this.observe(req, res.status, started);
      if (RETRYABLE_STATUS.has(res.status) && attempt < retryTimes) {
        const retryAfter = parseRetryAfter(header(res, 'retry-after'));
        if (retryAfter === undefined || retryAfter <= this.opts.maxRetryAfterMs) {
          await discardBody(res);
          await this.backoff(attempt, retryAfter, req.signal);
          continue;
        }
      }
      return res;
    }
  }

  private observe(req: RetriedRequest, status: number | 'error', started: number): void {
    this.opts.observer?.onUpstreamRequest({ registry: req.registry, method: req.method, operation: req.operation, status, durationSeconds: (performance.now() - started) / 1000 });
  }

  private async backoff(attempt: number, retryAfterMs: number | undefined, signal?: AbortSignal): Promise<void> {
    const exp = Math.min(this.opts.baseBackoffMs * 2 ** attempt, 10_000);
    const delay = retryAfterMs ?? exp + Math.floor(Math.random() * this.opts.baseBackoffMs);
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      throw new AbortedError();
    }
  }
}
