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
        reject(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
    });
  }

  private release(host: string): void {
    const next = this.waiting.get(host)?.shift();
    if (next) {
      next();
      return;
    }
    this.active.set(host, (this.active.get(host) ?? 1) - 1);
  }
}

/** Runs work on one key at a time across processes (implemented by the operations fleet). */
export interface BlobTransferGate {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

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

  async once<T>(key: string, fn: () => Promise<T>): Promise<{ value: T; shared: boolean }> {
    const existing = this.inflight.get(key) as Promise<T> | undefined;
    if (existing) {
      try {
        return { value: await existing, shared: true };
      } catch {
        // the other job's transfer failed; try ourselves
      }
    }
    const p = this.gate && key.startsWith('docker://') ? this.gate.run(key, fn) : fn();
    this.inflight.set(key, p);
    try {
      return { value: await p, shared: false };
    } finally {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    }
  }
}
