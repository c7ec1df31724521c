import { DomainError } from '../../errors/domain-error';
import { ExpiringLru } from './content-cache';
import { header } from './registry-exchange';

/**
 * What this process knows of each registry it talked to: reachable (last ping or answer),
 * the auth scheme of its `/v2/` challenge, its rate limit as announced in answer headers
 * (`RateLimit-Limit: 100;w=21600`, `RateLimit-Remaining`, `RateLimit-Reset`, or the
 * `X-RateLimit-*` spellings), and the last error. Also the 429 hold-offs: after a 429 (and
 * its `Retry-After`), every request to that host with the same credentials waits (or fails fast)
 * instead of hammering it. Registries meter per credential (Docker Hub: per account, anonymous
 * pulls per source address), so a hold-off is kept per host and credential identity
 * (credentialIdentity: never the secret itself): one caller's throttled or abused credentials,
 * or anonymous pulls, do not hold off the callers that use other credentials.
 * Bounded: registries not heard of for a day are forgotten, and at most `max` are kept; at most
 * `maxHoldOffs` hold-offs are kept, each forgotten when it ends (see HoldOffs for which goes
 * beyond the bound: a forgotten hold-off costs one more request, which the registry answers
 * with 429 again).
 */

export interface RateLimitState {
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
  /** When the window resets (ISO 8601), when the registry said. */
  resetAt?: string;
}

export interface RegistryState {
  registry: string;
  reachable?: boolean;
  authScheme?: 'bearer' | 'basic' | 'none';
  rateLimit?: RateLimitState;
  lastError?: { code: string; detail: string; at: string };
  /** Last time the registry answered anything (ISO 8601). */
  lastSeenAt?: string;
}

interface Entry {
  state: RegistryState;
}

/** Reads `N` or `N;w=SECONDS` (params in any order, other params ignored); linear, no regex on the whole value. */
export function parseRateLimitValue(raw: string | undefined): { value: number; windowSeconds?: number } | undefined {
  if (raw === undefined) return undefined;
  const first = raw.slice(0, 256).split(',')[0]!;
  const parts = first.split(';');
  const value = Number(parts[0]!.trim());
  if (parts[0]!.trim() === '' || !Number.isSafeInteger(value) || value < 0) return undefined;
  let windowSeconds: number | undefined;
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq === -1) continue;
    if (p.slice(0, eq).trim().toLowerCase() === 'w') {
      const w = Number(p.slice(eq + 1).trim());
      if (Number.isSafeInteger(w) && w > 0) windowSeconds = w;
    }
  }
  return { value, windowSeconds };
}

/** Latest reset believed: an announced reset further away is taken as unknown (a Date past year 275760 cannot even be written). */
const MAX_RESET_AHEAD_MS = 366 * 24 * 3600_000;

/** `RateLimit-Reset`: seconds from now, or (X-RateLimit-Reset style) epoch seconds; undefined when absent, invalid or over a year ahead. */
function parseReset(raw: string | undefined, now: number): string | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw.trim().slice(0, 32));
  if (!Number.isFinite(n) || n < 0) return undefined;
  const at = n > 1_000_000_000 ? n * 1000 : now + n * 1000;
  if (at - now > MAX_RESET_AHEAD_MS) return undefined;
  return new Date(at).toISOString();
}

/** The rate limit announced by an answer's headers, or undefined when it announces none. */
export function rateLimitFromHeaders(headers: Record<string, string | string[] | undefined>, now = Date.now()): RateLimitState | undefined {
  const h = { headers };
  const limit = parseRateLimitValue(header(h, 'ratelimit-limit') ?? header(h, 'x-ratelimit-limit'));
  const remaining = parseRateLimitValue(header(h, 'ratelimit-remaining') ?? header(h, 'x-ratelimit-remaining'));
  if (!limit && !remaining) return undefined;
  const resetAt = parseReset(header(h, 'ratelimit-reset') ?? header(h, 'x-ratelimit-reset'), now);
  return {
    ...(limit ? { limit: limit.value } : {}),
    ...(remaining ? { remaining: remaining.value } : {}),
    ...((limit?.windowSeconds ?? remaining?.windowSeconds) !== undefined ? { windowSeconds: limit?.windowSeconds ?? remaining?.windowSeconds } : {}),
    ...(resetAt ? { resetAt } : {}),
  };
}

export interface RegistryStatesOptions {
  max?: number;
  idleMs?: number;
  /** Most hold-offs kept at once (host × credential identity); default 10,000. */
  maxHoldOffs?: number;
  /** Most rate limits kept per host and credential identity at once; default 10,000. */
  maxCredentialRateLimits?: number;
  /** Told of every change of a registry's state (gauges). */
  onChange?: (state: RegistryState) => void;
}

export class RegistryStates {
  private readonly entries: ExpiringLru<string, Entry>;
  /** `host` NUL `identity` → end of the hold-off (epoch ms); each entry expires with its hold-off. */
  private readonly holds: HoldOffs;
  /** `host` NUL `identity` → the rate limit announced to requests sent as that identity. */
  private readonly limits: ExpiringLru<string, RateLimitState>;

  constructor(private readonly opts: RegistryStatesOptions = {}) {
    this.entries = new ExpiringLru<string, Entry>({ max: opts.max ?? 1000, idleMs: opts.idleMs ?? 24 * 3600_000 });
    this.holds = new HoldOffs(opts.maxHoldOffs ?? 10_000);
    this.limits = new ExpiringLru<string, RateLimitState>({ max: opts.maxCredentialRateLimits ?? 10_000, idleMs: opts.idleMs ?? 24 * 3600_000 });
  }

  /** Hold-offs kept now (for tests and diagnostics). */
  get holdOffCount(): number {
    return this.holds.size;
  }

  private entry(host: string): Entry {
    let e = this.entries.get(host);
    if (!e) {
      e = { state: { registry: host } };
      this.entries.set(host, e);
    }
    return e;
  }

  private changed(e: Entry): void {
    this.opts.onChange?.(e.state);
  }

  /** A copy of what is known, or undefined for a registry never talked to (or forgotten). */
  get(host: string): RegistryState | undefined {
    const e = this.entries.get(host);
    return e ? structuredClone(e.state) : undefined;
  }

  /**
   * Every answer from the registry: it is reachable; its rate-limit headers are read, into the
   * host's state (the last announced to anyone) and, when `identity` is given, into what was
   * announced to requests sent as that identity (registries meter per credential).
   */
  onAnswer(host: string, headers: Record<string, string | string[] | undefined>, identity?: string): void {
    const e = this.entry(host);
    e.state.reachable = true;
    e.state.lastSeenAt = new Date().toISOString();
    const rl = rateLimitFromHeaders(headers);
    if (rl) {
      e.state.rateLimit = { ...e.state.rateLimit, ...rl };
      if (identity !== undefined) {
        const key = `${host}\0${identity}`;
        this.limits.set(key, { ...this.limits.get(key), ...rl });
      }
    }
    this.changed(e);
  }

  /** The rate limit last announced to requests sent to `host` as `identity` (a copy); undefined when none was. */
  rateLimitFor(host: string, identity: string): RateLimitState | undefined {
    const rl = this.limits.get(`${host}\0${identity}`);
    return rl ? { ...rl } : undefined;
  }

  onPing(host: string, challenges: Array<{ scheme: string }>): void {
    const e = this.entry(host);
    e.state.authScheme = challenges.some((c) => c.scheme === 'bearer') ? 'bearer' : challenges.some((c) => c.scheme === 'basic') ? 'basic' : 'none';
    this.changed(e);
  }

  /** A failed call: remembered as the last error; a registry that could not be reached is unreachable. */
  onError(host: string, error: unknown): void {
    if (!(error instanceof DomainError) || error.code === 'ABORTED') return;
    const e = this.entry(host);
    e.state.lastError = { code: error.code, detail: error.message, at: new Date().toISOString() };
    if (error.upstream.upstreamStatus === undefined && ['UPSTREAM_UNAVAILABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_TLS_ERROR', 'EGRESS_REFUSED'].includes(error.code)) {
      e.state.reachable = false;
    }
    this.changed(e);
  }

  /** After a 429 to a request sent as `identity`: nothing is sent to `host` as `identity` before `untilMs` (epoch ms). */
  holdOff(host: string, identity: string, untilMs: number): void {
    if (!(untilMs > Date.now())) return;
    this.holds.set(host, identity, untilMs);
  }

  /** Milliseconds to wait before sending to `host` as `identity` (0: go). */
  heldFor(host: string, identity: string): number {
    return this.holds.heldFor(host, identity);
  }
}

/**
 * The live 429 hold-offs, by host and then credential identity (the end of each, epoch ms).
 * Beyond `max`, ended ones go first, then the oldest of the host holding the most (the newest
 * such host on a tie): a caller who makes one registry (say its own, answering 429 to each of
 * many credentials) hold off many identities only evicts that registry's hold-offs, never those
 * another registry asked for, which would otherwise be sent to again. (A caller with as many
 * 429-answering registries as the bound can still push out a registry holding several; each
 * forgotten hold-off then costs one request, answered 429 again.) Eviction costs O(entries),
 * only when full.
 */
class HoldOffs {
  private readonly byHost = new Map<string, Map<string, number>>();
  private count = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.count;
  }

  /** Holds `identity` at `host` until `untilMs` (a hold-off only grows). */
  set(host: string, identity: string, untilMs: number): void {
    let ids = this.byHost.get(host);
    if (!ids) {
      ids = new Map();
      this.byHost.set(host, ids);
    }
    const old = ids.get(identity);
    if (old !== undefined) {
      ids.delete(identity);
      this.count--;
    }
    ids.set(identity, Math.max(old ?? 0, untilMs));
    this.count++;
    if (this.count > this.max) this.shrink();
  }

  /** Milliseconds `identity` is still held at `host` (0: not held; an ended hold-off is dropped). */
  heldFor(host: string, identity: string): number {
    const ids = this.byHost.get(host);
    const until = ids?.get(identity);
    if (until === undefined) return 0;
    const left = until - Date.now();
    if (left > 0) return left;
    this.remove(host, ids!, identity);
    return 0;
  }

  private remove(host: string, ids: Map<string, number>, identity: string): void {
    if (!ids.delete(identity)) return;
    this.count--;
    if (ids.size === 0) this.byHost.delete(host);
  }

  private shrink(): void {
    const now = Date.now();
    for (const [host, ids] of this.byHost) {
      for (const [identity, until] of ids) if (until <= now) this.remove(host, ids, identity);
    }
    while (this.count > this.max) {
      let fullest: [string, Map<string, number>] | undefined;
      for (const entry of this.byHost) if (!fullest || entry[1].size >= fullest[1].size) fullest = entry;
      const [host, ids] = fullest!;
      this.remove(host, ids, ids.keys().next().value!);
    }
  }
}
