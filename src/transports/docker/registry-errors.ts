import { DomainError, type DomainErrorCode, type UpstreamDetails } from '../../errors/domain-error';
import { parseWwwAuthenticate } from './auth-challenge';
import { redactUserinfo, sanitizeUpstreamText, withoutSecrets } from './upstream-text';

/** One entry of a registry's `{"errors":[…]}` body (distribution spec). */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** The `errors` of a registry's error body: at most 16, codes and messages cleaned and capped. */
export function parseRegistryErrors(body: Buffer): RegistryErrorEntry[] {
  try {
    const doc = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof doc === 'object' && doc !== null && Array.isArray((doc as { errors?: unknown }).errors)) {
      return ((doc as { errors: unknown[] }).errors)
        .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
        .slice(0, 16)
        .map((e) => ({
          code: typeof e['code'] === 'string' ? sanitizeUpstreamText(e['code'], 64) : '',
          message: typeof e['message'] === 'string' ? sanitizeUpstreamText(e['message'], 512) : '',
        }));
    }
  } catch {
    // not JSON: the status alone describes the failure
  }
  return [];
}

/** At most this many of an answer's errors are named in a detail; the rest are counted. */
const NAMED_ERRORS = 4;

/** `CODE: message; CODE: message (and N more errors)`: the first few of a registry's errors, for a detail. */
export function namedErrors(errors: readonly RegistryErrorEntry[]): string {
  const named = errors.slice(0, NAMED_ERRORS).map((e) => `${e.code}${e.message ? ': ' + e.message : ''}`);
  return named.join('; ') + (errors.length > NAMED_ERRORS ? ` (and ${errors.length - NAMED_ERRORS} more errors)` : '');
}

/**
 * The error a Bearer challenge of a 4xx answer carries (RFC 6750 §3.1), as docker/distribution's
 * HandleErrorResponse reads it: `invalid_token` is UNAUTHORIZED, `insufficient_scope` DENIED
 * (a token that does not grant the access), with `error_description` or the code's own message.
 */
function challengeError(header: string | string[] | undefined): RegistryErrorEntry | undefined {
  for (const c of parseWwwAuthenticate(header)) {
    if (c.scheme.toLowerCase() !== 'bearer') continue;
    const kind = c.params['error'];
    const code = kind === 'invalid_token' ? 'UNAUTHORIZED' : kind === 'insufficient_scope' ? 'DENIED' : undefined;
    if (code === undefined) continue;
    const description = c.params['error_description'];
    const message = description ? sanitizeUpstreamText(description, 512) : code === 'DENIED' ? 'requested access to the resource is denied' : 'authentication required';
    return { code, message };
  }
  return undefined;
}

/**
 * Maps an unexpected registry answer to a domain error. `what` names the request in the
 * caller's terms ("reading manifest latest in foo/bar"). The detail names the registry's
 * errors as skopeo prints them: the Bearer challenge's error first (`wwwAuthenticate`), then
 * every error of the body (a few, then how many more), or for a 401 naming none UNAUTHORIZED;
 * `upstreamCode` is the first of them.
 */
export function registryResponseError(
  what: string,
  registry: string,
  status: number,
  body: Buffer,
  extra: UpstreamDetails & { hadCredentials?: boolean; wwwAuthenticate?: string | string[]; secrets?: readonly string[] } = {},
): DomainError {
  const fromChallenge = status >= 400 && status < 500 ? challengeError(extra.wwwAuthenticate) : undefined;
  const errors = [...(fromChallenge ? [fromChallenge] : []), ...parseRegistryErrors(body)];
  // a 401 that names no error (a HEAD has no body): UNAUTHORIZED, as HandleErrorResponse makes it
  if (errors.length === 0 && status === 401) errors.push({ code: 'UNAUTHORIZED', message: 'authentication required' });
  const first = errors[0];
  const upstreamCode = first?.code || undefined;
  // an upstream's message may echo what it was sent: the caller's secrets never reach a detail
  const detail = withoutSecrets(errors.length > 0 ? namedErrors(errors) : `HTTP ${status}`, extra.secrets ?? []);
  const upstream: UpstreamDetails = { registry, upstreamStatus: status, upstreamCode, retryAfterSeconds: extra.retryAfterSeconds };
  let code: DomainErrorCode;
  if (status === 404) code = 'IMAGE_NOT_FOUND';
  else if (status === 401) code = extra.hadCredentials ? 'INVALID_CREDENTIALS' : 'REGISTRY_DENIED';
  else if (status === 403) code = 'REGISTRY_DENIED';
  else if (status === 429 || upstreamCode === 'TOOMANYREQUESTS') code = 'RATE_LIMITED';
  else if (status === 405 || upstreamCode === 'UNSUPPORTED') code = 'UPSTREAM_UNSUPPORTED';
  else if (status >= 500 || status === 408) code = 'UPSTREAM_UNAVAILABLE';
  else code = 'UPSTREAM_REFUSED';
  upstream.retryable = code === 'RATE_LIMITED' || code === 'UPSTREAM_UNAVAILABLE';
  const hint = code === 'UPSTREAM_UNSUPPORTED' && status === 405 ? ' (the registry does not allow this operation; deletes may be disabled)' : '';
  return new DomainError(code, `${what}: registry ${registry} answered ${detail}${hint}`, upstream);
}

const RETRYABLE_NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur && typeof cur === 'object'; depth++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && c !== '') return c;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isRetryableNetworkError(e: unknown): boolean {
  const c = errorCode(e);
  return c !== undefined && RETRYABLE_NET_CODES.has(c);
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|SELF_SIGNED|DEPTH_ZERO|UNABLE_TO_|CERT_|ERR_OSSL|HOSTNAME_MISMATCH)/;

/**
 * Alerts the registry sends about the certificate we presented, or did not: it requires a
 * client certificate, or refuses ours. (Our own refusal of the registry's certificate has
 * codes like UNABLE_TO_VERIFY_LEAF_SIGNATURE and no alert.)
 */
const CLIENT_CERT_ALERT =
  /alert (bad certificate|certificate required|unknown ca|certificate unknown|certificate expired|certificate revoked|unsupported certificate|access denied)|ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)/i;

/** OpenSSL's "…:SSL routines:fn:reason:file:line:…" reduced to its reason (and alert number). */
function tlsReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(message);
  if (!m) return message.trim();
  const alert = /SSL alert number (\d+)/.exec(message);
  return alert ? `${m[1]} (TLS alert ${alert[1]})` : m[1]!;
}

/** Maps a failure to reach a registry (socket, DNS, TLS) to a domain error. */
export function networkError(what: string, registry: string, e: unknown): DomainError {
  if (e instanceof DomainError) return e;
  const c = sanitizeUpstreamText(errorCode(e) ?? '', 64);
  const message = sanitizeUpstreamText(redactUserinfo(e instanceof Error ? e.message : String(e)), 512);
  if (TLS_CODES.test(c) || /certificate|SSL|TLS|wrong version number/i.test(message)) {
    // OpenSSL's "wrong version number": the first bytes were no TLS record, typically an HTTP
    // answer (Go's message, which skopeo prints: "server gave HTTP response to HTTPS client").
    const hint = /WRONG_VERSION_NUMBER|wrong version number/i.test(`${c} ${message}`)
      ? 'the server does not speak TLS: it answered plain HTTP to an HTTPS client? for a plain-HTTP registry use tlsVerify=false, or mark it insecure in SKIFF_REGISTRIES_CONFIG'
      : CLIENT_CERT_ALERT.test(`${c} ${message}`)
        ? 'the registry asks for a client certificate or refuses the one given: configure clientCert and clientKey for it in SKIFF_REGISTRIES_CONFIG'
        : 'configure its CA in SKIFF_REGISTRIES_CONFIG, or use tlsVerify=false for a registry you trust';
    return new DomainError(
      'UPSTREAM_TLS_ERROR',
      `${what}: TLS connection to ${registry} failed: ${tlsReason(message)} (${hint})`,
      { registry, retryable: false },
      { cause: e },
    );
  }
  return new DomainError(
    'UPSTREAM_UNAVAILABLE',
    `${what}: cannot reach registry ${registry}: ${c ? c + ' ' : ''}${message}`,
    { registry, retryable: true },
    { cause: e },
  );
}
