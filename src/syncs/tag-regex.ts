import { runInNewContext } from 'node:vm';
import { InvalidArgumentError } from '../errors/domain-error';

/**
 * `images-by-tag-regex` patterns: Go RE2 syntax (skopeo compiles them with regexp.Compile and
 * keeps the tags where MatchString is true, i.e. an unanchored search), run on JavaScript's
 * engine after a translation of the RE2 constructs JavaScript spells differently. RE2 features
 * with no JavaScript equivalent, and JavaScript features RE2 refuses (backreferences,
 * lookaround), are refused, so a pattern means the same in both or is rejected.
 *
 * JavaScript regular expressions backtrack (RE2 does not): matching runs in a separate V8
 * context with a time limit, so a pathological pattern fails the sync instead of stalling the
 * service.
 */
export interface TagRegex {
  /** The pattern as written (Go syntax). */
  readonly source: string;
  /** The JavaScript translation and its flags. */
  readonly js: string;
  readonly flags: string;
}

/** How long filtering one repository's tag list may take. */
const MATCH_TIMEOUT_MS = 2_000;
const PATTERN_MAX = 1024;

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

function refuse(pattern: string, why: string): never {
  throw new InvalidArgumentError(`invalid tag regular expression ${JSON.stringify(pattern)}: ${why}`);
}

/** Translates a Go RE2 pattern; throws INVALID_ARGUMENT for what cannot be translated faithfully. */
export function compileTagRegex(pattern: string): TagRegex {
  if (pattern.length > PATTERN_MAX) refuse(pattern.slice(0, 40) + '…', `longer than ${PATTERN_MAX} characters`);
  let flags = '';
  let rest = pattern;
  const leading = /^\(\?([imsU]+)\)/.exec(rest);
  if (leading) {
    if (leading[1]!.includes('U')) refuse(pattern, 'the U (ungreedy) flag is not supported');
    flags = [...new Set(leading[1]!)].join('');
    rest = rest.slice(leading[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (c === '\\') {
      const n = rest[i + 1];
      if (n === undefined) refuse(pattern, 'trailing backslash');
      if (/[1-9]/.test(n)) refuse(pattern, 'backreferences are not supported by RE2');
      if (n === 'z' && !inClass) {
        out += '$(?![\\s\\S])';
        i++;
        continue;
      }
      if (n === 'A' && !inClass) {
        out += '^(?<![\\s\\S])';
        i++;
        continue;
      }
      if (n === 'Q' || n === 'C' || n === 'p' || n === 'P') refuse(pattern, `\\${n} is not supported`);
      out += c + n;
      i++;
      continue;
    }
    if (inClass) {
      if (c === '[' && rest[i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(rest.slice(i));
        if (m) {
          const set = POSIX_CLASSES[m[2]!];
          if (!set) refuse(pattern, `unknown character class [:${m[2]}:]`);
          if (m[1]) refuse(pattern, 'negated POSIX classes are not supported');
          out += set;
          i += m[0].length - 1;
          continue;
        }
      }
      if (c === '[') {
        out += '\\[';
        continue;
      }
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (rest[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (rest[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && rest[i + 1] === '?') {
      const group = rest.slice(i);
      const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(group);
      if (named) {
        out += `(?<${named[1]}>`;
        i += named[0].length - 1;
        continue;
      }
      if (group.startsWith('(?:')) {
        out += '(?:';
        i += 2;
        continue;
      }
      const modifier = /^\(\?([ims]+):/.exec(group);
      if (modifier) {
        out += `(?${[...new Set(modifier[1]!)].join('')}:`;
        i += modifier[0].length - 1;
        continue;
      }
      refuse(pattern, `the group syntax ${JSON.stringify(group.slice(0, 6))} is not supported (RE2 has no lookaround; inline flags only at the start or as (?flags:…))`);
    }
    out += c;
  }
  try {
    new RegExp(out, flags);
  } catch (e) {
    refuse(pattern, (e as Error).message.replace(/^Invalid regular expression: /, ''));
  }
  return { source: pattern, js: out, flags };
}

/** The tags the pattern matches (unanchored, as Go's MatchString), in their order. */
export function filterTagsByRegex(regex: TagRegex, tags: readonly string[]): string[] {
  let matched: unknown;
  try {
    matched = runInNewContext('const re = new RegExp(src, flags); tags.filter((t) => re.test(t)).join("\\n")', { src: regex.js, flags: regex.flags, tags: [...tags] }, { timeout: MATCH_TIMEOUT_MS });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new InvalidArgumentError(`the tag regular expression ${JSON.stringify(regex.source)} took longer than ${MATCH_TIMEOUT_MS} ms on ${tags.length} tags; simplify it`);
    }
    throw e;
  }
  const text = String(matched);
  return text === '' ? [] : text.split('\n');
}
