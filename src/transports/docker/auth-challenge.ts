/**
 * Parses `WWW-Authenticate` headers (RFC 7235) into challenges. Only what registries send is
 * needed: `Basic realm="…"` and `Bearer realm="…",service="…",scope="…"`, possibly several
 * challenges in one header.
 */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

export function parseWwwAuthenticate(headers: string | string[] | undefined): AuthChallenge[] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers) ? headers : [headers];
  const out: AuthChallenge[] = [];
  for (const header of list) out.push(...parseOne(header));
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
        while (i < input.length && input[i] !== '"') {
          if (input[i] === '\\' && i + 1 < input.length) i++;
          value += input[i];
          i++;
        }
        i++;
      } else {
        value = readToken() ?? '';
      }
      if (current) current.params[tok.toLowerCase()] = value;
      continue;
    }
    if (start === i) break;
    current = { scheme: tok.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}
