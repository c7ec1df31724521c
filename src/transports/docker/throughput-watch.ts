import { Readable } from 'node:stream';

/**
 * The throughput floor of body transfers. Only time spent waiting on the registry counts:
 * for a download, while skiff is ready to take bytes (not while its own consumer applies
 * backpressure); for an upload, while skiff has bytes ready that the registry does not take
 * (not while skiff's own source is slow). When the last `windowSeconds` of such waiting moved
 * fewer than `minBytesPerSecond × windowSeconds` bytes, the transfer is a stall. Time is
 * sampled in ticks (at most a second); a watch holds one timer, cleared when it stops, and
 * buckets only for ticks that waited (bounded by the window, not by how long it lives).
 */
export interface ThroughputFloor {
  minBytesPerSecond: number;
  windowSeconds: number;
}

export class ThroughputWatch {
  private readonly buckets: Array<{ waitMs: number; bytes: number }> = [];
  private bytes = 0;
  private waitMs = 0;
  private waitingSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly floor: ThroughputFloor,
    private readonly onStall: (bytesInWindow: number) => void,
  ) {
    const tickMs = Math.min(1000, Math.max(50, (floor.windowSeconds * 1000) / 8));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  /** Whether skiff is now waiting on the registry (see the class contract). */
  setWaiting(waiting: boolean): void {
    if (this.stopped) return;
    const now = performance.now();
    if (waiting && this.waitingSince === undefined) this.waitingSince = now;
    else if (!waiting && this.waitingSince !== undefined) {
      this.waitMs += now - this.waitingSince;
      this.waitingSince = undefined;
    }
  }

  add(bytes: number): void {
    this.bytes += bytes;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = performance.now();
    if (this.waitingSince !== undefined) {
      this.waitMs += now - this.waitingSince;
      this.waitingSince = now;
    }
    // A tick without waiting adds no time to the window: its bytes join the newest bucket, so a
    // transfer that is not waiting on the registry (paused by its consumer, or an upload whose
    // source is slow) for hours holds one bucket, not one per tick. The sums are the same.
    const newest = this.buckets[this.buckets.length - 1];
    if (this.waitMs === 0 && newest) newest.bytes += this.bytes;
    else this.buckets.push({ waitMs: this.waitMs, bytes: this.bytes });
    this.waitMs = 0;
    this.bytes = 0;
    const windowMs = this.floor.windowSeconds * 1000;
    let waited = 0;
    let moved = 0;
    for (let i = this.buckets.length - 1; i >= 0; i--) {
      waited += this.buckets[i]!.waitMs;
      moved += this.buckets[i]!.bytes;
      if (waited >= windowMs) {
        this.buckets.splice(0, i);
        if (moved < this.floor.minBytesPerSecond * this.floor.windowSeconds) {
          this.stop();
          this.onStall(moved);
        }
        return;
      }
    }
  }
}

/**
 * `src` behind a watch: the returned stream carries the same bytes and ends, fails or is
 * destroyed with it. `direction` says which side of the wrapper the registry is on: a download
 * reads from it (`src` is its answer), an upload feeds it (the returned stream is the request
 * body). On a stall, both streams are destroyed with `stallError(bytesInWindow)`.
 */
export function watchStream(src: Readable, floor: ThroughputFloor, direction: 'download' | 'upload', stallError: (bytesInWindow: number) => Error): Readable {
  let paused = false;
  let srcEnded = false;
  const watch = new ThroughputWatch(floor, (bytes) => {
    const err = stallError(bytes);
    out.destroy(err);
  });
  const update = (): void => watch.setWaiting(direction === 'download' ? !paused && !srcEnded : paused || srcEnded);
  const out = new Readable({
    highWaterMark: src.readableHighWaterMark,
    read() {
      if (paused) {
        paused = false;
        update();
        src.resume();
      }
    },
    destroy(err, cb) {
      watch.stop();
      if (!src.destroyed) src.destroy(err ?? undefined);
      cb(err);
    },
  });
  src.on('data', (chunk: Buffer) => {
    watch.add(chunk.length);
    if (!out.push(chunk)) {
      paused = true;
      update();
      src.pause();
    }
  });
  src.once('end', () => {
    srcEnded = true;
    update();
    out.push(null);
  });
  src.once('error', (e) => out.destroy(e));
  src.once('close', () => {
    if (!srcEnded && !out.destroyed) out.destroy(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  });
  out.once('end', () => watch.stop());
  out.once('close', () => watch.stop());
  // `src` may have finished or failed before it was wrapped (a small blob read and verified
  // whole while the upload was being started): its events are gone, so carry its state over.
  if (src.errored) {
    const err = src.errored;
    process.nextTick(() => out.destroy(err));
  } else if (src.readableEnded) {
    srcEnded = true;
    out.push(null);
  } else if (src.destroyed) {
    process.nextTick(() => out.destroy(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
  }
  update();
  return out;
}
