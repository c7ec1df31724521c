import type { Dispatcher } from 'undici';
import { DomainError } from '../../errors/domain-error';
import type { RegistryAuth } from '../transport';
import type { AuthChallenge } from './auth-challenge';
import { LIMIT_SMALL, dispatchBuffered } from './registry-exchange';
import { namedErrors, parseRegistryErrors, registryResponseError } from './registry-errors';
import type { RegistryRetry } from './registry-retry';
import type { ThroughputFloor } from './throughput-watch';
import { ExpiringLru } from './content-cache';
import { credentialIdentity, credentialSecrets } from './credential-identity';
import { sanitizeUpstreamText, withoutSecrets } from './upstream-text';

/**
 * Authentication against a registry: the Authorization header for a request from the
 * registry's challenges and the caller's credentials (Basic, a raw registry token, or a
 * Bearer token fetched from the challenge's realm and cached per registry, realm, service,
 * scopes and identity until it expires, bounded in count). Credentials only travel over verified TLS unless the
 * registry is configured insecure.
 */

/** What authentication needs to know of a registry endpoint. */
export interface AuthTarget {
  host: string;
  origin: string;
  challenges: AuthChallenge[];
}

/** Per-call settings: who we are and how much we trust the transport. */
export interface RegistryCallContext {
  auth?: RegistryAuth;
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

export interface RegistryAuthOptions {
  userAgent: string;
  retry: RegistryRetry;
  /** The registry is configured `insecure` in the registries file. */
  configuredInsecure: (host: string) => boolean;
  /** The dispatcher for a registry's host with its TLS settings (token realms use them too). */
  dispatcherFor: (host: string, verify: boolean) => Dispatcher;
  /** Throughput floor of token answers. */
  floor?: ThroughputFloor;
  /** Most tokens cached at once (least recently used dropped first). */
  maxTokens?: number;
}

/**
 * The cache key of a bearer token: registry, realm, service, scopes and the credential identity
 * (credentialIdentity: never the password or token itself, which would otherwise stay in the
 * cache's keys for as long as the token is cached).
 */
export function tokenKey(ep: AuthTarget, ctx: RegistryCallContext, challenge: AuthChallenge, scope: string | string[] | undefined): string {
  const scopes = scope === undefined ? '' : Array.isArray(scope) ? scope.join(' ') : scope;
  return `${ep.host}|${challenge.params['realm'] ?? ''}|${challenge.params['service'] ?? ''}|${scopes}|${credentialIdentity(ctx.auth)}`;
}

export class RegistryAuthenticator {
  /** Bounded: a token lives until it expires or goes unused for an hour; at most maxTokens. */
  private readonly tokens: ExpiringLru<string, { token: string; expiresAt: number }>;

  constructor(private readonly opts: RegistryAuthOptions) {
    this.tokens = new ExpiringLru({ max: opts.maxTokens ?? 10_000, idleMs: 3600_000 });
  }

  get cachedTokens(): number {
    return this.tokens.size;
  }

  private isInsecure(host: string, ctx: RegistryCallContext): boolean {
    return this.opts.configuredInsecure(host) || ctx.tlsVerify === false;
  }

  /** Credentials may only travel over verified TLS, unless the registry is configured insecure. */
  private assertCredentialsSafe(ep: AuthTarget, ctx: RegistryCallContext, target: URL): void {
    if (this.opts.configuredInsecure(ep.host)) return;
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
  authorization(ep: AuthTarget, ctx: RegistryCallContext, scope: string | string[] | undefined, refresh: boolean): string | undefined | Promise<string> {
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

  private async bearerToken(ep: AuthTarget, ctx: RegistryCallContext, challenge: AuthChallenge, scope: string | string[] | undefined, refresh: boolean): Promise<string> {
    const scopes = scope === undefined ? [] : Array.isArray(scope) ? scope : [scope];
    const realmRaw = challenge.params['realm'];
    const what = `requesting a token from ${ep.host}'s auth server`;
    if (!realmRaw) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: Bearer challenge without realm`, { registry: ep.host });
    let realm: URL;
    try {
      realm = new URL(realmRaw);
    } catch {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: invalid realm ${JSON.stringify(sanitizeUpstreamText(realmRaw, 200))}`, { registry: ep.host });
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
    const dispatcher = this.opts.dispatcherFor(ep.host, !this.isInsecure(ep.host, ctx));
    const res = await this.opts.retry.run({
      registry: ep.host,
      method,
      operation: 'token',
      what,
      identity: credentialIdentity(auth),
      signal: ctx.signal,
      send: (signal) => dispatchBuffered(dispatcher, { origin: url.origin, path: url.pathname + url.search, method, headers, body, signal }, LIMIT_SMALL, this.opts.floor),
    });
    const text = res.buffered?.bytes;
    if (!text) throw new DomainError('BODY_TOO_LARGE', `${what}: body exceeds the ${LIMIT_SMALL}-byte limit`, { registry: ep.host });
    if (res.status !== 200) {
      const secrets = credentialSecrets(auth);
      const err = registryResponseError(what, ep.host, res.status, text, { hadCredentials: auth !== undefined, secrets });
      if (res.status === 401 || res.status === 403) {
        // the auth server's own errors, as skopeo prints them ("invalid username/password: unauthorized: …")
        const errors = parseRegistryErrors(text);
        const answered = withoutSecrets(`HTTP ${res.status}${errors.length > 0 ? ': ' + namedErrors(errors) : ''}`, secrets);
        throw new DomainError(
          auth ? 'INVALID_CREDENTIALS' : 'REGISTRY_DENIED',
          auth ? `the credentials for ${ep.host} were rejected by its auth server (${answered})` : `${ep.host}'s auth server refused anonymous access (${answered})`,
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
    const expiresAt = base + expiresIn * 1000 - 5_000;
    this.tokens.set(key, { token, expiresAt }, expiresAt);
    return token;
  }
}
