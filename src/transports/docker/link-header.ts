import { DomainError } from '../../errors/domain-error';
import { redactUserinfo } from './upstream-text';

/**
 * The `Link` header (RFC 8288) of tag-list pages, read by a single left-to-right scan: no
 * regular expression runs over the header, so a hostile value costs time linear in its length.
 */

interface LinkValue {
  target: string;
  /** The text after `>` up to the next link: `; name=value` parameters. */
  params: string;
  /** The value had only whitespace (or commas) before `<` and only parameters after `>`. */
  wellFormed: boolean;
}

function isWs(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

function isBlank(s: string, allowCommas: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (!isWs(c) && !(allowCommas && c === ',')) return false;
  }
  return true;
}

/** Splits a Link header into its link-values; a comma ends a value only outside quotes and before `<`. */
function linkValues(link: string): LinkValue[] {
  const out: LinkValue[] = [];
  let i = 0;
  const n = link.length;
  while (i < n) {
    const lt = link.indexOf('<', i);
    if (lt === -1) break;
    const gt = link.indexOf('>', lt + 1);
    if (gt === -1) break;
    let end = n;
    let inQuote = false;
    for (let j = gt + 1; j < n; j++) {
      const c = link[j];
      if (inQuote) {
        if (c === '\\') j++;
        else if (c === '"') inQuote = false;
      } else if (c === '"') {
        inQuote = true;
      } else if (c === ',') {
        let k = j + 1;
        while (k < n && isWs(link[k])) k++;
        if (k < n && link[k] === '<') {
          end = j;
          break;
        }
        j = k - 1;
      }
    }
    const params = link.slice(gt + 1, end);
    const trimmed = params.trim();
    out.push({ target: link.slice(lt + 1, gt), params, wellFormed: isBlank(link.slice(i, lt), true) && (trimmed === '' || trimmed[0] === ';') });
    i = end + 1;
  }
  return out;
}

/** The value of the first `rel` parameter (quoted or not), or undefined. */
function relOf(params: string): string | undefined {
  for (const raw of params.split(';').slice(1)) {
    const param = raw.trim();
    const eq = param.indexOf('=');
    const name = (eq === -1 ? param : param.slice(0, eq)).trim();
    if (name.toLowerCase() !== 'rel') continue;
    if (eq === -1) return '';
    const value = param.slice(eq + 1).trim();
    if (value.startsWith('"')) {
      const close = value.indexOf('"', 1);
      return close === -1 ? undefined : value.slice(1, close);
    }
    for (let i = 0; i < value.length; i++) if (isWs(value[i])) return undefined;
    return value;
  }
  return undefined;
}

/**
 * Extracts the `rel="next"` target of a Link header (RFC 8288), resolved against the current
 * URL `base`. A link's first `rel` parameter (quoted or not) is a whitespace-separated list of
 * relation types, each compared whole and case-insensitively with `next` ("prev next" is next,
 * "next-archive" is not). Returns undefined when no link is next. Throws
 * DomainError('UPSTREAM_PROTOCOL_ERROR') when the next link's target is not a valid URL.
 */
export function nextLink(link: string | undefined, base: string): string | undefined {
  if (!link) return undefined;
  for (const value of linkValues(link)) {
    if (!value.wellFormed) continue;
    const rel = relOf(value.params);
    if (rel === undefined || !rel.split(/[ \t]+/).some((t) => t.toLowerCase() === 'next')) continue;
    if (!URL.canParse(value.target, base)) {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `the registry's Link header has an invalid next target ${JSON.stringify(redactUserinfo(value.target.slice(0, 200)))}`, {
        ...(URL.canParse(base) ? { registry: new URL(base).host } : {}),
      });
    }
    return new URL(value.target, base).toString();
  }
  return undefined;
}

/**
 * The path (with query) of the next page of a paginated answer: nextLink's target, which must
 * be on the host that answered (`base`); a link to another host is refused with
 * UPSTREAM_PROTOCOL_ERROR. Undefined on the last page.
 */
export function nextPagePath(link: string | undefined, base: string, what: string, registry: string): string | undefined {
  const target = nextLink(link, base);
  if (target === undefined) return undefined;
  const next = new URL(target);
  if (next.host !== new URL(base).host) {
    throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: refusing to follow a pagination link to another host (${next.host})`, { registry });
  }
  return next.pathname + next.search;
}
