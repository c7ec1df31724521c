import type { Logger } from '@nestjs/common';
import type { OperationEvent, OperationStore } from './operation-store';

/** Events read from the store at once when catching up. */
export const CATCH_UP_PAGE = 1000;

/** Receives each event of one operation in order; `null` = no more (forgotten, or the service stops). */
export type Watcher = (event: OperationEvent | null) => void;

/**
 * Publish, replay, watch: delivers each operation's events to the watchers in this process,
 * in seq order, whichever replica wrote them.
 *
 * Contracts:
 * - Events this process writes are `publish`ed at once; events other replicas write arrive as
 *   store signals (PostgreSQL NOTIFY) and are read from the store. Nothing polls.
 * - Per watched operation the hub remembers the last seq it delivered; a gap (an event written
 *   elsewhere not read yet) is filled from the store before anything later is delivered.
 *   Reads for one operation run one at a time, CATCH_UP_PAGE events per read.
 * - A watcher may see an event it already replayed itself: watchers skip seqs they have seen.
 * - After a lost LISTEN connection (`reconnected`), every watched operation is caught up.
 */
export class OperationEventHub {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly delivered = new Map<string, number>();
  private readonly reading = new Map<string, Promise<void>>();

  constructor(
    private readonly store: OperationStore,
    private readonly logger: Logger,
  ) {}

  get watchedCount(): number {
    return this.watchers.size;
  }

  /**
   * Registers `watcher` for `id`, whose events up to `afterSeq` the caller has (or replays
   * itself), then reads what was written since: no event falls between the caller's read and
   * the registration.
   */
  watch(id: string, afterSeq: number, watcher: Watcher): void {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(watcher);
    const known = this.delivered.get(id);
    if (known === undefined || known > afterSeq) this.delivered.set(id, Math.min(known ?? afterSeq, afterSeq));
    this.catchUp(id);
  }

  unwatch(id: string, watcher: Watcher): void {
    const set = this.watchers.get(id);
    if (!set) return;
    set.delete(watcher);
    if (set.size === 0) {
      this.watchers.delete(id);
      this.delivered.delete(id);
    }
  }

  /** Events this process wrote (in seq order). */
  publish(id: string, events: readonly OperationEvent[]): void {
    if (!this.watchers.has(id)) return;
    for (const event of events) {
      const last = this.delivered.get(id) ?? 0;
      if (event.seq <= last) continue;
      if (event.seq > last + 1) {
        this.catchUp(id);
        return;
      }
      this.deliver(id, event);
    }
  }

  /** A store signal: another replica (or, on PostgreSQL, this one) appended events up to `seq`. */
  signalled(id: string, seq: number): void {
    if (!this.watchers.has(id)) return;
    if (seq <= (this.delivered.get(id) ?? 0)) return;
    this.catchUp(id);
  }

  /** After the signal connection came back: anything may have been missed. */
  reconnected(): void {
    for (const id of this.watchers.keys()) this.catchUp(id);
  }

  /** The operation is gone: its watchers end. */
  end(id: string): void {
    for (const w of [...(this.watchers.get(id) ?? [])]) w(null);
    this.watchers.delete(id);
    this.delivered.delete(id);
  }

  /** Ends every watcher (the service stops). */
  close(): void {
    for (const id of [...this.watchers.keys()]) this.end(id);
  }

  private deliver(id: string, event: OperationEvent): void {
    this.delivered.set(id, event.seq);
    for (const w of [...(this.watchers.get(id) ?? [])]) w(event);
  }

  private catchUp(id: string): void {
    const previous = this.reading.get(id) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (!this.watchers.has(id)) return;
      try {
        // A page at a time, each delivered before the next is read: a long gap (a watcher far
        // behind, a long-lost LISTEN connection) never sits in memory whole.
        for (;;) {
          const page = await this.store.eventsAfter(id, this.delivered.get(id) ?? 0, CATCH_UP_PAGE);
          for (const event of page) {
            if (!this.watchers.has(id)) return;
            if (event.seq > (this.delivered.get(id) ?? 0)) this.deliver(id, event);
          }
          if (page.length < CATCH_UP_PAGE) return;
        }
      } catch (e) {
        this.logger.warn({ operationId: id, err: e }, 'could not read new events of an operation; the next signal retries');
      }
    });
    this.reading.set(id, next);
    void next.finally(() => {
      if (this.reading.get(id) === next) this.reading.delete(id);
    });
  }
}
