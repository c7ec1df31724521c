import { DomainError } from '../errors/domain-error';

/**
 * A bound on work that must not pile up (archive inspects extract or index whole files):
 * at most `max` at once in total and `perCaller` per caller. Beyond it the work is refused at
 * once with SERVICE_BUSY (503, Retry-After), never queued, so a burst costs nothing.
 */
export class BusyLimit {
  private running = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(private readonly opts: { max: number; perCaller: number; what: string; setting: string; retryAfterSeconds: number }) {}

  /** Takes a slot for `caller`; the returned function gives it back (call it exactly once). */
  acquire(caller: string): () => void {
    const mine = this.byCaller.get(caller) ?? 0;
    if (this.running >= this.opts.max || mine >= this.opts.perCaller) {
      const why = this.running >= this.opts.max ? `${this.running} ${this.opts.what} are running` : `caller ${caller} already runs ${mine} ${this.opts.what}`;
      throw new DomainError('SERVICE_BUSY', `${why} (at most ${this.opts.max}, ${this.opts.setting}); retry in ${this.opts.retryAfterSeconds} s`, {
        retryable: true,
        retryAfterSeconds: this.opts.retryAfterSeconds,
      });
    }
    this.running++;
    this.byCaller.set(caller, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.byCaller.get(caller) ?? 1) - 1;
      if (left <= 0) this.byCaller.delete(caller);
      else this.byCaller.set(caller, left);
    };
  }

  get inUse(): number {
    return this.running;
  }
}
