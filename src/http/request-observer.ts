import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { redactUrlUserinfo } from './userinfo-redaction';

/** Where the request metrics go (the metrics service implements it). */
export interface RequestMetrics {
  /** One finished request: `route` is the matched route pattern, or `unmatched`. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
}

/** Probes and scrapes: counted in the metrics, never written to the access log. */
const UNLOGGED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

type ObservedRequest = IncomingMessage & { id?: string; route?: { path?: unknown }; baseUrl?: string; originalUrl?: string };

/** A caller's X-Request-Id is kept when it is this sane; otherwise one is generated. */
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:+=@/-]{0,127}$/;

/** The request's id (X-Request-Id), once requestObserver has seen it. */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as ObservedRequest).id;
}

/** The caller's X-Request-Id when sane, else a new UUID. */
export function chooseRequestId(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The request id, the access log and the request metrics, from one plain middleware that
 * runs before routing (and before authentication). It replaces pino-http's per-request child
 * logger and Nest's route-matched middleware wrapper: both cost more than the rest of a warm
 * inspect's framework work, for log lines that are dropped anyway at the default level.
 *
 * Every answer carries `X-Request-Id`: the caller's when sane (1–128 of `[A-Za-z0-9._:+=@/-]`),
 * else a generated UUID; the same id is in the access log line and in problems.
 *
 * One line per finished or aborted request (`request completed` / `request aborted`): info
 * below 400, warn for 4xx, error for 5xx. `req` holds only id, method and URL, never headers,
 * and the URL's query values without userinfo (`docker://user:password@…`, a 400 that would
 * otherwise log the password); the logger's redaction still applies to every line. The metrics take the matched route
 * pattern, never the raw URL: a request no route took is counted as `unmatched`.
 */
export function requestObserver(log: Logger, metrics: RequestMetrics): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (incoming, res, next) => {
    const req = incoming as ObservedRequest;
    const started = performance.now();
    req.id = chooseRequestId(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', req.id);
    const url = req.url ?? '';
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      const finished = res.writableFinished;
      const status = res.statusCode;
      const seconds = (performance.now() - started) / 1000;
      if (finished) {
        const routePath = req.route?.path;
        metrics.observeHttp(req.method ?? '', typeof routePath === 'string' ? `${req.baseUrl ?? ''}${routePath}` : 'unmatched', status, seconds);
      }
      const path = url.split('?', 1)[0]!;
      if (UNLOGGED_PATHS.has(path)) return;
      const level = !finished || status >= 400 ? (status >= 500 ? 'error' : 'warn') : 'info';
      if (!log.isLevelEnabled(level)) return;
      log[level](
        { req: { id: req.id, method: req.method, url: redactUrlUserinfo(req.originalUrl ?? url) }, res: { statusCode: status }, responseTime: Math.round(seconds * 1000) },
        finished ? 'request completed' : 'request aborted',
      );
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
