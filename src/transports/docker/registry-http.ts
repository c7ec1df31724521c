import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RegistrySettings } from '../../config/app-config';
import { DomainError } from '../../errors/domain-error';
import { parseWwwAuthenticate } from './auth-challenge';
import { BoundedMap, ContentCache } from './content-cache';
import { RegistryAuthenticator, type RegistryCallContext } from './registry-auth';
import { RegistryDispatchers } from './registry-dispatchers';
import { type Endpoint, RegistryEndpoints } from './registry-endpoints';
import { LIMIT_SMALL, type RegistryResponse, discardBody, dispatch, dispatchBuffered, errorBody, header } from './registry-exchange';
import { registryResponseError } from './registry-errors';
import { RegistryRetry, retryAfterSeconds } from './registry-retry';
import type { UpstreamObserver } from './upstream-observer';

/**
 * The registry client's front door: one authenticated request to a registry, with retries
 * and redirects, on shared machinery — connection pools per registry (registry-dispatchers),
 * the `/v2/` ping and scheme detection (registry-endpoints), authentication and the token
 * cache (registry-auth), retries and backoff (registry-retry), request and body plumbing
 * (registry-exchange). One instance serves every request of the process.
 */


export interface RegistryHttpOptions {
  registries: RegistrySettings[];
  retryTimes: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  userAgent: string;
  observer?: UpstreamObserver;
  /** Longest `Retry-After` we wait for inside one call; longer ones fail with RATE_LIMITED. */
  maxRetryAfterMs?: number;
  /** First backoff delay; doubles each attempt. */
  baseBackoffMs?: number;
  /** `n` sent with tag-list requests; unset lets the registry choose its page size. */
  tagsPageSize?: number;
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
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export class RegistryHttp {
  private readonly dispatchers: RegistryDispatchers;
  private readonly retry: RegistryRetry;
  private readonly endpoints: RegistryEndpoints;
  private readonly auth: RegistryAuthenticator;
  /** Verified, digest-addressed manifests and configs shared by all requests. */
  readonly contentCache = new ContentCache(64 * 1024 * 1024);
  /** The digest a tag last resolved to (for If-None-Match); bounded, oldest dropped first. */
  readonly tagDigests = new BoundedMap<string, string>(10_000);

  constructor(private readonly opts: RegistryHttpOptions) {
    this.dispatchers = new RegistryDispatchers({ settingsFor: (h) => this.settingsFor(h), connectTimeoutMs: opts.connectTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs });
    this.retry = new RegistryRetry({ retryTimes: opts.retryTimes, maxRetryAfterMs: opts.maxRetryAfterMs ?? 30_000, baseBackoffMs: opts.baseBackoffMs ?? 200, observer: opts.observer });
    const dispatcherFor = (host: string, verify: boolean): Dispatcher => this.dispatchers.get(host, verify);
    this.endpoints = new RegistryEndpoints({ userAgent: opts.userAgent, retry: this.retry, isInsecure: (h, ctx) => this.isInsecure(h, ctx), dispatcherFor });
    this.auth = new RegistryAuthenticator({ userAgent: opts.userAgent, retry: this.retry, configuredInsecure: (h) => this.settingsFor(h)?.insecure === true, dispatcherFor });
  }

  get tagsPageSize(): number | undefined {
    return this.opts.tagsPageSize;
  }

  settingsFor(host: string): RegistrySettings | undefined {
    return this.opts.registries.find((r) => r.location === host.toLowerCase());
  }

  /** TLS checks off for this call: the registry is configured insecure or the caller said tlsVerify=false. */
  isInsecure(host: string, ctx: RegistryCallContext): boolean {
    return this.settingsFor(host)?.insecure === true || ctx.tlsVerify === false;
  }

  async close(): Promise<void> {
    this.endpoints.clear();
    await this.dispatchers.close();
  }

  /** How to talk to a registry (cached, or found by a ping). */
  endpoint(host: string, ctx: RegistryCallContext): Promise<Endpoint> {
    return this.endpoints.endpoint(host, ctx);
  }

  /**
   * One authenticated request with retries and redirects. Statuses in `accept` are returned
   * (body unread); anything else is raised as a domain error with the registry's error code.
   */
  async request(host: string, ctx: RegistryCallContext, req: RequestOptions): Promise<RegistryResponse> {
    const ep = this.endpoints.cached(host, ctx) ?? (await this.endpoints.endpoint(host, ctx));
    let authorization = this.auth.authorization(ep, ctx, req.scope, false);
    if (authorization instanceof Promise) authorization = await authorization;
    let res = await this.send(ep, ctx, req, authorization);
    const replayable = !(req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body));
    if (res.status === 401 && replayable) {
      const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
      if (challenges.length > 0) ep.challenges = challenges;
      await discardBody(res);
      authorization = await this.auth.authorization(ep, ctx, req.scope, true);
      res = await this.send(ep, ctx, req, authorization);
    }
    if (req.accept.includes(res.status)) return res;
    const body = req.method === 'HEAD' ? Buffer.alloc(0) : await errorBody(res, LIMIT_SMALL, req.what);
    throw registryResponseError(req.what, host, res.status, body, { hadCredentials: ctx.auth !== undefined, retryAfterSeconds: retryAfterSeconds(res) });
  }

  /**
   * request() for a small document (manifest, config, tag-list page), read whole and capped at
   * `limit` (a larger Content-Length fails before reading). A body that breaks off (reset,
   * timeout) is fetched again with backoff, up to retryTimes more times; what still fails
   * becomes a domain error, never a raw socket error. The caller verifies the bytes.
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

  private async send(ep: Endpoint, ctx: RegistryCallContext, req: RequestOptions, authorization: string | undefined): Promise<RegistryResponse> {
    let url = new URL(req.path, ep.origin + '/');
    if (url.host !== new URL(ep.origin).host) {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: refusing to follow a link to another host (${url.host})`, { registry: ep.host });
    }
    const insecure = this.isInsecure(ep.host, ctx);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameHost = url.host === new URL(ep.origin).host;
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
      if (authorization && sameHost) headers['authorization'] = authorization;
      const target = url;
      // Redirect targets are reached with the registry's own TLS settings, as containers/image does.
      const streamBody = req.body !== undefined && typeof req.body === 'object' && !Buffer.isBuffer(req.body);
      const res = await this.retry.run({
        registry: ep.host,
        method: req.method,
        operation: req.operation,
        what: req.what,
        signal: ctx.signal,
        retry: !streamBody,
        // undici closes the connection after a HEAD unless told otherwise; registries send no
        // body on HEAD, so keeping it alive saves a TCP (and TLS) handshake per blob check.
        send: () => {
          const opts: Dispatcher.RequestOptions = { origin: target.origin, path: target.pathname + target.search, method: req.method, headers, body: req.body, signal: ctx.signal, ...(req.method === 'HEAD' ? { reset: false } : {}) };
          return req.bufferLimit === undefined ? dispatch(ep.dispatcher, opts) : dispatchBuffered(ep.dispatcher, opts, req.bufferLimit);
        },
      });
      res.url = target.toString();
      if (!REDIRECT_STATUS.has(res.status)) return res;
      const location = header(res, 'location');
      await discardBody(res);
      if (!location) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${req.what}: redirect without a Location`, { registry: ep.host });
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
