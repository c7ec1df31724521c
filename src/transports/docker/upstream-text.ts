/**
 * Text that leaves the registry client (log lines, problem details) is cleaned here: URLs lose
 * their userinfo (`https://user:pass@host` → `https://host`), and text an upstream wrote is
 * stripped of control and bidirectional-override characters and capped in length. Linear in
 * the input: plain scans, no backtracking patterns.
 */

/** End of a URL token: whitespace, quotes, '>' (a Link target). */
function endsToken(c: number): boolean {
  return c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x3e;
}

/** True when `authority` (no '@') can be a `host[:port]`: no ':' outside an IPv6 literal, or digits after the last one. */
function isHostPort(authority: string): boolean {
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.lastIndexOf(']') > colon) return true;
  return /^[0-9]*$/.test(authority.slice(colon + 1));
}

/**
 * Removes `user:pass@` from every `scheme://…` in `text`: everything up to the LAST '@' of the
 * authority (a password may hold '@', as a URL parser reads it). An authority that cannot be a
 * `host[:port]` (`user:pa` in `https://user:pa/ss@host`) means the userinfo holds a '/': then
 * everything up to the last '@' before the query, fragment or end of the URL goes.
 * (`https://tok/en@host`, a user name holding '/', is not recognised: `tok` is a valid host.)
 */
export function redactUserinfo(text: string): string {
  let out = '';
  let from = 0;
  // a continued scan that found no '@' up to here: a later one starting before it ends there too
  let noAtUntil = -1;
  for (;;) {
    const i = text.indexOf('://', from);
    if (i === -1) break;
    let j = i + 3;
    let at = -1;
    // the authority ends at '/', '?', '#' or the token's end; its last '@' ends the userinfo
    while (j < text.length) {
      const c = text.charCodeAt(j);
      if (c === 0x2f || c === 0x3f || c === 0x23 || endsToken(c)) break;
      if (c === 0x40) at = j;
      j++;
    }
    if (at === -1 && j < text.length && text.charCodeAt(j) === 0x2f && j > noAtUntil && !isHostPort(text.slice(i + 3, j))) {
      let k = j;
      while (k < text.length) {
        const c = text.charCodeAt(k);
        if (c === 0x3f || c === 0x23 || endsToken(c)) break;
        if (c === 0x40) at = k;
        k++;
      }
      if (at === -1) noAtUntil = k;
    }
    if (at !== -1) {
      out += text.slice(from, i + 3);
      from = at + 1;
    } else {
      out += text.slice(from, j);
      from = j;
    }
  }
  return out + text.slice(from);
}

function isUnsafeChar(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0x200e || c === 0x200f || c === 0xfeff;
}

/** Upstream-written text for a message: control characters become spaces, at most `max` characters (with an ellipsis). */
export function sanitizeUpstreamText(text: string, max = 512): string {
  const slice = text.length > max * 2 ? text.slice(0, max * 2) : text;
  let out = '';
  for (let i = 0; i < slice.length && out.length <= max; i++) {
    const c = slice.charCodeAt(i);
    out += isUnsafeChar(c) ? ' ' : slice[i];
  }
  const cleaned = redactUserinfo(out.trim());
  return cleaned.length > max || text.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}

/**
 * `text` with every occurrence of the caller's secrets (a password, an identity token) replaced:
 * an auth server's error message is untrusted and may echo what it was sent, and the detail it
 * ends up in reaches callers who may use stored credentials they must never read.
 */
export function withoutSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}
