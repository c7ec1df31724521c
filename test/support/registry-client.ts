/**
 * A small registry v2 API client for test setup (pushing fixtures, reading back state).
 *
 * Contract: `request` sends the request; on a 401 carrying a `WWW-Authenticate`
 * challenge it authenticates (Basic with the endpoint's credentials, or Bearer by
 * fetching a token from the challenge's realm/service/scope, using Basic credentials
 * when it has them) and retries once. Bearer tokens are cached per repository, Basic
 * is sent pre-emptively after the first Basic challenge. Statuses are never turned
 * into exceptions by `request`; `expectStatus` does that.
 */
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { header, httpRequest, keepAliveAgent, type HttpResponse } from './http';
import type { RegistryEndpoint } from './registry';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (first challenge only). */
export function parseChallenge(value: string): Challenge | null {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(value);
  if (m === null) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let p = re.exec(m[2] as string); p !== null; p = re.exec(m[2] as string)) {
    params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] as string).toLowerCase(), params };
}

export interface RegistryRequestOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export class RegistryHttpError extends Error {
  constructor(
    message: string,
    readonly response: HttpResponse,
  ) {
    super(message);
    this.name = 'RegistryHttpError';
  }
}

/** Throws a RegistryHttpError unless `res.status` is one of `expected`. */
export function expectStatus(res: HttpResponse, expected: number[], what: string): HttpResponse {
  if (!expected.includes(res.status)) {
    throw new RegistryHttpError(`${what}: HTTP ${res.status} (expected ${expected.join('/')}): ${res.body.toString('utf8').slice(0, 500)}`, res);
  }
  return res;
}

export class RegistryClient {
  private readonly ca: string | undefined;
  private readonly agent: Agent;
  private readonly tokenAgent: Agent;
  private readonly credentials: { username: string; password: string } | null;
  private basic = false;
  private readonly tokens = new Map<string, string>();
  /** In-flight token fetches by repo + challenge, so parallel 401s share one request. */
  private readonly pendingTokens = new Map<string, Promise<string>>();

  /** `anonymous: true` ignores the endpoint's credentials. */
  constructor(
    readonly endpoint: RegistryEndpoint,
    opts: { anonymous?: boolean } = {},
  ) {
    this.ca = endpoint.caFile !== undefined ? readFileSync(endpoint.caFile, 'utf8') : undefined;
    const clientCert =
      endpoint.clientCertFile !== undefined && endpoint.clientKeyFile !== undefined
        ? { cert: readFileSync(endpoint.clientCertFile, 'utf8'), key: readFileSync(endpoint.clientKeyFile, 'utf8') }
        : undefined;
    this.agent = keepAliveAgent(endpoint.url, this.ca, clientCert);
    this.tokenAgent = keepAliveAgent('https:', this.ca);
    this.credentials =
      !opts.anonymous && endpoint.username !== undefined && endpoint.password !== undefined
        ? { username: endpoint.username, password: endpoint.password }
        : null;
  }

  private basicHeader(): string | undefined {
    if (this.credentials === null) return undefined;
    return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
  }

  private static repoOf(path: string): string {
    const m = /^\/v2\/(.+?)\/(?:blobs|manifests|tags)\//.exec(path);
    return m ? (m[1] as string) : '';
  }

  private async fetchToken(c: Challenge): Promise<string> {
    const realm = c.params.realm;
    if (realm === undefined) throw new Error('Bearer challenge without realm');
    const url = new URL(realm);
    if (c.params.service !== undefined) url.searchParams.set('service', c.params.service);
    for (const s of (c.params.scope ?? '').split(' ').filter((x) => x !== '')) url.searchParams.append('scope', s);
    if (this.credentials !== null) url.searchParams.set('account', this.credentials.username);
    const auth = this.basicHeader();
    const res = await httpRequest(url, {
      agent: url.protocol === 'https:' ? this.tokenAgent : undefined,
      headers: { 'user-agent': 'skiff-test-support', ...(auth !== undefined ? { authorization: auth } : {}) },
    });
    expectStatus(res, [200], `token request ${url.href}`);
    const json = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (typeof token !== 'string' || token === '') throw new Error(`token server answered without a token: ${res.body.toString('utf8')}`);
    return token;
  }

  /** `path` starts with `/v2/`, or is an absolute URL (upload Locations). */
  async request(method: string, path: string, opts: RegistryRequestOptions = {}): Promise<HttpResponse> {
    const url = /^https?:/.test(path) ? new URL(path) : new URL(path, this.endpoint.url);
    const repo = RegistryClient.repoOf(url.pathname);
    const send = (): Promise<HttpResponse> => {
      const headers: Record<string, string> = { 'user-agent': 'skiff-test-support', ...opts.headers };
      const token = this.tokens.get(repo);
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      else if (this.basic) {
        const auth = this.basicHeader();
        if (auth !== undefined) headers.authorization = auth;
      }
      return httpRequest(url, { method, headers, body: opts.body, agent: this.agent });
    };
    const res = await send();
    if (res.status !== 401) return res;
    const challenge = parseChallenge(header(res, 'www-authenticate') ?? '');
    if (challenge === null) return res;
    if (challenge.scheme === 'basic') {
      if (this.credentials === null || this.basic) return res;
      this.basic = true;
    } else if (challenge.scheme === 'bearer') {
      const key = `${repo}\n${challenge.params.realm ?? ''}\n${challenge.params.scope ?? ''}`;
      let pending = this.pendingTokens.get(key);
      if (pending === undefined) {
        pending = this.fetchToken(challenge).finally(() => this.pendingTokens.delete(key));
        this.pendingTokens.set(key, pending);
      }
      this.tokens.set(repo, await pending);
    } else {
      return res;
    }
    return send();
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent.destroy();
    this.tokenAgent.destroy();
  }
}

const clients = new WeakMap<RegistryEndpoint, RegistryClient>();

/** A cached authenticated client for `endpoint` (one per endpoint object). */
export function clientFor(endpoint: RegistryEndpoint): RegistryClient {
  let c = clients.get(endpoint);
  if (c === undefined) {
    c = new RegistryClient(endpoint);
    clients.set(endpoint, c);
  }
  return c;
}
