import { AbortedError, DomainError } from './domain-error';

/**
 * What a wait ended by `signal` rejects with: the signal's reason when it is a DomainError (the
 * call budget's UPSTREAM_TIMEOUT, a cancel with its own detail), else ABORTED with `detail`.
 */
export function abortReason(signal: AbortSignal, detail = 'the operation was cancelled'): DomainError {
  return signal.reason instanceof DomainError ? signal.reason : new AbortedError(detail);
}

/**
 * `p`, or a rejection with `whenAborted(signal)` (default abortReason) as soon as `signal` aborts,
 * already aborted included. `p` itself goes on (for its other waiters); the abort listener is
 * removed on every path, so a long-lived signal does not collect one per wait.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, whenAborted: (signal: AbortSignal) => Error = abortReason): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(whenAborted(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(whenAborted(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
