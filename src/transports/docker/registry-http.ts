import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { AppConfig, RegistrySettings } from '../../config/app-config';
import { EgressPolicy } from '../../egress/egress-policy';
import type { RegistryAuth } from '../transport';
import { DomainError } from '../../errors/domain-error';
import { parseWwwAuthenticate } from './auth-challenge';
import { BoundedMap, ContentCache } from './content-cache';
import { ANONYMOUS_IDENTITY, credentialIdentity, credentialSecrets } from './credential-identity';
import type { LookupAll } from './egress-connector';
import { RegistryAuthenticator, type RegistryCallContext } from './registry-auth';
import { RegistryDispatchers } from './registry-dispatchers';
import { type Endpoint, RegistryEndpoints } from './registry-endpoints';
import { LIMIT_SMALL, type RegistryResponse, discardBody, dispatch, dispatchBuffered, errorBody, header } from './registry-exchange';
import { registryResponseError } from './registry-errors';
import { RegistryRetry, retryAfterSeconds, upstreamFailure } from './registry-retry';
import { type RateLimitState, type RegistryState, RegistryStates } from './registry-state';
import { type ThroughputFloor, watchStream } from './throughput-watch';
import { type UpstreamLimits, uploadFirstByteTimeoutMs, upstreamTimeoutError } from './upstream-limits';
import type { UpstreamObserver } from './upstream-observer';
import { redactUserinfo } from './upstream-text';

/**
 * The registry client's front door: one authenticated request to a registry, with retries
 * and redirects, on shared machinery — connection pools per registry with the egress policy
 * at connect time (registry-dispatchers, egress-connector), the `/v2/` ping and scheme
 * detection (registry-endpoints), authentication and the token cache (registry-auth), retries,
 * backoff and the call budget (registry-retry), request and body plumbing (registry-exchange),
 * the throughput floor (throughput-watch) and what is known of each registry (registry-state).
 * One instance serves every request of the process; per-host state is bounded.
 */

export interface RegistryHttpOptions {
  registries: RegistrySettings[];
  retryTimes: number;
  /** The deadlines (see UpstreamLimits). */
  limits: UpstreamLimits;
  userAgent: string;
  /** Where connections may go. */
  egress: EgressPolicy;
  observer?: UpstreamObserver;
  /** Longest `Retry-After` we wait for inside one call; longer ones fail with RATE_LIMITED. */
  maxRetryAfterMs?: number;
  /** First backoff delay; doubles each attempt. */
  baseBackoffMs?: number;
  /** `n` sent with tag-list requests; unset lets the registry choose its page size. */
  tagsPageSize?: number;
  /** Name resolution for the egress connector (tests inject one); the system resolver by default. */
  lookup?: LookupAll;
  /** Bounds of per-host state (tests lower them). */
  bounds?: { maxDispatchers?: number; dispatcherIdleMs?: number; maxEndpoints?: number; maxTokens?: number; maxRegistryStates?: number; maxHoldOffs?: number; maxCredentialRateLimits?: number };
}

export interface RequestOptions {
  method: 'GET' | 'HEAD' | 'DELETE' | 'POST' | 'PUT' | 'PATCH';
  /** Absolute path (`/v2/…`) on the registry, or a full URL on the same host (pagination, upload locations). */
  path: string;
  /** Token scopes, e.g. `repository:library/busybox:pull`; omitted for `/v2/` itself. */
  scope?: string | string[];
  /**
   * Request body. A stream can be sent only once: such a request is neither retried nor
   * re-sent after a 401 (callers authenticate with a body-less request first).
   */
  body?: Buffer | string | Readable;
  operation: string;
  headers?: Record<string, string>;
  /** Statuses handed back to the caller instead of raising. Others become domain errors. */
  accept: number[];
  /** Human description for error messages. */
  what: string;
  /** Read the whole body with the request, up to this many bytes (see dispatchBuffered). */
  bufferLimit?: number;
  /**
   * Bytes of blob this request commits (a blob upload's PUT): its answer may take the
   * first-byte limit plus one second per 8 MiB (see uploadFirstByteTimeoutMs).
   */
  commitsBytes?: number;
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** What the RegistryHttp of one process share, also with the clients derived for one registry. */
interface SharedState {
  /** Locations in the registries file: the only hosts named in metric labels. */
  listed: ReadonlySet<string>;
  states: RegistryStates;
  contentCache: ContentCache;
  tagDigests: BoundedMap<string, string>;
}

/** The options of the process-wide client, from the configuration. */
export function registryHttpOptions(config: AppConfig, extra: { userAgent: string; observer?: UpstreamObserver }): RegistryHttpOptions {
  const u = config.upstream;
  return {
    registries: config.registries,
    retryTimes: u.retryTimes,
    limits: {
      connectTimeoutMs: u.connectTimeoutMs,
      firstByteTimeoutMs: u.firstByteTimeoutMs,
      minBytesPerSecond: u.minBytesPerSecond,
      throughputWindowSeconds: u.throughputWindowSeconds,
      callTimeoutMs: u.callTimeoutMs,
    },
    tagsPageSize: u.tagsPageSize,
    egress: new EgressPolicy({ sharedMode: config.egress.sharedMode, listedLocations: config.registries.map((r) => r.location), allowNetworks: config.egress.allowNetworks }),
    ...extra,
  };
}

export class RegistryHttp {
  private readonly dispatchers: RegistryDispatchers;
  private readonly retry: RegistryRetry;
  private readonly endpoints: RegistryEndpoints;
  private readonly auth: RegistryAuthenticator;
  private readonly shared: SharedState;
  private readonly floor: ThroughputFloor;

  constructor(
    private readonly opts: RegistryHttpOptions,
    shared?: SharedState,
  ) {
    const observer = opts.observer;
    this.shared = shared ?? {
      listed: new Set(opts.registries.map((r) => r.location.toLowerCase())),
      states: new RegistryStates({ max: opts.bounds?.maxRegistryStates, maxHoldOffs: opts.bounds?.maxHoldOffs, maxCredentialRateLimits: opts.bounds?.maxCredentialRateLimits, onChange: observer?.onRegistryState ? (s) => this.reportState(s) : undefined }),
      contentCache: new ContentCache(64 * 1024 * 1024),
      tagDigests: new BoundedMap<string, string>(10_000),
    };
    this.floor = { minBytesPerSecond: opts.limits.minBytesPerSecond, windowSeconds: opts.limits.throughputWindowSeconds };
    this.dispatchers = new RegistryDispatchers({
      settingsFor: (h) => this.settingsFor(h),
      policy: opts.egress,
      connectTimeoutMs: opts.limits.connectTimeoutMs,
      firstByteTimeoutMs: opts.limits.firstByteTimeoutMs,
      lookup: opts.lookup,
      max: opts.bounds?.maxDispatchers,
      idleMs: opts.bounds?.dispatcherIdleMs,
    });
    this.retry = new RegistryRetry({
      retryTimes: opts.retryTimes,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 30_000,
      baseBackoffMs: opts.baseBackoffMs ?? 200,
      limits: opts.limits,
      observer,
      states: this.shared.states,
      label: (h) => this.metricLabel(h),
    });
    const dispatcherFor = (host: string, verify: boolean): Dispatcher => this.dispatchers.get(host, verify);
    this.endpoints = new RegistryEndpoints({
      userAgent: opts.userAgent,
      retry: this.retry,
      isInsecure: (h, ctx) => this.isInsecure(h, ctx),
      dispatcherFor,
      floor: this.floor,
      onPing: (h, challenges) => this.shared.states.onPing(h, challenges),
      max: opts.bounds?.maxEndpoints,
    });
    this.auth = new RegistryAuthenticator({
      userAgent: opts.userAgent,
      retry: this.retry,
      configuredInsecure: (h) => this.settingsFor(h)?.insecure === true,
      dispatcherFor,
      floor: this.floor,
      maxTokens: opts.bounds?.maxTokens,
    });
  }

  /** Verified, digest-addressed manifests and configs shared by all requests. */
  get contentCache(): ContentCache {
    return this.shared.contentCache;
  }

  /** The digest a tag last resolved to (for If-None-Match); bounded, oldest dropped first. */
  get tagDigests(): BoundedMap<string, string> {
    return this.shared.tagDigests;
  }

  get tagsPageSize(): number | undefined {
    return this.opts.tagsPageSize;
  }

  /** Counts of per-host state held (for tests and diagnostics). */
  get stateSizes(): { dispatchers: number; endpoints: number; tokens: number; holdOffs: number } {
    return { dispatchers: this.dispatchers.size, endpoints: this.endpoints.size, tokens: this.auth.cachedTokens, holdOffs: this.shared.states.holdOffCount };
  }

  /**
   * A client for one registry with settings of its own (a sync's cert-dir), sharing this one's
   * egress policy, registry knowledge, 429 hold-offs and caches; close() closes only its pools.
   */
  forRegistry(settings: RegistrySettings): RegistryHttp {
    return new RegistryHttp({ ...this.opts, registries: [settings, ...this.opts.registries.filter((r) => r.location !== settings.location)] }, this.shared);
  }

  settingsFor(host: string): RegistrySettings | undefined {
    return this.opts.registries.find((r) => r.location === host.toLowerCase());
  }

  /**
   * The `registry` label of upstream metrics: the host for registries in the registries file,
   * `other` for any other (also for a sync's cert-dir registry: callers name those).
   */
  metricLabel(host: string): string {
    return this.shared.listed.has(host.toLowerCase()) ? host.toLowerCase() : 'other';
  }

  /** TLS checks off for this call: the registry is configured insecure or the caller said tlsVerify=false. */
  isInsecure(host: string, ctx: RegistryCallContext): boolean {
    return this.settingsFor(host)?.insecure === true || ctx.tlsVerify === false;
  }

  /** What this process knows of a registry (reachability, auth scheme, rate limit, last error); undefined if nothing. */
  registryState(host: string): RegistryState | undefined {
    return this.shared.states.get(host.toLowerCase());
  }

  /**
   * The registry's rate limit as last announced (e.g. remaining pulls) to requests sent with
   * `auth`, without a request; undefined if none was. Registries meter per credential, so what
   * another caller's credentials were told is not this caller's. `auth` counts as sent unless
   * the registry asks for no authentication (then its answers meter the anonymous caller).
   */
  rateLimitFor(host: string, auth: RegistryAuth | undefined): RateLimitState | undefined {
    const h = host.toLowerCase();
    const sent = auth !== undefined && this.shared.states.get(h)?.authScheme !== 'none';
    return this.shared.states.rateLimitFor(h, sent ? credentialIdentity(auth) : ANONYMOUS_IDENTITY);
  }

  async close(): Promise<void> {
    this.endpoints.clear();
    await this.dispatchers.close();
  }

  private reportState(state: RegistryState): void {
    const label = this.metricLabel(state.registry);
    if (label !== 'other') this.opts.observer?.onRegistryState?.({ ...state, registry: label });
  }

  /** How to talk to a registry (cached, or found by a ping). */
  endpoint(host: string, ctx: RegistryCallContext): Promise<Endpoint> {
    return this.endpoints.endpoint(host, ctx);
  }

  /**
   * One authenticated request with retries and redirects. Statuses in `accept` are returned
   * (body unread); anything else is raised as a domain error with the registry's error code.
   * A streamed answer body is watched by the throughput floor; so is a streamed request body.
   */
  async request(host: string, ctx: RegistryCallContext, req: RequestOptions): Promise<RegistryResponse> {
    try {
      return await this.authenticatedRequest(host, ctx, req);
    } catch (e) {
      this.shared.states.onError(host, e);
      throw e;
    }
  }

  private async authenticatedRequest(host: string, ctx: RegistryCallContext, req: RequestOptions): Promise<RegistryResponse> {
    const ep = this.endpoints.cached(host, ctx) ?? (await this.endpoints.endpoint(host, ctx));
    let authorization = this.auth.authorization(ep, ctx, req.scope, false);
    if (authorization instanceof Promise) authorization = await authorization;
    let res = await this.send(ep, ctx, req, authorization);
    const replayable = !(req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body));
    // Only the registry's own 401 is its challenge: one from a redirect target (another host)
    // would otherwise replace the shared endpoint's challenges and have the caller's credentials
    // sent to a realm that host names.
    if (res.status === 401 && replayable && new URL(res.url).host === new URL(ep.origin).host) {
      const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
      if (challenges.length > 0) ep.challenges = challenges;
      await discardBody(res);
      authorization = await this.auth.authorization(ep, ctx, req.scope, true);
      res = await this.send(ep, ctx, req, authorization);
    }
    if (req.accept.includes(res.status)) return res;
    const body = req.method === 'HEAD' ? Buffer.alloc(0) : await errorBody(res, LIMIT_SMALL, req.what);
    throw registryResponseError(req.what, host, res.status, body, {
      hadCredentials: ctx.auth !== undefined,
      secrets: credentialSecrets(ctx.auth),
      retryAfterSeconds: retryAfterSeconds(res),
      wwwAuthenticate: res.headers['www-authenticate'],
    });
  }

  /**
   * request() for a small document (manifest, config, tag-list page), read whole and capped at
   * `limit` (a larger Content-Length fails before reading). A body that breaks off (reset,
   * stall) is fetched again with backoff, up to retryTimes more times within the call budget;
   * what still fails becomes a domain error, never a raw socket error. The caller verifies the bytes.
   */
  async requestBytes(host: string, ctx: RegistryCallContext, req: RequestOptions, limit: number): Promise<{ res: RegistryResponse; bytes: Buffer }> {
    const res = await this.request(host, ctx, { ...req, bufferLimit: limit });
    const bytes = res.buffered?.bytes;
    if (!bytes) {
      const length = Number(header(res, 'content-length'));
      const size = Number.isFinite(length) && length > limit ? `body of ${length} bytes` : 'body';
      throw new DomainError('BODY_TOO_LARGE', `${req.what}: ${size} exceeds the ${limit}-byte limit`, { registry: host });
    }
    return { res, bytes };
  }

  private stallError(what: string, host: string): (bytes: number) => Error {
    return (bytes) => {
      const err = upstreamTimeoutError('throughput', what, host, this.opts.limits, `${bytes} bytes`);
      this.shared.states.onError(host, err);
      return err;
    };
  }

  private async send(ep: Endpoint, ctx: RegistryCallContext, req: RequestOptions, authorization: string | undefined): Promise<RegistryResponse> {
    let url = new URL(req.path, ep.origin + '/');
    if (url.host !== new URL(ep.origin).host) {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: refusing to follow a link to another host (${url.host})`, { registry: ep.host });
    }
    const insecure = this.isInsecure(ep.host, ctx);
    // Redirect targets are reached with the registry's own TLS settings, as containers/image
    // does, through the same pools: the egress policy judges every target at connect time.
    const dispatcher = this.dispatchers.get(ep.host, !insecure);
    const streamBody = req.body !== undefined && typeof req.body === 'object' && !Buffer.isBuffer(req.body);
    const body = streamBody ? watchStream(req.body as Readable, this.floor, 'upload', this.stallError(req.what, ep.host)) : req.body;
    const firstByteMs = req.commitsBytes !== undefined ? uploadFirstByteTimeoutMs(this.opts.limits, req.commitsBytes) : undefined;
    // Who the registry meters this request as: the caller's credentials when they are sent
    // (Basic, a token got with them), else anonymous (a registry asking for none meters by address).
    const identity = authorization ? credentialIdentity(ctx.auth) : ANONYMOUS_IDENTITY;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameHost = url.host === new URL(ep.origin).host;
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
      if (authorization && sameHost) headers['authorization'] = authorization;
      const target = url;
      let res: RegistryResponse;
      try {
        res = await this.retry.run({
          registry: ep.host,
          method: req.method,
          operation: req.operation,
          what: req.what,
          identity,
          signal: ctx.signal,
          retry: !streamBody,
          firstByteTimeoutMs: firstByteMs,
          // undici closes the connection after a HEAD unless told otherwise; registries send no
          // body on HEAD, so keeping it alive saves a TCP (and TLS) handshake per blob check.
          send: (signal) => {
            const opts: Dispatcher.RequestOptions = {
              origin: target.origin,
              path: target.pathname + target.search,
              method: req.method,
              headers,
              body,
              signal,
              ...(req.method === 'HEAD' ? { reset: false } : {}),
              ...(firstByteMs !== undefined ? { headersTimeout: firstByteMs } : {}),
            };
            return req.bufferLimit === undefined ? dispatch(dispatcher, opts) : dispatchBuffered(dispatcher, opts, req.bufferLimit, this.floor);
          },
        });
      } catch (e) {
        // An upload body that stalled fails the request with the stall, not with undici's view of it.
        if (body instanceof Readable && body.errored instanceof DomainError) throw body.errored;
        throw upstreamFailure(e, req.what, ep.host, this.opts.limits, firstByteMs);
      }
      res.url = target.toString();
      if (!REDIRECT_STATUS.has(res.status)) {
        if (req.bufferLimit === undefined && req.method !== 'HEAD') res.body = watchStream(res.body, this.floor, 'download', this.stallError(req.what, ep.host));
        return res;
      }
      const location = header(res, 'location');
      await discardBody(res);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        // A body is never sent twice, and a write is never moved to where the registry did not take it.
        throw new DomainError(
          'UPSTREAM_PROTOCOL_ERROR',
          `${req.what}: the registry redirected a ${req.method} (HTTP ${res.status}${location ? ` to ${redactUserinfo(location.slice(0, 200))}` : ''}); skiff follows redirects of GET and HEAD only`,
          { registry: ep.host, upstreamStatus: res.status },
        );
      }
      if (!location) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: redirect without a Location`, { registry: ep.host });
      if (!URL.canParse(location, target.toString())) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: redirect to an invalid URL`, { registry: ep.host });
      const next = new URL(location, target);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: refusing redirect to ${next.protocol} URL`, { registry: ep.host });
      }
      if (target.protocol === 'https:' && next.protocol === 'http:' && !insecure) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: refusing redirect from HTTPS to plain HTTP`, { registry: ep.host });
      }
      url = next;
    }
    throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: too many redirects`, { registry: ep.host });
  }
}
