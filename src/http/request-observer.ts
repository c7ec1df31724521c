import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { MetricsService } from '../metrics/metrics.service';

/** Probes and scrapes: counted in the metrics, never written to the access log. */
const UNLOGGED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

type ObservedRequest = IncomingMessage & { id?: number; route?: { path?: unknown }; baseUrl?: string; originalUrl?: string };

/**
 * The access log and the request metrics, from one plain middleware that runs before
 * routing. It replaces pino-http's per-request child logger and Nest's route-matched
 * middleware wrapper: both cost more than the rest of a warm inspect's framework work,
 * for log lines that are dropped anyway at the default level.
 *
 * One line per finished or aborted request (`request completed` / `request aborted`): info
 * below 400, warn for 4xx, error for 5xx. `req` holds only id, method and URL, never headers;
 * the logger's redaction still applies to every line. The metrics take the matched route
 * pattern, never the raw URL.
 */
export function requestObserver(log: Logger, metrics: MetricsService): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  let lastId = 0;
  return (incoming, res, next) => {
    const req = incoming as ObservedRequest;
    const started = performance.now();
    req.id = lastId = (lastId + 1) & 0x7fffffff;
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
        { req: { id: req.id, method: req.method, url: req.originalUrl ?? url }, res: { statusCode: status }, responseTime: Math.round(seconds * 1000) },
        finished ? 'request completed' : 'request aborted',
      );
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
