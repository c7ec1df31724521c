import type { Dispatcher } from 'undici';
import { DomainError } from '../../errors/domain-error';
import { untilAborted } from '../../errors/abortable-wait';
import { ExpiringLru } from './content-cache';
import { type AuthChallenge, parseWwwAuthenticate } from './auth-challenge';
import type { RegistryCallContext } from './registry-auth';
import { LIMIT_SMALL, dispatchBuffered, errorBody } from './registry-exchange';
import { registryResponseError } from './registry-errors';
import type { ThroughputFloor } from './throughput-watch';
import { RETRYABLE_STATUS, type RegistryRetry, retryAfterSeconds } from './registry-retry';

/**
 * Where and how a registry is spoken to: the `/v2/` ping finds the scheme (HTTPS first; when
 * TLS checks are off and HTTPS cannot be spoken at all, plain HTTP, as skopeo does) and the
 * registry's auth challenges. Answers are cached per host and TLS choice for a while (bounded
 * in count); concurrent requests to a registry not yet pinged share one ping.
 */

export interface Endpoint {
  host: string;
  /** Where requests go (`docker.io` is served by `registry-1.docker.io`). */
  origin: string;
  scheme: 'https' | 'http';
  challenges: AuthChallenge[];
  expiresAt: number;
}

export interface RegistryEndpointsOptions {
  userAgent: string;
  retry: RegistryRetry;
  /** TLS checks are off for this call (configured insecure, or tlsVerify=false). */
  isInsecure: (host: string, ctx: RegistryCallContext) => boolean;
  dispatcherFor: (host: string, verify: boolean) => Dispatcher;
  /** Throughput floor of the ping's body. */
  floor?: ThroughputFloor;
  /** Told of every successful ping (its challenges). */
  onPing?: (host: string, challenges: AuthChallenge[]) => void;
  /** How long a ping's answer is trusted. */
  ttlMs?: number;
  /** Most registries remembered at once (least recently used forgotten first). */
  max?: number;
}

const ENDPOINT_TTL_MS = 10 * 60 * 1000;

/** The identity `/v2/` pings are sent as (see RetriedRequest.identity): no caller's credentials. */
const PING_IDENTITY = 'ping';

export class RegistryEndpoints {
  /** Pings in flight, shared by the requests that wait for them; by `host|insecure`. */
  private readonly pings = new Map<string, Promise<Endpoint>>();
  /** Registries that answered their ping, until their TTL; by `host|insecure`. */
  private readonly known: ExpiringLru<string, Endpoint>;
  private readonly ttlMs: number;

  constructor(private readonly opts: RegistryEndpointsOptions) {
    this.ttlMs = opts.ttlMs ?? ENDPOINT_TTL_MS;
    this.known = new ExpiringLru<string, Endpoint>({ max: opts.max ?? 1000, idleMs: this.ttlMs });
  }

  get size(): number {
    return this.known.size;
  }

  clear(): void {
    this.pings.clear();
    this.known.clear();
  }

  /** The endpoint of a registry that answered its ping recently, without waiting for anything. */
  cached(host: string, ctx: RegistryCallContext): Endpoint | undefined {
    const ep = this.known.get(`${host}|${this.opts.isInsecure(host, ctx)}`);
    return ep && ep.expiresAt > Date.now() ? ep : undefined;
  }

  /** The endpoint of a registry: cached, or found by a ping (shared with concurrent callers). */
  async endpoint(host: string, ctx: RegistryCallContext): Promise<Endpoint> {
    const cached = this.cached(host, ctx);
    if (cached) return cached;
    const insecure = this.opts.isInsecure(host, ctx);
    const key = `${host}|${insecure}`;
    let pending = this.pings.get(key);
    if (!pending) {
      // Shared by every caller that arrives meanwhile, so no caller's signal ends it (the retry
      // budget bounds it); each caller stops waiting on its own signal below.
      pending = this.ping(host, insecure);
      this.pings.set(key, pending);
      pending.then(
        (ep) => {
          this.known.set(key, ep, ep.expiresAt);
          this.pings.delete(key);
        },
        () => this.pings.delete(key),
      );
    }
    return untilAborted(pending, ctx.signal);
  }

  private async ping(host: string, insecure: boolean, signal?: AbortSignal): Promise<Endpoint> {
    const target = host === 'docker.io' ? 'registry-1.docker.io' : host;
    const what = `pinging container registry ${host}`;
    const attempt = async (scheme: 'https' | 'http'): Promise<Endpoint> => {
      const dispatcher = this.opts.dispatcherFor(host, !insecure);
      const origin = `${scheme}://${target}`;
      const res = await this.opts.retry.run({
        registry: host,
        method: 'GET',
        operation: 'ping',
        what,
        // The ping carries no credentials and is shared by every caller: its hold-off is its own,
        // so anonymous pulls held off do not stop a caller with credentials from reaching the registry.
        identity: PING_IDENTITY,
        signal,
        send: (s) => dispatchBuffered(dispatcher, { origin, path: '/v2/', method: 'GET', signal: s, headers: { 'user-agent': this.opts.userAgent } }, LIMIT_SMALL, this.opts.floor),
      });
      if (RETRYABLE_STATUS.has(res.status)) {
        // Still busy or down after our retries: unavailable (503) or rate limited (429), not a protocol error.
        throw registryResponseError(what, host, res.status, await errorBody(res, LIMIT_SMALL, what), { retryAfterSeconds: retryAfterSeconds(res) });
      }
      if (res.status !== 200 && res.status !== 401) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: invalid status code from registry ${res.status}`, { registry: host, upstreamStatus: res.status });
      }
      const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
      this.opts.onPing?.(host, challenges);
      return { host, origin, scheme, challenges, expiresAt: Date.now() + this.ttlMs };
    };
    try {
      return await attempt('https');
    } catch (e) {
      // Plain HTTP is only tried when HTTPS could not be spoken at all; an HTTP answer over HTTPS is final.
      if (!insecure || signal?.aborted || (e instanceof DomainError && e.upstream.upstreamStatus !== undefined)) throw e;
      try {
        return await attempt('http');
      } catch (e2) {
        throw e instanceof DomainError && e.code === 'UPSTREAM_TLS_ERROR' ? e2 : e;
      }
    }
  }
}
