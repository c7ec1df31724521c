import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type Logger } from 'pino';
import type { AuditLogTarget } from '../config/app-config';
import type { RequestWithPrincipal } from './current-principal.decorator';
import { problemCodeOf } from './problem-response';
import { requestIdOf } from './request-observer';
import { redactReferenceUserinfo } from './userinfo-redaction';

/**
 * The audit log: one line per mutating call (POST, PUT, PATCH, DELETE), whatever its outcome
 * (refused without a token, forbidden, invalid, accepted, failed), separate from the access
 * log. Where it goes is SKIFF_AUDIT_LOG: `stdout` (default; lines carry `"log":"audit"` so
 * they can be told from the service log), a file of its own (appended, mode 0600), or `off`.
 *
 * A line: `time`, `requestId`, `principal` (name; `anonymous` when none was authenticated),
 * `action` (`METHOD /route/pattern`, `unmatched` for no route), `references` (image,
 * repository, source, destination, sourceType, destinationType, additionalTags, registry,
 * usableBy — as sent, cut to 512 characters, userinfo in a docker:// host removed), `status`,
 * `outcome` (`ok` below 400, `refused` for 4xx, `failed` for 5xx), `code` (the problem's code)
 * and `operationId` (from the answer's Location, or the route's id). Never a credential: no
 * header, no body field but the ones named here.
 */
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REFERENCE_FIELDS = ['image', 'repository', 'source', 'destination', 'sourceType', 'destinationType'] as const;
const MAX_VALUE = 512;

export function createAuditLogger(target: AuditLogTarget): Logger | undefined {
  if (target.kind === 'off') return undefined;
  const options = { level: 'info', base: { pid: process.pid, log: 'audit' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (target.kind === 'stdout') return pino(options, pino.destination({ dest: 1, sync: true }));
  return pino(options, pino.destination({ dest: target.path, append: true, mkdir: true, sync: true, mode: 0o600 }));
}

/** A reference for the audit line: bounded, and without `user:password@` before a docker:// host. */
export function auditValue(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  // Redacted before it is cut: cut first, a userinfo longer than the bound would lose its '@'
  // and be logged as it came.
  const redacted = redactReferenceUserinfo(v);
  return redacted.length > MAX_VALUE ? `${redacted.slice(0, MAX_VALUE)}…` : redacted;
}

type AuditedRequest = IncomingMessage &
  RequestWithPrincipal & { query?: Record<string, unknown>; body?: unknown; params?: Record<string, string>; route?: { path?: unknown } };

function references(req: AuditedRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const body = typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
  for (const k of REFERENCE_FIELDS) {
    const v = auditValue(req.query?.[k]) ?? auditValue(body[k]);
    if (v !== undefined) out[k] = v;
  }
  for (const k of ['additionalTags', 'usableBy'] as const) {
    const list = body[k];
    if (Array.isArray(list)) out[k] = list.slice(0, 32).map(auditValue).filter((x) => x !== undefined);
  }
  const registry = auditValue(req.params?.['registry'] ?? pathParam(req, /^\/v1\/credentials\/([^/?]+)/));
  if (registry !== undefined) out['registry'] = registry;
  return out;
}

/** A path parameter read from the URL, when the router's `req.params` are gone. */
function pathParam(req: IncomingMessage, re: RegExp): string | undefined {
  const raw = re.exec(req.url ?? '')?.[1];
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function auditMiddleware(audit: Logger): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (incoming, res, next) => {
    const req = incoming as AuditedRequest;
    if (!MUTATING.has(req.method ?? '')) {
      next();
      return;
    }
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      const status = res.writableFinished ? res.statusCode : 499;
      const routePath = req.route?.path;
      const location = res.getHeader('location');
      const fromLocation = typeof location === 'string' ? /^\/v1\/operations\/([^/?]+)$/.exec(location)?.[1] : undefined;
      const id = fromLocation ?? auditValue(req.params?.['id'] ?? pathParam(req, /^\/v1\/operations\/([^/?]+)/));
      audit.info(
        {
          requestId: requestIdOf(req),
          principal: req.principal?.name ?? 'anonymous',
          action: `${req.method} ${typeof routePath === 'string' ? routePath : 'unmatched'}`,
          references: references(req),
          status,
          outcome: !res.writableFinished ? 'aborted' : status < 400 ? 'ok' : status < 500 ? 'refused' : 'failed',
          ...(problemCodeOf(res) !== undefined ? { code: problemCodeOf(res) } : {}),
          ...(id !== undefined ? { operationId: id } : {}),
        },
        'audit',
      );
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
