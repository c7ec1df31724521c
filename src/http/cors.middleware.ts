import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * CORS for the configured browser origins (SKIFF_CORS_ORIGINS), so a portal page can call the
 * API with its bearer token. Without configured origins this middleware is not mounted and no
 * answer carries a CORS header.
 *
 * - A request whose `Origin` is listed gets `Access-Control-Allow-Origin: <origin>` and the
 *   headers a client needs exposed (X-Request-Id, Location, Retry-After, …); others get no
 *   CORS headers (the browser then refuses to hand the answer to the page).
 * - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from a listed origin is
 *   answered 204 here, before authentication (browsers send preflights without credentials);
 *   a preflight from any other origin goes on like any request (and needs a token).
 * - Tokens travel in `Authorization`, not cookies: `Access-Control-Allow-Credentials` is not sent.
 */
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, DELETE';
const ALLOWED_HEADERS = 'Authorization, Content-Type, X-Registry-Auth, X-Request-Id, Idempotency-Key, Prefer, Last-Event-ID, If-None-Match';
const EXPOSED_HEADERS =
  'X-Request-Id, Location, Retry-After, Docker-Content-Digest, ETag, Idempotent-Replayed, Preference-Applied, WWW-Authenticate, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset';
const MAX_AGE_SECONDS = '600';

export function corsMiddleware(origins: readonly string[]): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const allowed = new Set(origins);
  return (req, res, next) => {
    res.setHeader('Vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined || !allowed.has(origin)) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.statusCode = 204;
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', MAX_AGE_SECONDS);
      res.setHeader('Content-Length', '0');
      res.end();
      return;
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
