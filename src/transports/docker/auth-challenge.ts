/**
 * Parses `WWW-Authenticate` headers (RFC 7235) into challenges. Only what registries send is
 * needed: `Basic realm="…"` and `Bearer realm="…",service="…",scope="…"`, possibly several
 * challenges in one header. The header is upstream input: one left-to-right scan (the only
 * regular expression is a sticky token match at the current position), at most MAX_CHALLENGES
 * challenges and MAX_PARAMS parameters each are kept, so a hostile value costs linear time and
 * bounded memory.
 */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const MAX_CHALLENGES = 16;
const MAX_PARAMS = 32;

export function parseWwwAuthenticate(headers: string | string[] | undefined): AuthChallenge[] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers) ? headers : [headers];
  const out: AuthChallenge[] = [];
  for (const header of list) {
    for (const c of parseOne(header)) {
      if (out.length >= MAX_CHALLENGES) return out;
      out.push(c);
    }
  }
  return out;
}

function parseOne(input: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const skipWs = () => {
    while (i < input.length && (input[i] === ' ' || input[i] === '\t')) i++;
  };
  const readToken = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(input);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  let current: AuthChallenge | undefined;
  while (i < input.length) {
    skipWs();
    if (input[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const tok = readToken();
    if (tok === undefined) break;
    skipWs();
    if (input[i] === '=') {
      i++;
      skipWs();
      let value = '';
      if (input[i] === '"') {
        i++;
        const parts: string[] = [];
        let from = i;
        while (i < input.length && input[i] !== '"') {
          if (input[i] === '\\' && i + 1 < input.length) {
            parts.push(input.slice(from, i));
            i++;
            from = i;
          }
          i++;
        }
        parts.push(input.slice(from, i));
        value = parts.join('');
        i++;
      } else {
        value = readToken() ?? '';
      }
      if (current && Object.keys(current.params).length < MAX_PARAMS) current.params[tok.toLowerCase()] = value;
      continue;
    }
    if (start === i) break;
    current = { scheme: tok.toLowerCase(), params: {} };
    if (out.length >= MAX_CHALLENGES) break;
    out.push(current);
  }
  return out;
}
