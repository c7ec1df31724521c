import { backoffMs, isFinished, isTransient, type Operation, retryAfterMs, type SkiffClient, SkiffProblemError, sleep } from './client';

export interface WaitForOperationOptions {
  /** Give up after this long (default 10 minutes): the promise rejects with OperationWaitTimeoutError. */
  timeoutMs?: number;
  /** `waitSeconds` of each long-poll (1 to 300, default 30). */
  pollSeconds?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** First and largest delay between retries after a transient failure (default 250 ms and 10 s). */
  backoff?: { baseMs: number; maxMs: number };
  /** Called with every state the operation is seen in before it finishes. */
  onUpdate?: (operation: Operation) => void;
}

/** The operation had not finished when the time given to waitForOperation ran out. */
export class OperationWaitTimeoutError extends Error {
  constructor(readonly operation: Operation | undefined) {
    super(`operation ${operation?.id ?? ''} had not finished (${operation?.state ?? 'never read'}) when the wait timed out`);
    this.name = 'OperationWaitTimeoutError';
  }
}

/**
 * Waits until an operation has finished (succeeded, failed or cancelled) and returns it, typed
 * as what was passed in (a CopyOperation gives a CopyOperation). Long-polls
 * `GET /v1/operations/{id}?waitSeconds=N`, so an operation that finishes is seen at once;
 * transient failures (network errors, 408, 429, 502–504) are retried with jittered backoff,
 * honouring Retry-After; any other problem (404, 401, 403, …) rejects with SkiffProblemError.
 * A failed or cancelled operation is returned, not thrown: check `state` and `error`.
 */
export async function waitForOperation<O extends Operation>(client: SkiffClient, operation: O, opts?: WaitForOperationOptions): Promise<O>;
export async function waitForOperation(client: SkiffClient, id: string, opts?: WaitForOperationOptions): Promise<Operation>;
export async function waitForOperation(client: SkiffClient, operation: Operation | string, opts: WaitForOperationOptions = {}): Promise<Operation> {
  const id = typeof operation === 'string' ? operation : operation.id;
  let last = typeof operation === 'string' ? undefined : operation;
  if (last && isFinished(last.state)) return last;
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
  const poll = Math.min(300, Math.max(1, Math.floor(opts.pollSeconds ?? 30)));
  const backoff = opts.backoff ?? { baseMs: 250, maxMs: 10_000 };
  let failures = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) throw new OperationWaitTimeoutError(last);
    const waitSeconds = Math.max(0, Math.min(poll, Math.floor(left / 1000)));
    let response: Response | undefined;
    try {
      const answer = await client.GET('/v1/operations/{id}', { params: { path: { id }, query: { waitSeconds } }, signal: opts.signal });
      response = answer.response;
      if (answer.data) {
        failures = 0;
        last = answer.data;
        if (isFinished(last.state)) return last;
        opts.onUpdate?.(last);
        continue;
      }
      if (!isTransient(response.status)) throw new SkiffProblemError(response.status, answer.error);
    } catch (e) {
      if (e instanceof SkiffProblemError || opts.signal?.aborted) throw e;
      // else a network failure (the service restarting, a proxy closing the long-poll): retried
    }
    const delay = retryAfterMs(response) ?? backoffMs(failures++, backoff);
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), opts.signal);
  }
}
