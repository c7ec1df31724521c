import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { PrincipalDirectory } from '../auth/principal-directory';
import type { AuthFailureLimiter } from './auth-failure-limiter';
import type { ClientAddresses } from './client-address';
import { ANONYMOUS_PRINCIPAL, LOCAL_PRINCIPAL, type RequestWithPrincipal } from './current-principal.decorator';
import { problemFor, sendProblem } from './problem-response';

/**
 * Who is calling, decided once for every request before any routing (so an unknown route, a
 * differently spelled route or a method without a handler is refused like any other):
 *
 * - Shared mode (SKIFF_API_TOKENS or SKIFF_PRINCIPALS_FILE set): deny by default. A request
 *   whose path is on the open list gets through without a token (as the anonymous principal
 *   unless it brings a valid one); every other request needs `Authorization: Bearer <token>`
 *   of a known principal, else 401. The open list is compared with the raw request path
 *   exactly (case, slashes and encodings included): `/healthz`, `/readyz`, `/openapi.json`,
 *   `/openapi.yaml`, `/docs`, `/docs/` and its asset files, and `/metrics` when configured open.
 *   A client address over its failed-attempt budget (`failureLimiter`) is answered 429 for
 *   any request carrying an Authorization header, before the token is looked at (an open
 *   path is served to it as to the anonymous caller, its token unread: probes keep working).
 * - Local mode (no tokens, no principals): the caller is the local user, with every scope.
 *   Listening on loopback, the Host header must name a loopback address, `localhost`,
 *   SKIFF_HOST or one of SKIFF_ALLOWED_HOSTS (a browser page of another site reaching the port
 *   through DNS rebinding sends its own host name), else 403. (Listening elsewhere without
 *   tokens needs SKIFF_ALLOW_INSECURE_BIND: the operator opened it on purpose.)
 */
export interface AuthenticationOptions {
  directory: PrincipalDirectory;
  metricsPublic: boolean;
  /** Local mode: check the Host header (the service listens on loopback). */
  checkHost: boolean;
  /** SKIFF_HOST and SKIFF_ALLOWED_HOSTS, lower-case, without ports. */
  allowedHosts: readonly string[];
  /** Shared mode: counts failed token attempts per client address (SKIFF_AUTH_FAILURES_PER_MINUTE); absent = unlimited. */
  failureLimiter?: AuthFailureLimiter;
  /** Loopback clients are not counted (SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK). */
  failureLimitExemptsLoopback?: boolean;
  /** Where a request comes from (behind trusted reverse proxies); default the socket's peer. */
  clientAddresses?: ClientAddresses;
}

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/openapi.json', '/openapi.yaml', '/docs', '/docs/']);
const DOCS_ASSET = /^\/docs\/[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** Whether `path` (the raw request path, no query) is served without a token. */
export function isOpenPath(path: string, opts: { metricsPublic: boolean }): boolean {
  return OPEN_PATHS.has(path) || DOCS_ASSET.test(path) || (opts.metricsPublic && path === '/metrics');
}

/** The host name of a Host header, lower-case, without port or brackets; undefined when it is not one. */
export function hostNameOf(host: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(host.trim());
  if (!m) return undefined;
  return m[1]!.replace(/^\[|\]$/g, '').toLowerCase();
}

function isLoopbackName(name: string): boolean {
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}

export function authenticationMiddleware(opts: AuthenticationOptions): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const { directory } = opts;
  const allowed = new Set(opts.allowedHosts.map((h) => h.replace(/^\[|\]$/g, '').toLowerCase()));
  return (incoming, res, next) => {
    const req = incoming as IncomingMessage & RequestWithPrincipal;
    const path = (req.url ?? '').split('?', 1)[0]!;
    if (!directory.shared) {
      const host = req.headers.host;
      if (opts.checkHost && host !== undefined) {
        const name = hostNameOf(host);
        if (name === undefined || !(isLoopbackName(name) || allowed.has(name))) {
          sendProblem(req, res, problemFor(req, 'FORBIDDEN', 'this service runs without API tokens and answers only requests addressed to a loopback name (localhost, 127.0.0.1, [::1]), SKIFF_HOST or SKIFF_ALLOWED_HOSTS; the Host header named another'));
          return;
        }
      }
      req.principal = LOCAL_PRINCIPAL;
      next();
      return;
    }
    const header = req.headers.authorization;
    const address = opts.clientAddresses ? opts.clientAddresses.of(req) : req.socket.remoteAddress;
    // only requests bringing an Authorization header are counted or refused (probes without one never are)
    const exempt = opts.failureLimitExemptsLoopback === true && address !== undefined && isLoopbackName(address.replace(/^::ffff:/i, ''));
    const limiter = header !== undefined && !exempt ? opts.failureLimiter : undefined;
    const wait = limiter?.retryAfterSeconds(address);
    if (wait !== undefined) {
      if (isOpenPath(path, opts)) {
        req.principal = ANONYMOUS_PRINCIPAL;
        next();
        return;
      }
      const detail = `too many failed authentication attempts from this address (SKIFF_AUTH_FAILURES_PER_MINUTE); retry after ${wait} s`;
      sendProblem(req, res, { ...problemFor(req, 'TOO_MANY_REQUESTS', detail), retryable: true }, { retryAfterSeconds: wait });
      return;
    }
    const m = header !== undefined ? BEARER.exec(header) : null;
    const principal = m ? directory.authenticate(m[1]!) : undefined;
    if (principal) {
      req.principal = principal;
      next();
      return;
    }
    limiter?.recordFailure(address);
    if (isOpenPath(path, opts)) {
      req.principal = ANONYMOUS_PRINCIPAL;
      next();
      return;
    }
    const detail = header === undefined ? 'this endpoint needs an API token: Authorization: Bearer <token>' : m ? 'the API token is not valid' : 'the Authorization header must be "Bearer <token>"';
    sendProblem(req, res, problemFor(req, 'UNAUTHORIZED', detail));
  };
}
