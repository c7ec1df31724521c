import { formatIp, isIpv4, parseIp } from '../egress/ip-address';

/**
 * Failed authentication attempts per client address (SKIFF_AUTH_FAILURES_PER_MINUTE): a
 * caller who sent `limit` bad tokens (or malformed Authorization headers) within a minute
 * is answered 429 TOO_MANY_REQUESTS, without its token being looked at, until that minute
 * (counted from its first failure) has passed. Valid tokens do not count and do not reset
 * the count (an attacker holding one token cannot clear its guesses with it).
 *
 * Memory is bounded: at most `maxClients` addresses are tracked (a Map in order of their
 * first failure; expired entries go first, then the oldest). IPv6 addresses count per /64
 * (one host usually holds the whole prefix), IPv4-mapped IPv6 as the IPv4 address.
 */
export interface AuthFailureLimiterOptions {
  /** Failures per address per minute before 429; at least 1. */
  limitPerMinute: number;
  /** Addresses tracked at once. */
  maxClients?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

const WINDOW_MS = 60_000;
const DEFAULT_MAX_CLIENTS = 4096;

interface Entry {
  start: number;
  failures: number;
}

export class AuthFailureLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly limit: number;
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(opts: AuthFailureLimiterOptions) {
    this.limit = opts.limitPerMinute;
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.now = opts.now ?? Date.now;
  }

  /** Addresses tracked now (tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Seconds until `address` may try again, or undefined when it is not blocked. */
  retryAfterSeconds(address: string | undefined): number | undefined {
    const entry = this.entries.get(clientKey(address));
    if (entry === undefined || entry.failures < this.limit) return undefined;
    const left = entry.start + WINDOW_MS - this.now();
    return left > 0 ? Math.max(1, Math.ceil(left / 1000)) : undefined;
  }

  /** Counts one failed attempt of `address`. */
  recordFailure(address: string | undefined): void {
    const key = clientKey(address);
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry !== undefined && now - entry.start < WINDOW_MS) {
      entry.failures++;
      return;
    }
    // a new window: re-inserted at the end, so the Map stays ordered by window start
    this.entries.delete(key);
    this.evict(now);
    this.entries.set(key, { start: now, failures: 1 });
  }

  /** Drops expired entries from the front; when still full, the oldest one. */
  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.start < WINDOW_MS && this.entries.size < this.maxClients) break;
      this.entries.delete(key);
    }
  }
}

/** The address a client is counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64. */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const ip = parseIp(address);
  if (ip === undefined) return address;
  if (isIpv4(ip)) return formatIp(ip);
  const prefix = new Uint8Array(16);
  prefix.set(ip.subarray(0, 8));
  return `${formatIp(prefix)}/64`;
}
