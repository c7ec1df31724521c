/**
 * Text that leaves the registry client (log lines, problem details) is cleaned here: URLs lose
 * their userinfo (`https://user:pass@host` → `https://host`), and text an upstream wrote is
 * stripped of control and bidirectional-override characters and capped in length. Linear in
 * the input: plain scans, no backtracking patterns.
 */

/** Removes `user:pass@` from every `scheme://…` in `text`. */
export function redactUserinfo(text: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const i = text.indexOf('://', from);
    if (i === -1) break;
    let j = i + 3;
    while (j < text.length) {
      const c = text.charCodeAt(j);
      // end of the authority: '/', '?', '#', whitespace, quotes, '>' (a Link target), or '@'
      if (c === 0x2f || c === 0x3f || c === 0x23 || c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x3e || c === 0x40) break;
      j++;
    }
    if (j < text.length && text.charCodeAt(j) === 0x40) {
      out += text.slice(from, i + 3);
      from = j + 1;
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
