import type { Readable } from 'node:stream';
import { DomainError } from '../errors/domain-error';

/**
 * The blob writes a file destination has under way. Contract: once close() was called, new
 * writes are refused (ABORTED, their stream destroyed); close() resolves after every write
 * already started has settled, so the caller's cleanup never races a write. close() answers
 * false when it had been called before.
 */
export class PendingWrites {
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();

  track<T>(stream: Readable, write: () => Promise<T>): Promise<T> {
    if (this.closed) {
      stream.destroy();
      return Promise.reject(new DomainError('ABORTED', 'the destination is closed'));
    }
    const p = write();
    this.pending.add(p);
    const forget = () => this.pending.delete(p);
    void p.then(forget, forget);
    return p;
  }

  async close(): Promise<boolean> {
    if (this.closed) return false;
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    return true;
  }
}
