/**
 * `images-by-semver` constraints with the semantics of github.com/Masterminds/semver/v3, which
 * skopeo uses (NewConstraint / NewVersion / Constraints.Check), so the same YAML selects the
 * same tags:
 *
 * - versions: `v?MAJOR[.MINOR[.PATCH]][-PRERELEASE][+METADATA]` (`1.2` is 1.2.0, no leading
 *   zeros); a tag that does not parse is not selected;
 * - constraints: `||` between alternatives, `,` or spaces between conjuncts, operators
 *   `= != > < >= => <= =< ~ ~> ^` (none = `=`), wildcards `x X *`, hyphen ranges `1.2 - 1.4.5`;
 * - a prerelease version only matches a conjunct whose own version has a prerelease.
 *
 * Masterminds parses with Go regular expressions (RE2: leftmost-first, linear time). The same
 * expressions run here on RE2JS, a port of Go's regexp, so parsing is as linear as in Go and
 * picks the same submatches; JavaScript's backtracking engine took exponential time on some
 * 50-character constraints.
 */
import { RE2JS } from 're2js';

export interface SemverVersion {
  major: number;
  minor: number;
  patch: number;
  /** The prerelease without its `-`, or ''. */
  pre: string;
  original: string;
}

interface Conjunct {
  op: string;
  con: SemverVersion;
  orig: string;
  dirty: boolean;
  minorDirty: boolean;
  patchDirty: boolean;
}

export interface SemverConstraint {
  readonly source: string;
  readonly alternatives: readonly (readonly Conjunct[])[];
}

const NUM = '(0|[1-9]\\d*)';
const PRE_ID = '(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)';
const VERSION_RE = RE2JS.compile(`^v?${NUM}(?:\\.${NUM})?(?:\\.${NUM})?(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$`);

const CV = 'v?([0-9|x|X|\\*]+)(\\.[0-9|x|X|\\*]+)?(\\.[0-9|x|X|\\*]+)?(-([0-9A-Za-z\\-]+(\\.[0-9A-Za-z\\-]+)*))?(\\+([0-9A-Za-z\\-]+(\\.[0-9A-Za-z\\-]+)*))?';
const OPS = '=||!=|>|<|>=|=>|<=|=<|~|~>|\\^';
const CONSTRAINT_RE = RE2JS.compile(`^\\s*(${OPS})\\s*(${CV})\\s*$`);
const RANGE_RE = RE2JS.compile(`\\s*(${CV})\\s+-\\s+(${CV})\\s*`);
const FIND_RE = RE2JS.compile(`(${OPS})\\s*(${CV})`);
const VALID_RE = RE2JS.compile(`^(\\s*(${OPS})\\s*(${CV})\\s*)((?:\\s+|,\\s*)(${OPS})\\s*(${CV})\\s*)*$`);
const CONSTRAINT_MAX = 1024;

/** Go's FindAllStringSubmatch: every leftmost-first match, groups that did not take part as ''. */
function findAll(re: RE2JS, s: string): string[][] {
  const m = re.matcher(s);
  const out: string[][] = [];
  while (m.find()) {
    const groups: string[] = [];
    for (let g = 0; g <= m.groupCount(); g++) groups.push(m.group(g) ?? '');
    out.push(groups);
  }
  return out;
}

/** Go's FindStringSubmatch; undefined without a match. */
function find(re: RE2JS, s: string): string[] | undefined {
  return findAll(re, s)[0];
}

/** Masterminds NewVersion; undefined when `s` is not a version. */
export function parseSemverVersion(s: string): SemverVersion | undefined {
  if (s.length > 256) return undefined;
  const m = find(VERSION_RE, s);
  if (!m) return undefined;
  const n = (x: string | undefined) => (x === undefined ? 0 : Number(x));
  const v = { major: n(m[1]), minor: n(m[2]), patch: n(m[3]), pre: m[4] ?? '', original: s };
  if (![v.major, v.minor, v.patch].every(Number.isSafeInteger)) return undefined;
  return v;
}

function comparePrerelease(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return BigInt(x) < BigInt(y) ? -1 : 1;
    if (xn) return -1;
    if (yn) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** Masterminds Version.Compare (metadata ignored). */
export function compareSemver(a: SemverVersion, b: SemverVersion): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  return comparePrerelease(a.pre, b.pre);
}

const isX = (s: string | undefined) => s === 'x' || s === 'X' || s === '*';

function parseConjunct(text: string): Conjunct {
  const m = find(CONSTRAINT_RE, text);
  if (!m) throw new Error(`improper constraint: ${text}`);
  const [, op = '', orig = '', major = '', minorPart = '', patchPart = '', prePart = ''] = m;
  let ver = orig;
  let dirty = false;
  let minorDirty = false;
  let patchDirty = false;
  if (isX(major) || major === '') {
    ver = `0.0.0${prePart}`;
    dirty = true;
  } else if (isX(minorPart.replace(/^\./, '')) || minorPart === '') {
    minorDirty = dirty = true;
    ver = `${major}.0.0${prePart}`;
  } else if (isX(patchPart.replace(/^\./, '')) || patchPart === '') {
    patchDirty = dirty = true;
    ver = `${major}${minorPart}.0${prePart}`;
  }
  const con = parseSemverVersion(ver);
  if (!con) throw new Error(`improper constraint: ${text}`);
  return { op, con, orig, dirty, minorDirty, patchDirty };
}

/** Masterminds NewConstraint; throws with its message when the text is not a constraint. */
export function parseSemverConstraint(text: string): SemverConstraint {
  if (text.length > CONSTRAINT_MAX) throw new Error(`constraint longer than ${CONSTRAINT_MAX} characters`);
  // rewriteRange: each `A - B` becomes `>= A, <= B ` (first occurrence of the matched text, as strings.Replace).
  let rewritten = text;
  for (const m of findAll(RANGE_RE, text)) rewritten = rewritten.replace(m[0]!, () => `>= ${m[1]}, <= ${m[11]} `);
  const alternatives = rewritten.split('||').map((alt) => {
    if (find(VALID_RE, alt) === undefined) throw new Error(`improper constraint: ${alt.trim() || text}`);
    const found = findAll(FIND_RE, alt).map((m) => m[0]!);
    return (found.length > 0 ? found : [alt]).map(parseConjunct);
  });
  return { source: text, alternatives };
}

function check(v: SemverVersion, c: Conjunct): boolean {
  if (v.pre !== '' && c.con.pre === '') return false;
  const cmp = compareSemver(v, c.con);
  switch (c.op) {
    case '':
    case '=':
      return c.dirty ? tilde(v, c, cmp) : cmp === 0;
    case '!=':
      return notEqual(v, c);
    case '>':
      if (!c.dirty) return cmp > 0;
      if (v.major !== c.con.major) return v.major > c.con.major;
      if (c.minorDirty) return false;
      if (c.patchDirty) return v.minor > c.con.minor;
      return cmp > 0;
    case '<':
      return cmp < 0;
    case '>=':
    case '=>':
      return cmp >= 0;
    case '<=':
    case '=<':
      if (!c.dirty) return cmp <= 0;
      if (v.major > c.con.major) return false;
      return !(v.major === c.con.major && v.minor > c.con.minor && !c.minorDirty);
    case '~':
    case '~>':
      return tilde(v, c, cmp);
    case '^':
      return caret(v, c, cmp);
    default:
      return false;
  }
}

function notEqual(v: SemverVersion, c: Conjunct): boolean {
  if (c.dirty) {
    if (c.con.major !== v.major) return true;
    if (c.con.minor !== v.minor && !c.minorDirty) return true;
    if (c.minorDirty) return false;
    if (c.con.patch !== v.patch && !c.patchDirty) return true;
    if (c.patchDirty) {
      if (v.pre !== '' || c.con.pre !== '') return comparePrerelease(v.pre, c.con.pre) !== 0;
      return false;
    }
  }
  return compareSemver(v, c.con) !== 0;
}

function tilde(v: SemverVersion, c: Conjunct, cmp: number): boolean {
  if (cmp < 0) return false;
  if (c.con.major === 0 && c.con.minor === 0 && c.con.patch === 0 && !c.minorDirty && !c.patchDirty) return true;
  if (v.major !== c.con.major) return false;
  return !(v.minor !== c.con.minor && !c.minorDirty);
}

function caret(v: SemverVersion, c: Conjunct, cmp: number): boolean {
  if (cmp < 0) return false;
  if (c.con.major > 0 || c.minorDirty) return v.major === c.con.major;
  if (v.major > 0) return false;
  if (c.con.minor > 0 || c.patchDirty) return v.minor === c.con.minor;
  if (v.minor > 0) return false;
  return v.patch === c.con.patch;
}

/** Constraints.Check for a tag; false when the tag is not a version. */
export function semverMatches(constraint: SemverConstraint, tag: string): boolean {
  const v = parseSemverVersion(tag);
  if (!v) return false;
  return constraint.alternatives.some((all) => all.every((c) => check(v, c)));
}
