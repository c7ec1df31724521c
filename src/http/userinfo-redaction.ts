import { TRANSPORT_NAMES } from '../image-spec/image-reference';

/** Transports whose reference names a local path or a local engine's image: kept as written ('@' is theirs). */
const LOCAL_TRANSPORTS: readonly string[] = TRANSPORT_NAMES.filter((t) => t !== 'docker');
/** A `scheme://` prefix (any scheme, any case), kept in front of the redaction marker. */
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** The only '@' a docker reference may hold: the one before a trailing `algorithm:hex` digest. */
const DIGEST_SUFFIX_RE = /@(?:sha256|sha384|sha512):[0-9a-fA-F]*$/;
/** '@', also percent-encoded once or more (`%40`, `%2540`, …). */
const AT_RE = /@|%(?:25)*40/gi;
const HAS_AT_RE = /@|%(?:25)*40/i;
/** What a query parameter name of the API looks like (`image`, `tlsVerify`, `a[0]`, …). */
const PARAM_NAME_RE = /^[\w.[\]-]*$/;

/**
 * Credentials a caller wrote into a reference (`docker://user:password@host/…`), removed
 * before the reference reaches a log line (the audit log, the access log's URL).
 *
 * The reference parser (image-spec/image-reference.ts, docker-reference.ts) accepts no
 * userinfo at all: in a docker reference the only '@' is the one before a trailing digest.
 * So every other '@' (or a percent-encoded one) marks what a caller meant as `user:pass@`,
 * whatever the password holds ('/', '@', ':'): everything before the last such '@' goes,
 * after the `scheme://` prefix (kept, whatever its case). A reference prefixed with another
 * transport (`oci:path@…`, `docker-archive:…`, `containers-storage:[driver@…]`) names a local
 * path or image and is kept as it is. Linear in the input.
 * (The registry client's redactUserinfo, transports/docker/upstream-text.ts, cleans
 * `scheme://` URLs in upstream text; a reference may come without a scheme.)
 */
export function redactReferenceUserinfo(v: string): string {
  const colon = v.indexOf(':');
  if (colon > 0 && LOCAL_TRANSPORTS.includes(v.slice(0, colon))) return v;
  return redactBeforeLastAt(v);
}

/** `v` without what precedes its last '@' (or `%40`) that is not a digest's, after any `scheme://` prefix. */
function redactBeforeLastAt(v: string): string {
  const prefix = SCHEME_RE.exec(v)?.[0] ?? '';
  const digest = DIGEST_SUFFIX_RE.exec(v);
  const end = digest === null ? v.length : digest.index;
  const body = v.slice(prefix.length, end);
  let cut = -1;
  for (const m of body.matchAll(AT_RE)) cut = m.index + m[0].length;
  if (cut === -1) return v;
  return `${prefix}[redacted]@${body.slice(cut)}${v.slice(end)}`;
}

/**
 * `url` (path and query, as received) with userinfo removed from every query value that
 * carries one (a value with an '@' that cannot be decoded is replaced whole), and from the
 * path after `/v1/<resource>/` (`/v1/credentials/user:pass@host`, raw or percent-encoded).
 */
export function redactUrlUserinfo(url: string): string {
  const q = url.indexOf('?');
  const path = redactPathUserinfo(q === -1 ? url : url.slice(0, q));
  if (q === -1) return path;
  if (!HAS_AT_RE.test(url.slice(q))) return path + url.slice(q);
  const params = url
    .slice(q + 1)
    .split('&')
    .map((part) => {
      // a part without '=' is a value too (`?docker://user:pass@host/…`), and so is one whose
      // "key" is no parameter name (`?docker://user:pa=ss@host/…`: the '=' is the password's)
      const eq = part.indexOf('=');
      const key = eq !== -1 && PARAM_NAME_RE.test(part.slice(0, eq)) ? part.slice(0, eq + 1) : '';
      const raw = part.slice(key.length);
      let value: string;
      try {
        value = decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return HAS_AT_RE.test(raw) ? `${key}[redacted]` : part;
      }
      const redacted = redactReferenceUserinfo(value);
      return redacted === value ? part : `${key}${redacted}`;
    });
  return `${path}?${params.join('&')}`;
}

/** A path parameter (a registry host) never holds an '@': the part before the last one is userinfo. */
function redactPathUserinfo(path: string): string {
  if (!HAS_AT_RE.test(path)) return path;
  const head = /^\/[^/]*\/[^/]*\//.exec(path)?.[0] ?? '';
  return head + redactBeforeLastAt(path.slice(head.length));
}
