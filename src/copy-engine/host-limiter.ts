import { AbortedError } from '../errors/domain-error';
import { abortReason as domainAbortReason, untilAborted } from '../errors/abortable-wait';

/**
 * Concurrency limits per registry host, shared by every job of the process: a blob transfer
 * holds one slot on each host it touches (source and destination). FIFO, abortable waits.
 */
export class HostLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(readonly perHost: number) {}

  /** Runs `fn` holding a slot on each host (acquired in sorted order, so no deadlock). */
  async run<T>(hosts: string[], signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const unique = [...new Set(hosts)].sort();
    const held: string[] = [];
    try {
      for (const h of unique) {
        await this.acquire(h, signal);
        held.push(h);
      }
      return await fn();
    } finally {
      for (const h of held) this.release(h);
    }
  }

  private acquire(host: string, signal?: AbortSignal): Promise<void> {
    const n = this.active.get(host) ?? 0;
    if (n < this.perHost) {
      this.active.set(host, n + 1);
      return Promise.resolve();
    }
    // An abort fired before this wait began fires no event: it would wait for a slot regardless.
    if (signal?.aborted) return Promise.reject(slotWaitAborted(signal));
    return new Promise<void>((resolve, reject) => {
      const queue = this.waiting.get(host) ?? [];
      this.waiting.set(host, queue);
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        if (queue.length === 0) this.waiting.delete(host);
        reject(slotWaitAborted(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
    });
  }

  /** Hands the slot to the next waiter, else frees it; a host with nothing held or awaited keeps no entry. */
  private release(host: string): void {
    const queue = this.waiting.get(host);
    const next = queue?.shift();
    if (queue?.length === 0) this.waiting.delete(host);
    if (next) {
      next();
      return;
    }
    const n = (this.active.get(host) ?? 1) - 1;
    if (n > 0) this.active.set(host, n);
    else this.active.delete(host);
  }

  /** Hosts with a slot held or awaited (for tests and diagnostics). */
  get hostCount(): number {
    return new Set([...this.active.keys(), ...this.waiting.keys()]).size;
  }
}

/** What a slot wait ended by its signal rejects with: the signal's reason when an Error, else ABORTED. */
function slotWaitAborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AbortedError('the copy was cancelled');
}

/** Runs work on one key at a time across processes (implemented by the operations fleet). */
export interface BlobTransferGate {
  /** Waiting for the key stops when `signal` aborts (rejecting with ABORTED, or its reason when a DomainError); `fn` then never runs. */
  run<T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T>;
}

/** What a wait ended by the caller's signal rejects with: its reason when a DomainError, else ABORTED. */
const abortReason = (signal: AbortSignal): Error => domainAbortReason(signal, 'the copy was cancelled');

/**
 * Makes concurrent jobs transfer the same blob to the same destination once: the first caller
 * runs the transfer, later callers for the same key wait for its outcome. A failed transfer
 * is not remembered (the next caller tries again).
 */
export class InFlightBlobs {
  private readonly inflight = new Map<string, Promise<unknown>>();

  /**
   * `gate`, when given, also serialises transfers to registries (`docker://` keys) across the
   * processes of a fleet: the same blob pushed to the same repository by two replicas at once
   * is pushed by one; the other then finds it present.
   */
  constructor(private readonly gate?: BlobTransferGate) {}

  /** `signal` (the caller's cancel) also ends its wait for another job's transfer or for the gate. */
  async once<T>(key: string, fn: () => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<{ value: T; shared: boolean }> {
    const { signal } = options;
    const existing = this.inflight.get(key) as Promise<T> | undefined;
    if (existing) {
      const outcome = await untilAborted(
        existing.then(
          (v) => ({ ok: true as const, value: v }),
          // the other job's transfer failed; try ourselves
          () => ({ ok: false as const }),
        ),
        signal,
        abortReason,
      );
      if (outcome.ok) return { value: outcome.value, shared: true };
    }
    if (signal?.aborted) throw abortReason(signal);
    const p = this.gate && key.startsWith('docker://') ? this.gate.run(key, fn, { signal }) : fn();
    this.inflight.set(key, p);
    try {
      return { value: await p, shared: false };
    } finally {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    }
  }
}
