/**
 * In-process token server implementing the Docker registry token protocol
 * (GET realm?service=&scope=&account=, plus the OAuth2 POST form variant) for
 * distribution's `auth.token` mode.
 *
 * Contract:
 * - Credentials come from an HTTP Basic header (GET) or the `username`/`password` form
 *   fields (POST grant_type=password). Wrong credentials → 401 and no token.
 * - No credentials → anonymous. Anonymous callers get `pull` on repositories when
 *   `anonymousPull` is set, otherwise a token with empty access (the registry then
 *   answers 401 insufficient_scope, like Docker Hub does for private repos).
 * - Authenticated callers get every action they request unless `authorize` says otherwise.
 * - Tokens are RS256 JWTs whose header carries `x5c` = [signing certificate], claims
 *   iss/sub/aud(=service)/exp/nbf/iat/jti/access, as distribution 2.8 verifies them.
 * - The answer is JSON `{token, access_token, expires_in, issued_at}`.
 * - Every request (successful or not) is appended to `requests`, in arrival order.
 */
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One resource + actions, as in a scope string and the JWT `access` claim. */
export interface TokenAccess {
  type: string;
  /** Optional resource class, e.g. `repository(plugin):name:pull`. */
  class?: string;
  name: string;
  actions: string[];
}

export interface TokenRequestRecord {
  method: string;
  /** Raw `scope` values (each may hold several space-separated scopes). */
  rawScopes: string[];
  requested: TokenAccess[];
  granted: TokenAccess[];
  service: string | null;
  account: string | null;
  /** Authenticated user, or null when anonymous (or rejected). */
  subject: string | null;
  anonymous: boolean;
  /** HTTP status sent back (200, or 401 for bad credentials). */
  status: number;
  at: Date;
}

/** Decides which of `requested.actions` a caller (`subject`, null = anonymous) gets. */
export type TokenAuthorizer = (subject: string | null, requested: TokenAccess) => string[];

export interface TokenServerOptions {
  tlsCertPem: string;
  tlsKeyPem: string;
  signingKey: KeyObject;
  signingCertDerBase64: string;
  issuer: string;
  service: string;
  users: ReadonlyMap<string, string>;
  /** OAuth2 refresh tokens (docker's identity tokens) → the user they stand for. */
  refreshTokens?: ReadonlyMap<string, string>;
  anonymousPull?: boolean;
  /** Token lifetime in seconds; default 300. */
  expiresIn?: number;
  authorize?: TokenAuthorizer;
}

export interface TokenServer {
  /** https://127.0.0.1:PORT */
  url: string;
  /** The realm URL to configure in the registry: `${url}/token`. */
  realm: string;
  requests: TokenRequestRecord[];
  close(): Promise<void>;
}

/**
 * Parses one scope `type[(class)]:name:actions` (name may contain ':' e.g. host:port/repo).
 * Returns null when malformed.
 */
export function parseScope(scope: string): TokenAccess | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const typePart = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').filter((a) => a !== '');
  const m = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/i.exec(typePart);
  if (m === null || name === '') return null;
  const access: TokenAccess = { type: m[1] as string, name, actions };
  if (m[2] !== undefined) access.class = m[2];
  return access;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function defaultAuthorizer(anonymousPull: boolean): TokenAuthorizer {
  return (subject, requested) => {
    if (subject !== null) return requested.actions;
    if (anonymousPull && requested.type === 'repository') return requested.actions.filter((a) => a === 'pull');
    return [];
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...extraHeaders });
  res.end(data);
}

/** Signs a registry JWT (RS256, x5c header). Exported for tests that want to forge tokens. */
export function signRegistryToken(
  opts: Pick<TokenServerOptions, 'signingKey' | 'signingCertDerBase64' | 'issuer' | 'service'>,
  subject: string,
  access: TokenAccess[],
  expiresIn: number,
  now = new Date(),
): string {
  const iat = Math.floor(now.getTime() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [opts.signingCertDerBase64] };
  const claims = {
    iss: opts.issuer,
    sub: subject,
    aud: opts.service,
    exp: iat + expiresIn,
    nbf: iat - 1,
    iat,
    jti: randomUUID(),
    access: access.map((a) => ({ type: a.type, name: a.name, actions: a.actions })),
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), opts.signingKey);
  return `${input}.${base64url(signature)}`;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const requests: TokenRequestRecord[] = [];
  const expiresIn = opts.expiresIn ?? 300;
  const authorize = opts.authorize ?? defaultAuthorizer(opts.anonymousPull ?? false);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://token.invalid');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
      return;
    }
    const params = new URLSearchParams(url.search);
    if (req.method === 'POST') {
      for (const [k, v] of new URLSearchParams(await readBody(req))) params.append(k, v);
    }

    let username: string | null = null;
    let password: string | null = null;
    const authz = req.headers.authorization;
    if (authz !== undefined && /^basic /i.test(authz)) {
      const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      username = colon < 0 ? decoded : decoded.slice(0, colon);
      password = colon < 0 ? '' : decoded.slice(colon + 1);
    } else if (req.method === 'POST' && params.get('grant_type') === 'password') {
      username = params.get('username');
      password = params.get('password') ?? '';
    } else if (req.method === 'POST' && params.get('grant_type') === 'refresh_token') {
      // An identity token stands for its user; an unknown one is refused like a wrong password.
      const user = opts.refreshTokens?.get(params.get('refresh_token') ?? '');
      username = user ?? params.get('refresh_token') ?? '';
      password = user !== undefined ? (opts.users.get(user) ?? null) : null;
    }

    const rawScopes = params.getAll('scope');
    const requested = rawScopes
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '')
      .map(parseScope)
      .filter((a): a is TokenAccess => a !== null);
    const record: TokenRequestRecord = {
      method: req.method,
      rawScopes,
      requested,
      granted: [],
      service: params.get('service'),
      account: params.get('account') ?? params.get('username'),
      subject: null,
      anonymous: username === null,
      status: 200,
      at: new Date(),
    };
    requests.push(record);

    if (username !== null && (password === null || opts.users.get(username) !== password)) {
      record.status = 401;
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }, {
        'www-authenticate': 'Basic realm="skiff-test-token-server"',
      });
      return;
    }
    record.subject = username;
    record.granted = requested
      .map((r) => ({ ...r, actions: authorize(username, r) }))
      .filter((r) => r.actions.length > 0);

    const now = new Date();
    const token = signRegistryToken(opts, username ?? '', record.granted, expiresIn, now);
    // Whole seconds, as token servers usually send it (RFC 3339).
    const issuedAt = new Date(Math.floor(now.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    sendJson(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt });
  };

  const server: Server = createServer({ cert: opts.tlsCertPem, key: opts.tlsKeyPem, keepAliveTimeout: 1000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server: unexpected address');
  const url = `https://127.0.0.1:${address.port}`;
  return {
    url,
    realm: `${url}/token`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
