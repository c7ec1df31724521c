import { TRANSPORT_NAMES } from '../image-spec/image-reference';

/**
 * Credentials a caller wrote into a reference (`docker://user:password@host/…`), removed
 * before the reference reaches a log line (the audit log, the access log's URL). A reference
 * prefixed with another transport (`oci:path@…`, `docker-archive:…`) names a local path and
 * is kept as it is. (The registry client's redactUserinfo, transports/docker/upstream-text.ts,
 * cleans `scheme://` URLs only; a reference may come without a scheme.)
 */
export function redactReferenceUserinfo(v: string): string {
  const colon = v.indexOf(':');
  if (colon > 0 && !v.startsWith('docker://') && (TRANSPORT_NAMES as readonly string[]).includes(v.slice(0, colon))) return v;
  // A registry host never contains '@': before the first '/', it can only be userinfo.
  return v.replace(/^(docker:\/\/)?[^/]*@/, (_all, scheme: string | undefined) => `${scheme ?? ''}[redacted]@`);
}

/**
 * `url` (path and query, as received) with userinfo removed from every query value that
 * carries one; a value with an '@' that cannot be decoded is replaced whole.
 */
export function redactUrlUserinfo(url: string): string {
  const q = url.indexOf('?');
  if (q === -1 || (!url.includes('@', q) && !/%40/i.test(url.slice(q)))) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return part;
      const raw = part.slice(eq + 1);
      let value: string;
      try {
        value = decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return /@|%40/i.test(raw) ? `${part.slice(0, eq)}=[redacted]` : part;
      }
      const redacted = redactReferenceUserinfo(value);
      return redacted === value ? part : `${part.slice(0, eq)}=${redacted}`;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}
