import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import type { RegistrySettings } from '../../config/app-config';
import { AbortedError, DomainError } from '../../errors/domain-error';
import type { RegistryAuth } from '../transport';
import { type AuthChallenge, parseWwwAuthenticate } from './auth-challenge';
import { BoundedMap, ContentCache } from './content-cache';
import { isRetryableNetworkError, networkError, registryResponseError } from './registry-errors';

/**
 * Shared HTTP machinery for registry v2 endpoints: keep-alive pools per registry, the
 * `/v2/` ping (scheme detection with skopeo's HTTP fallback when TLS checks are off), auth
 * challenges (Basic; Bearer tokens cached per registry, identity and scope until expiry),
 * retries with backoff, redirects, body caps. One instance serves every request of the process.
 */

export interface UpstreamRequestEvent {
  registry: string;
  method: string;
  /** What the request was for: ping, token, manifest, blob, tags, delete. */
  operation: string;
  status: number | 'error';
  durationSeconds: number;
}

export interface UpstreamObserver {
  onUpstreamRequest(event: UpstreamRequestEvent): void;
}

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

/** Per-call settings: who we are and how much we trust the transport. */
export interface RegistryCallContext {
  auth?: RegistryAuth;
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

export const LIMIT_SMALL = 1024 * 1024;

interface Endpoint {
  host: string;
  /** Where requests go (`docker.io` is served by `registry-1.docker.io`). */
  origin: string;
  scheme: 'https' | 'http';
  dispatcher: Agent;
  challenges: AuthChallenge[];
  expiresAt: number;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as a stream (for a buffered answer, a stream over its bytes). */
  body: Readable;
  /**
   * Set when the answer was read whole by the request itself (RequestOptions.bufferLimit):
   * its bytes, or no bytes when the body went past the limit and the transfer was stopped.
   */
  buffered?: { bytes?: Buffer };
  /** The URL that answered (after redirects). */
  url: string;
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

const ENDPOINT_TTL_MS = 10 * 60 * 1000;
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a response body whole, failing once it passes `limit` bytes. */
export function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  // Plain events rather than an async iterator: this runs for every manifest, config, token
  // and tag-list page, and the iterator's per-chunk promises show up in warm-request profiles.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const stop = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        stop();
        reject(new DomainError('BODY_TOO_LARGE', `${what}: body exceeds the ${limit}-byte limit`));
        body.destroy();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onClose = (): void => {
      stop();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    // Stays attached: an error after the answer (e.g. from destroying an oversized body) must
    // not become an unhandled 'error' event; rejecting a settled promise does nothing.
    body.on('error', reject);
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('close', onClose);
  });
}

async function discard(body: Readable): Promise<void> {
  try {
    body.resume();
    await new Promise<void>((resolve) => {
      body.once('end', resolve);
      body.once('error', () => resolve());
      body.once('close', resolve);
    });
  } catch {
    // nothing useful can be done with a broken body we are discarding
  }
}

/** One undici request, in the shape the rest of this folder uses. */
async function dispatch(dispatcher: Agent, opts: Dispatcher.RequestOptions): Promise<RegistryResponse> {
  const res = await dispatcher.request(opts);
  return { status: res.statusCode, headers: res.headers, body: res.body, url: `${String(opts.origin)}${opts.path}` };
}

/** A buffered answer: `body` is only made into a stream if someone asks for one. */
class BufferedResponse implements RegistryResponse {
  readonly buffered: { bytes?: Buffer };
  private stream?: Readable;

  constructor(
    readonly status: number,
    readonly headers: RegistryResponse['headers'],
    public url: string,
    bytes: Buffer | undefined,
  ) {
    this.buffered = { bytes };
  }

  get body(): Readable {
    return (this.stream ??= Readable.from(this.buffered.bytes ? [this.buffered.bytes] : []));
  }
}

/**
 * One undici request whose body is collected into memory as it arrives (pings, tokens,
 * manifests, configs, tag-list pages), through undici's handler API: no Readable, no async
 * resource, no per-chunk promise, which together were a visible share of a warm inspect.
 * A body past `limit` (announced or actual) stops the transfer; the answer then comes back
 * with its status and headers but no bytes, so statuses still reach the retry and error
 * logic exactly as streamed answers do. Failures before the end (reset, timeout, abort)
 * reject, like a streamed request's body would.
 */
function dispatchBuffered(dispatcher: Agent, opts: Dispatcher.RequestOptions, limit: number): Promise<RegistryResponse> {
  const { signal: given, ...rest } = opts;
  const signal = given as AbortSignal | undefined;
  const url = `${String(opts.origin)}${opts.path}`;
  return new Promise<RegistryResponse>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    let status = 0;
    let headers: RegistryResponse['headers'] = {};
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (err?: unknown, overflow = false): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(new BufferedResponse(status, headers, url, overflow ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total)));
    };
    const onAbort = (): void => {
      settle(new AbortedError());
      controller?.abort(new AbortedError());
    };
    const stop = (c: Dispatcher.DispatchController): void => {
      settle(undefined, true);
      c.abort(new DomainError('BODY_TOO_LARGE', `body exceeds the ${limit}-byte limit`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      dispatcher.dispatch(rest as Dispatcher.DispatchOptions, {
        onRequestStart(c) {
          controller = c;
          if (settled) c.abort(new AbortedError());
        },
        onResponseStart(c, statusCode, responseHeaders) {
          if (statusCode < 200) return; // 1xx: the real answer follows
          status = statusCode;
          headers = responseHeaders as RegistryResponse['headers'];
          const announced = Number(header({ headers }, 'content-length'));
          if (opts.method !== 'HEAD' && Number.isFinite(announced) && announced > limit) stop(c);
        },
        onResponseData(c, chunk) {
          if (settled) return;
          total += chunk.length;
          if (total > limit) stop(c);
          else chunks.push(chunk);
        },
        onResponseEnd() {
          settle();
        },
        onResponseError(_c, err) {
          settle(err);
        },
      });
    } catch (e) {
      settle(e);
    }
  });
}

/** Lets go of an answer's body: nothing to do for a buffered one. */
async function discardBody(res: RegistryResponse): Promise<void> {
  if (!res.buffered) await discard(res.body);
}

/** An error answer's body for its message, at most `limit` bytes; empty when it cannot be read. */
async function errorBody(res: RegistryResponse, limit: number, what: string): Promise<Buffer> {
  if (res.buffered) return res.buffered.bytes?.subarray(0, limit) ?? Buffer.alloc(0);
  return readLimited(res.body, limit, what).catch(() => Buffer.alloc(0));
}

function parseRetryAfter(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** `Retry-After` in whole seconds, for the problem answer. */
function retryAfterSeconds(res: RegistryResponse): number | undefined {
  const ms = parseRetryAfter(header(res, 'retry-after'));
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

/** Bearer tokens are cached per registry, realm, service, scopes and identity. */
function tokenKey(ep: Endpoint, ctx: RegistryCallContext, challenge: AuthChallenge, scope: string | string[] | undefined): string {
  const scopes = scope === undefined ? '' : Array.isArray(scope) ? scope.join(' ') : scope;
  return `${ep.host}|${challenge.params['realm'] ?? ''}|${challenge.params['service'] ?? ''}|${scopes}|${authIdentity(ctx.auth)}`;
}

function authIdentity(auth: RegistryAuth | undefined): string {
  if (!auth) return 'anonymous';
  if (auth.kind === 'basic') return `basic:${auth.username}:${auth.password}`;
  if (auth.kind === 'identityToken') return `identity:${auth.identityToken}`;
  return `registry-token:${auth.registryToken}`;
}

export class RegistryHttp {
  private readonly agents = new Map<string, Agent>();
  /** Pings in flight, shared by the requests that wait for them; by `host|insecure`. */
  private readonly pings = new Map<string, Promise<Endpoint>>();
  /** Registries that answered their ping, until their TTL; by `host|insecure`. */
  private readonly knownEndpoints = new Map<string, Endpoint>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly maxRetryAfterMs: number;
  private readonly baseBackoffMs: number;
  /** Verified, digest-addressed manifests and configs shared by all requests. */
  readonly contentCache = new ContentCache(64 * 1024 * 1024);
  /** The digest a tag last resolved to (for If-None-Match); bounded, oldest dropped first. */
  readonly tagDigests = new BoundedMap<string, string>(10_000);

  constructor(private readonly opts: RegistryHttpOptions) {
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
    this.baseBackoffMs = opts.baseBackoffMs ?? 200;
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
    const agents = [...this.agents.values()];
    this.agents.clear();
    this.pings.clear();
    this.knownEndpoints.clear();
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }

  private agentFor(host: string, verify: boolean): Agent {
    const key = `${host}|${verify}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const s = this.settingsFor(host);
      const ca = s?.caFile ? [...rootCertificates, readFileSync(s.caFile, 'utf8')] : undefined;
      agent = new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 120_000,
        connections: 16,
        headersTimeout: this.opts.requestTimeoutMs,
        bodyTimeout: this.opts.requestTimeoutMs,
        connect: {
          timeout: this.opts.connectTimeoutMs,
          rejectUnauthorized: verify,
          ...(ca ? { ca } : {}),
          ...(s?.clientCertFile && s.clientKeyFile
            ? { cert: readFileSync(s.clientCertFile), key: readFileSync(s.clientKeyFile) }
            : {}),
        },
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  private observe(registry: string, method: string, operation: string, status: number | 'error', started: number): void {
    this.opts.observer?.onUpstreamRequest({ registry, method, operation, status, durationSeconds: (performance.now() - started) / 1000 });
  }

  /** The endpoint of a registry that answered its ping recently, without waiting for anything. */
  private knownEndpoint(host: string, ctx: RegistryCallContext): Endpoint | undefined {
    const ep = this.knownEndpoints.get(`${host}|${this.isInsecure(host, ctx)}`);
    return ep && ep.expiresAt > Date.now() ? ep : undefined;
  }

  /**
   * Finds how to talk to a registry: HTTPS first; when TLS checks are off and HTTPS fails,
   * plain HTTP (as skopeo). The result (and the auth challenge of `/v2/`) is cached.
   */
  async endpoint(host: string, ctx: RegistryCallContext): Promise<Endpoint> {
    const known = this.knownEndpoint(host, ctx);
    if (known) return known;
    const insecure = this.isInsecure(host, ctx);
    const key = `${host}|${insecure}`;
    let pending = this.pings.get(key);
    if (!pending) {
      pending = this.ping(host, insecure, ctx.signal);
      this.pings.set(key, pending);
      pending.then(
        (ep) => {
          this.knownEndpoints.set(key, ep);
          this.pings.delete(key);
        },
        () => this.pings.delete(key),
      );
    }
    return pending;
  }

  private async ping(host: string, insecure: boolean, signal?: AbortSignal): Promise<Endpoint> {
    const target = host === 'docker.io' ? 'registry-1.docker.io' : host;
    const what = `pinging container registry ${host}`;
    const attempt = async (scheme: 'https' | 'http'): Promise<Endpoint> => {
      const dispatcher = this.agentFor(host, !insecure);
      const origin = `${scheme}://${target}`;
      const res = await this.withRetries(host, 'GET', 'ping', signal, what, () =>
        dispatchBuffered(dispatcher, { origin, path: '/v2/', method: 'GET', signal, headers: { 'user-agent': this.opts.userAgent } }, LIMIT_SMALL),
      );
      if (RETRYABLE_STATUS.has(res.status)) {
        // Still busy or down after our retries: unavailable (503) or rate limited (429), not a protocol error.
        throw registryResponseError(what, host, res.status, await errorBody(res, LIMIT_SMALL, what), { retryAfterSeconds: retryAfterSeconds(res) });
      }
      if (res.status !== 200 && res.status !== 401) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: invalid status code from registry ${res.status}`, { registry: host, upstreamStatus: res.status });
      }
      return {
        host,
        origin,
        scheme,
        dispatcher,
        challenges: parseWwwAuthenticate(res.headers['www-authenticate']),
        expiresAt: Date.now() + ENDPOINT_TTL_MS,
      };
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

  /**
   * Runs `send` with retries on 408/429/5xx and connection resets, honouring Retry-After.
   * The final non-retryable response is returned as is; network failures become domain errors.
   */
  private async withRetries(
    registry: string,
    method: string,
    operation: string,
    signal: AbortSignal | undefined,
    what: string,
    send: () => Promise<RegistryResponse>,
    opts: { retry?: boolean } = {},
  ): Promise<RegistryResponse> {
    const retryTimes = opts.retry === false ? 0 : this.opts.retryTimes;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new AbortedError();
      const started = performance.now();
      let res: RegistryResponse;
      try {
        res = await send();
      } catch (e) {
        this.observe(registry, method, operation, 'error', started);
        if (signal?.aborted) throw new AbortedError();
        if (attempt < retryTimes && isRetryableNetworkError(e)) {
          await this.backoff(attempt, undefined, signal);
          continue;
        }
        throw networkError(what, registry, e);
      }
      this.observe(registry, method, operation, res.status, started);
      if (RETRYABLE_STATUS.has(res.status) && attempt < retryTimes) {
        const retryAfter = parseRetryAfter(header(res, 'retry-after'));
        if (retryAfter === undefined || retryAfter <= this.maxRetryAfterMs) {
          await discardBody(res);
          await this.backoff(attempt, retryAfter, signal);
          continue;
        }
      }
      return res;
    }
  }

  private async backoff(attempt: number, retryAfterMs: number | undefined, signal?: AbortSignal): Promise<void> {
    const exp = Math.min(this.baseBackoffMs * 2 ** attempt, 10_000);
    const delay = retryAfterMs ?? exp + Math.floor(Math.random() * this.baseBackoffMs);
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      throw new AbortedError();
    }
  }

  /**
   * One authenticated request with retries and redirects. Statuses in `accept` are returned
   * (body unread); anything else is raised as a domain error with the registry's error code.
   */
  async request(host: string, ctx: RegistryCallContext, req: RequestOptions): Promise<RegistryResponse> {
    const ep = this.knownEndpoint(host, ctx) ?? (await this.endpoint(host, ctx));
    let authorization = this.authorization(ep, ctx, req.scope, false);
    if (authorization instanceof Promise) authorization = await authorization;
    let res = await this.send(ep, ctx, req, authorization);
    const replayable = !(req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body));
    if (res.status === 401 && replayable) {
      const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
      if (challenges.length > 0) ep.challenges = challenges;
      await discardBody(res);
      authorization = await this.authorization(ep, ctx, req.scope, true);
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
    for (let hop = 0; hop <= 5; hop++) {
      const sameHost = url.host === new URL(ep.origin).host;
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
      if (authorization && sameHost) headers['authorization'] = authorization;
      const target = url;
      // Redirect targets are reached with the registry's own TLS settings, as containers/image does.
      const streamBody = req.body !== undefined && typeof req.body === 'object' && !Buffer.isBuffer(req.body);
      const res = await this.withRetries(
        ep.host,
        req.method,
        req.operation,
        ctx.signal,
        req.what,
        // undici closes the connection after a HEAD unless told otherwise; registries send no
        // body on HEAD, so keeping it alive saves a TCP (and TLS) handshake per blob check.
        () => {
          const opts: Dispatcher.RequestOptions = { origin: target.origin, path: target.pathname + target.search, method: req.method, headers, body: req.body, signal: ctx.signal, ...(req.method === 'HEAD' ? { reset: false } : {}) };
          return req.bufferLimit === undefined ? dispatch(ep.dispatcher, opts) : dispatchBuffered(ep.dispatcher, opts, req.bufferLimit);
        },
        { retry: !streamBody },
      );
      res.url = target.toString();
      if (![301, 302, 303, 307, 308].includes(res.status)) return res;
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

  /** Credentials may only travel over verified TLS, unless the registry is configured insecure. */
  private assertCredentialsSafe(ep: Endpoint, ctx: RegistryCallContext, target: URL): void {
    const configuredInsecure = this.settingsFor(ep.host)?.insecure === true;
    if (configuredInsecure) return;
    if (target.protocol !== 'https:' || ctx.tlsVerify === false) {
      throw new DomainError(
        'REGISTRY_DENIED',
        `refusing to send credentials for ${ep.host} to ${target.origin} over ${target.protocol !== 'https:' ? 'plain HTTP' : 'unverified TLS'}; ` +
          'mark the registry insecure in SKIFF_REGISTRIES_CONFIG to allow it',
        { registry: ep.host },
      );
    }
  }

  /**
   * The Authorization header for a request: none, Basic, a raw registry token, or a bearer
   * token. Given at once when nothing has to be fetched (a warm request); a Promise only when
   * a token must come from the auth server.
   */
  private authorization(ep: Endpoint, ctx: RegistryCallContext, scope: string | string[] | undefined, refresh: boolean): string | undefined | Promise<string> {
    const bearer = ep.challenges.find((c) => c.scheme === 'bearer');
    const basic = ep.challenges.find((c) => c.scheme === 'basic');
    const auth = ctx.auth;
    if (bearer) {
      if (auth?.kind === 'registryToken') {
        this.assertCredentialsSafe(ep, ctx, new URL(ep.origin));
        return `Bearer ${auth.registryToken}`;
      }
      const cached = refresh ? undefined : this.tokens.get(tokenKey(ep, ctx, bearer, scope));
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
      return this.bearerToken(ep, ctx, bearer, scope, refresh).then((token) => `Bearer ${token}`);
    }
    if (basic && auth) {
      this.assertCredentialsSafe(ep, ctx, new URL(ep.origin));
      if (auth.kind === 'basic') return 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
      if (auth.kind === 'registryToken') return `Bearer ${auth.registryToken}`;
      throw new DomainError('INVALID_CREDENTIALS', `registry ${ep.host} asks for Basic auth; an identity token cannot be used`, { registry: ep.host });
    }
    return undefined;
  }

  private async bearerToken(ep: Endpoint, ctx: RegistryCallContext, challenge: AuthChallenge, scope: string | string[] | undefined, refresh: boolean): Promise<string> {
    const scopes = scope === undefined ? [] : Array.isArray(scope) ? scope : [scope];
    const realmRaw = challenge.params['realm'];
    const what = `requesting a token from ${ep.host}'s auth server`;
    if (!realmRaw) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: Bearer challenge without realm`, { registry: ep.host });
    let realm: URL;
    try {
      realm = new URL(realmRaw);
    } catch {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: invalid realm ${JSON.stringify(realmRaw)}`, { registry: ep.host });
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: realm must be an http(s) URL`, { registry: ep.host });
    }
    const service = challenge.params['service'];
    const key = tokenKey(ep, ctx, challenge, scope);
    const cached = this.tokens.get(key);
    if (cached && !refresh && cached.expiresAt > Date.now()) return cached.token;
    const auth = ctx.auth;
    if (auth) this.assertCredentialsSafe(ep, ctx, realm);

    const params = new URLSearchParams();
    if (service) params.set('service', service);
    for (const sc of scopes) params.append('scope', sc);
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (auth?.kind === 'identityToken') {
      method = 'POST';
      params.set('grant_type', 'refresh_token');
      params.set('refresh_token', auth.identityToken);
      params.set('client_id', 'skiff');
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = params.toString();
    } else if (auth?.kind === 'basic') {
      headers['authorization'] = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
    }
    const url = new URL(realm);
    if (method === 'GET') for (const [k, v] of params) url.searchParams.append(k, v);
    // The token server is reached with the registry's TLS settings (its CA, its client cert).
    const dispatcher = this.agentFor(ep.host, !this.isInsecure(ep.host, ctx));
    const res = await this.withRetries(ep.host, method, 'token', ctx.signal, what, () =>
      dispatchBuffered(dispatcher, { origin: url.origin, path: url.pathname + url.search, method, headers, body, signal: ctx.signal }, LIMIT_SMALL),
    );
    const text = res.buffered?.bytes;
    if (!text) throw new DomainError('BODY_TOO_LARGE', `${what}: body exceeds the ${LIMIT_SMALL}-byte limit`, { registry: ep.host });
    if (res.status !== 200) {
      const err = registryResponseError(what, ep.host, res.status, text, { hadCredentials: auth !== undefined });
      if (res.status === 401 || res.status === 403) {
        throw new DomainError(
          auth ? 'INVALID_CREDENTIALS' : 'REGISTRY_DENIED',
          auth ? `the credentials for ${ep.host} were rejected by its auth server (HTTP ${res.status})` : `${ep.host}'s auth server refused anonymous access (HTTP ${res.status})`,
          err.upstream,
        );
      }
      throw err;
    }
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the token answer is not JSON`, { registry: ep.host });
    }
    const token = typeof doc['token'] === 'string' && doc['token'] ? doc['token'] : doc['access_token'];
    if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token)) {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the answer carries no token`, { registry: ep.host });
    }
    const expiresIn = typeof doc['expires_in'] === 'number' && doc['expires_in'] >= 60 ? doc['expires_in'] : 60;
    const issued = typeof doc['issued_at'] === 'string' ? Date.parse(doc['issued_at']) : NaN;
    const base = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
    this.tokens.set(key, { token, expiresAt: base + expiresIn * 1000 - 5_000 });
    if (this.tokens.size > 10_000) this.pruneTokens();
    return token;
  }

  private pruneTokens(): void {
    const now = Date.now();
    for (const [k, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(k);
  }
}
