import { RE2JS, RE2JSSyntaxException } from 're2js';
import { InvalidArgumentError } from '../errors/domain-error';

/**
 * `images-by-tag-regex` patterns, with Go's semantics: skopeo compiles them with
 * regexp.Compile (RE2 syntax) and keeps the tags where MatchString is true, an unanchored
 * search. They run on RE2JS, a JavaScript port of RE2/J, itself a port of Go's regexp: the same
 * syntax (`(?i)`, `(?P<name>…)`, `[[:alpha:]]`, `\pL`, `\Q…\E`, `(?U)`, `\A`, `\z`; no
 * backreferences or lookaround), the same repeat limit (1000), and matching in time linear in
 * the tag's length, so no pattern can backtrack catastrophically.
 *
 * Linear is not free: a large pattern costs per character. Matching therefore runs in slices
 * that yield to the event loop, against a budget of match time shared by every selector of one
 * sync (a runaway set of selectors fails the sync, it never holds the service).
 */
export interface TagRegex {
  /** The pattern as written (Go syntax). */
  readonly source: string;
  readonly re: RE2JS;
}

/** Longest pattern accepted. */
export const TAG_REGEX_MAX_LENGTH = 1024;
/** Largest compiled program accepted (RE2 instructions; `(a|b|c){1000}` is about 3000). */
const MAX_PROGRAM_SIZE = 10_000;
/** Matching yields to the event loop after this long. */
const SLICE_MS = 10;
/** Default budget of match time for one sync, over all its selectors. */
export const DEFAULT_MATCH_BUDGET_MS = 10_000;

function refuse(pattern: string, why: string): never {
  const shown = pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern;
  throw new InvalidArgumentError(`invalid tag regular expression ${JSON.stringify(shown)}: ${why}`);
}

/** Compiles a Go RE2 pattern; throws INVALID_ARGUMENT for what Go's regexp.Compile refuses, or a pattern over the size limits. */
export function compileTagRegex(pattern: string): TagRegex {
  if (pattern.length > TAG_REGEX_MAX_LENGTH) refuse(pattern, `longer than ${TAG_REGEX_MAX_LENGTH} characters`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    if (e instanceof RE2JSSyntaxException) refuse(pattern, e.message.replace(/^error parsing regexp: /, ''));
    throw e;
  }
  if (re.programSize() > MAX_PROGRAM_SIZE) refuse(pattern, `the expression is too large (${re.programSize()} instructions, at most ${MAX_PROGRAM_SIZE})`);
  return { source: pattern, re };
}

/** Match time left for one sync; shared by its selectors. */
export class MatchBudget {
  private spentMs = 0;
  constructor(readonly totalMs: number = DEFAULT_MATCH_BUDGET_MS) {}

  charge(ms: number): void {
    this.spentMs += ms;
  }

  get exhausted(): boolean {
    return this.spentMs > this.totalMs;
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The tags the pattern matches (unanchored, as Go's MatchString), in their order. Yields to
 * the event loop every few milliseconds; INVALID_ARGUMENT once `budget` is spent.
 */
export async function filterTagsByRegex(regex: TagRegex, tags: readonly string[], budget: MatchBudget = new MatchBudget()): Promise<string[]> {
  const out: string[] = [];
  let i = 0;
  while (i < tags.length) {
    const started = performance.now();
    while (i < tags.length && performance.now() - started < SLICE_MS) {
      const tag = tags[i++]!;
      if (regex.re.matcher(tag).find()) out.push(tag);
    }
    budget.charge(performance.now() - started);
    if (budget.exhausted && i < tags.length) {
      throw new InvalidArgumentError(
        `matching tags against ${JSON.stringify(regex.source.length > 80 ? `${regex.source.slice(0, 80)}…` : regex.source)} used up this sync's ${budget.totalMs} ms of regular-expression matching; use fewer or simpler images-by-tag-regex patterns`,
      );
    }
    if (i < tags.length) await yieldToEventLoop();
  }
  return out;
}
