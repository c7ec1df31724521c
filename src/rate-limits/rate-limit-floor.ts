import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError } from '../errors/domain-error';
import { untilAborted } from '../errors/abortable-wait';
import type { TransportContext } from '../transports/transport';

/**
 * A sync's `rateLimitFloor`: before pulling from a registry that meters pulls, wait for its
 * window to reset instead of spending the last `floor` pulls. The registry client knows what
 * the registry last announced (`RateLimit-Limit`, `RateLimit-Remaining`, their window, a
 * reset time); this reads that state and never makes a request itself.
 *
 * Contract: `beforePull(registry)` resolves at once when the registry announced nothing, or
 * more than `floor` pulls remain. Otherwise it waits until the announced reset (else one
 * window, else `fallbackWaitMs`), capped at `maxWaitMs`, then resolves (the next answer tells
 * the new state). What counts is what the registry announced to the credentials the pull uses
 * (the gauge is given the pull's transport context): registries meter per credential, and
 * another caller's spent quota is not this one's. Concurrent callers for the same registry
 * share one wait. The wait ends early with AbortedError when the signal fires. Pulls already in flight are not counted: with N
 * images copied at once, up to N-1 pulls may go below the floor.
 */

/** What the registry client knows of a registry's rate limit (the registry engineer's RateLimitState). */
export interface KnownRateLimit {
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
  /** When the window resets (ISO 8601), when the registry said. */
  resetAt?: string;
}

/**
 * Reads the registry client's known state for a registry host, as announced to the credentials
 * `ctx` gives for it (anonymous without a context); never makes a request to the registry.
 */
export type RateLimitGauge = (registry: string, ctx: TransportContext | undefined) => KnownRateLimit | undefined | Promise<KnownRateLimit | undefined>;

/** Nest token of the RateLimitGauge, provided from the registry transport's state (`DockerTransport.rateLimit(host, ctx)`). */
export const RATE_LIMIT_GAUGE = Symbol('RATE_LIMIT_GAUGE');

export interface RateLimitFloorOptions {
  /** Longest single wait; default 6 hours. */
  maxWaitMs?: number;
  /** Wait when the registry announced neither a reset nor a window; default 60 s. */
  fallbackWaitMs?: number;
  now?: () => number;
  pause?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** Told when a wait starts (for the operation's progress phase). */
  onWait?: (registry: string, ms: number) => void;
}

const defaultPause = async (ms: number, signal: AbortSignal | undefined): Promise<void> => {
  try {
    await sleep(ms, undefined, { signal, ref: false });
  } catch {
    throw new AbortedError('the sync was cancelled');
  }
};

export class RateLimitFloor {
  private readonly waits = new Map<string, Promise<void>>();

  constructor(
    private readonly gauge: RateLimitGauge,
    readonly floor: number,
    private readonly opts: RateLimitFloorOptions = {},
  ) {}

  /** How long a pull from `registry` with `ctx`'s credentials must wait now, in ms (0: go). */
  async waitFor(registry: string, ctx?: TransportContext): Promise<number> {
    const state = await this.gauge(registry, ctx);
    if (state?.remaining === undefined || state.remaining > this.floor) return 0;
    const now = (this.opts.now ?? Date.now)();
    const reset = state.resetAt !== undefined ? Date.parse(state.resetAt) : NaN;
    let ms: number;
    if (Number.isFinite(reset) && reset > now) ms = reset - now;
    else if (state.windowSeconds !== undefined && state.windowSeconds > 0) ms = state.windowSeconds * 1000;
    else ms = this.opts.fallbackWaitMs ?? 60_000;
    return Math.min(ms, this.opts.maxWaitMs ?? 6 * 3600_000);
  }

  async beforePull(registry: string, signal: AbortSignal | undefined, ctx?: TransportContext): Promise<void> {
    if (signal?.aborted) throw new AbortedError('the sync was cancelled');
    const running = this.waits.get(registry);
    if (running) return untilAborted(running, signal, syncCancelled);
    const ms = await this.waitFor(registry, ctx);
    if (ms <= 0) return;
    // Another pull may have started the wait while the gauge was read.
    const started = this.waits.get(registry);
    if (started) return untilAborted(started, signal, syncCancelled);
    this.opts.onWait?.(registry, ms);
    // The shared wait is not tied to one caller's signal; each caller can stop waiting on its own.
    const wait = (this.opts.pause ?? defaultPause)(ms, undefined).finally(() => this.waits.delete(registry));
    this.waits.set(registry, wait);
    return untilAborted(wait, signal, syncCancelled);
  }
}

const syncCancelled = (): Error => new AbortedError('the sync was cancelled');
