import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './generated/openapi';

/** A typed client of the whole API: `client.GET('/v1/images/inspect', { params: { query: { image } } })`. */
export type SkiffClient = Client<paths>;

export type Schemas = components['schemas'];
export type CopyOperation = Schemas['CopyOperationDto'];
export type SyncOperation = Schemas['SyncOperationDto'];
/** A copy or a sync, discriminated by `kind`. */
export type Operation = CopyOperation | SyncOperation;
export type OperationState = Schemas['OperationState'];
export type OperationProgress = Schemas['OperationProgressDto'];
export type CopyResult = Schemas['CopyResultDto'];
export type SyncResult = Schemas['SyncResultDto'];
export type CopyRequest = Schemas['CopyRequestDto'];
export type SyncRequest = Schemas['SyncRequestDto'];
/** An RFC 9457 problem, as every error answer carries it. */
export type Problem = Schemas['ProblemDto'];

export interface SkiffClientOptions {
  /** Where the service is, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The API token (`Authorization: Bearer …`) of a service configured with tokens or principals. */
  token?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** A client of the API at `baseUrl`, typed by the committed OpenAPI document. */
export function createSkiffClient(opts: SkiffClientOptions): SkiffClient {
  return createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

/** The states an operation does not leave. */
export const FINISHED_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

export function isFinished(state: OperationState): boolean {
  return FINISHED_STATES.includes(state);
}

/** An answer that was a problem (or not an answer at all): its status and, when the body was one, the problem. */
export class SkiffProblemError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    message = problem ? `${status} ${problem.code}: ${problem.detail}` : `HTTP ${status}`,
  ) {
    super(message);
    this.name = 'SkiffProblemError';
  }
}

/** Whether retrying the same request later may help: the service or an upstream was busy or away. */
export function isTransient(status: number): boolean {
  return status === 408 || status === 429 || status === 502 || status === 503 || status === 504;
}

/** `Retry-After` in milliseconds (seconds or an HTTP date), or undefined. */
export function retryAfterMs(response: Response | undefined): number | undefined {
  const value = response?.headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Backoff with full jitter: a random delay up to min(max, base·2^attempt). */
export function backoffMs(attempt: number, opts: { baseMs: number; maxMs: number }): number {
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}
