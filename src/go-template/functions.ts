/** The template functions: Go's builtins and containers/common report's, plus the methods of the known Go types. */

import { fmtV, sprint, sprintf, sprintln } from './fmt';
import { bool, compareStrings, type GoValue, int, INVALID, str, truth, typeName, utf8Length } from './go-value';
import { jsonEncode, JsonUnsupported } from './json-encode';
import { isPrintRune, lenientUtf8, runes, utf8Encoder } from './strconv';
import { goCivil, type GoTime, goTimeFormat, goTimeString, goTimeUtc, goUnixSeconds } from './go-time';
import { OutputLimit } from './template-error';

/** How an argument is converted for a parameter (Go parameter types of the template funcs). */
export type ParamType = 'value' | 'any' | 'string' | 'int' | '[]string';

/** An error returned by a template function; reported as "error calling NAME: ...". */
export class FuncError extends Error {}

interface FuncSpec {
  readonly params: readonly ParamType[];
  readonly variadic?: ParamType;
  readonly call: (args: GoValue[], limit: number) => GoValue;
}

export function indirectInterface(v: GoValue): GoValue {
  return v.kind === 'nil' ? INVALID : v;
}

type BasicKind = 'bool' | 'int' | 'uint' | 'float' | 'string' | 'none';

function basicKind(v: GoValue): BasicKind {
  switch (v.kind) {
    case 'bool':
      return 'bool';
    case 'int':
      return v.type.startsWith('uint') ? 'uint' : 'int';
    case 'float':
      return 'float';
    case 'string':
      return 'string';
    default:
      return 'none';
  }
}

const ERR_BAD_TYPE = 'invalid type for comparison';
const ERR_BAD_COMPARISON = 'incompatible types for comparison';

function isNilValue(v: GoValue): boolean {
  switch (v.kind) {
    case 'invalid':
    case 'nil':
      return true;
    case 'slice':
      return v.items === null;
    case 'map':
      return v.entries === null;
    case 'time':
      return v.time === null;
    default:
      return false;
  }
}

function isComparable(v: GoValue): boolean {
  if (v.kind === 'slice' || v.kind === 'map') return false;
  if (v.kind === 'struct') return [...v.fields.values()].every(isComparable);
  return true;
}

function reflectKind(v: GoValue): string {
  return v.kind === 'time' ? 'pointer' : v.kind;
}

function sameValue(a: GoValue, b: GoValue): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'invalid':
    case 'nil':
      return true;
    case 'time':
      return b.kind === 'time' && a.time === b.time;
    case 'struct': {
      if (b.kind !== 'struct' || a.type !== b.type || a.fields.size !== b.fields.size) return false;
      for (const [name, value] of a.fields) {
        const other = b.fields.get(name);
        if (other === undefined || !sameValue(value, other)) return false;
      }
      return true;
    }
    case 'string':
    case 'int':
    case 'float':
    case 'bool':
      return 'value' in b && a.value === b.value;
    default:
      return false;
  }
}

function goEq(arg1: GoValue, rest: readonly GoValue[]): boolean {
  arg1 = indirectInterface(arg1);
  if (rest.length === 0) throw new FuncError('missing argument for comparison');
  const k1 = basicKind(arg1);
  for (let arg of rest) {
    arg = indirectInterface(arg);
    const k2 = basicKind(arg);
    let equal = false;
    if (k1 !== k2) {
      if ((k1 === 'int' || k1 === 'uint') && (k2 === 'int' || k2 === 'uint')) {
        equal = arg1.kind === 'int' && arg.kind === 'int' && arg1.value === arg.value;
      } else if (arg1.kind !== 'invalid' && arg.kind !== 'invalid') {
        throw new FuncError(ERR_BAD_COMPARISON);
      }
    } else if (k1 !== 'none') {
      equal = sameValue(arg1, arg);
    } else {
      const kinds = [reflectKind(arg1), reflectKind(arg)];
      if (kinds[0] !== kinds[1] && !kinds.includes('invalid')) {
        throw new FuncError(`non-comparable types ${fmtV(arg1)}: ${typeName(arg1)}, ${typeName(arg)}: ${fmtV(arg)}`);
      }
      if (isNilValue(arg1) || isNilValue(arg)) equal = isNilValue(arg1) === isNilValue(arg);
      else if (!isComparable(arg)) throw new FuncError(`non-comparable type ${fmtV(arg)}: ${typeName(arg)}`);
      else equal = sameValue(arg1, arg);
    }
    if (equal) return true;
  }
  return false;
}

function goLt(arg1: GoValue, arg2: GoValue): boolean {
  arg1 = indirectInterface(arg1);
  arg2 = indirectInterface(arg2);
  const k1 = basicKind(arg1);
  const k2 = basicKind(arg2);
  if (k1 === 'none' || k2 === 'none') throw new FuncError(ERR_BAD_TYPE);
  if (k1 !== k2) {
    if ((k1 === 'int' || k1 === 'uint') && (k2 === 'int' || k2 === 'uint') && arg1.kind === 'int' && arg2.kind === 'int') {
      return arg1.value < arg2.value;
    }
    throw new FuncError(ERR_BAD_COMPARISON);
  }
  if (arg1.kind === 'bool') throw new FuncError(ERR_BAD_TYPE);
  if (arg1.kind === 'string' && arg2.kind === 'string') return compareStrings(arg1.value, arg2.value) < 0;
  if (arg1.kind === 'int' && arg2.kind === 'int') return arg1.value < arg2.value;
  if (arg1.kind === 'float' && arg2.kind === 'float') return arg1.value < arg2.value;
  throw new FuncError(ERR_BAD_TYPE);
}

function goLe(a: GoValue, b: GoValue): boolean {
  return goLt(a, b) || goEq(a, [b]);
}

function goLen(v: GoValue): GoValue {
  switch (v.kind) {
    case 'invalid':
      throw new FuncError('reflect: call of reflect.Value.Type on zero Value');
    case 'nil':
      throw new FuncError('len of nil pointer');
    case 'string':
      return int(utf8Length(v.value));
    case 'slice':
      return int(v.items?.length ?? 0);
    case 'map':
      return int(v.entries?.size ?? 0);
    case 'time':
      throw new FuncError(v.time === null ? 'len of nil pointer' : 'len of type time.Time');
    default:
      throw new FuncError(`len of type ${v.type}`);
  }
}

function goIndex(item: GoValue, indexes: readonly GoValue[]): GoValue {
  item = indirectInterface(item);
  if (item.kind === 'invalid') throw new FuncError('index of untyped nil');
  for (let index of indexes) {
    index = indirectInterface(index);
    switch (item.kind) {
      case 'slice':
      case 'string': {
        const length: number = item.kind === 'slice' ? (item.items?.length ?? 0) : utf8Length(item.value);
        if (index.kind === 'invalid') throw new FuncError('cannot index slice/array with nil');
        if (index.kind !== 'int') throw new FuncError(`cannot index slice/array with type ${typeName(index)}`);
        const x = index.value;
        if (x < 0n || x > BigInt(length)) throw new FuncError(`index out of range: ${x}`);
        if (x === BigInt(length)) throw new FuncError(`reflect: ${item.kind} index out of range`);
        item = item.kind === 'slice' ? (item.items ?? [])[Number(x)] : int(utf8Encoder.encode(item.value)[Number(x)], 'uint8');
        break;
      }
      case 'map': {
        if (index.kind === 'invalid') throw new FuncError('value is nil; should be of type string');
        if (index.kind !== 'string' || index.type !== 'string') throw new FuncError(`value has type ${typeName(index)}; should be string`);
        item = item.entries?.get(index.value) ?? item.elemZero;
        break;
      }
      case 'time':
        throw new FuncError(item.time === null ? 'index of nil pointer' : "can't index item of type time.Time");
      default:
        throw new FuncError(`can't index item of type ${typeName(item)}`);
    }
  }
  return item;
}

function stringArg(v: GoValue): string {
  return v.kind === 'string' ? v.value : '';
}

function intArg(v: GoValue): bigint {
  return v.kind === 'int' ? v.value : 0n;
}

/** unicode.ToUpper/ToLower applied per rune: simple (one-to-one) case mappings only. */
function mapCase(s: string, upper: boolean): string {
  let out = '';
  for (const cp of runes(s)) {
    const ch = String.fromCodePoint(cp);
    if (!upper && cp === 0x130) {
      out += 'i';
      continue;
    }
    const mapped = upper ? ch.toUpperCase() : ch.toLowerCase();
    out += [...mapped].length === 1 ? mapped : ch;
  }
  return out;
}

const TITLE_CASE: ReadonlyMap<number, number> = new Map([
  [0x1c4, 0x1c5],
  [0x1c5, 0x1c5],
  [0x1c6, 0x1c5],
  [0x1c7, 0x1c8],
  [0x1c8, 0x1c8],
  [0x1c9, 0x1c8],
  [0x1ca, 0x1cb],
  [0x1cb, 0x1cb],
  [0x1cc, 0x1cb],
  [0x1f1, 0x1f2],
  [0x1f2, 0x1f2],
  [0x1f3, 0x1f2],
]);
const LETTER_OR_DIGIT_RE = /^[\p{L}\p{Nd}]$/u;
const WHITE_SPACE_RE = /^\p{White_Space}$/u;

/** text/template's evalArgs: the one plain string argument itself, else fmt.Sprint of them all. */
function escaperInput(args: readonly GoValue[]): string {
  const only = args[0];
  if (args.length === 1 && only?.kind === 'string' && only.type === 'string') return only.value;
  return sprint(args);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '\0': '\uFFFD', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** template.HTMLEscapeString */
function htmlEscape(s: string): string {
  return s.replace(/[\0"'&<>]/g, (c) => HTML_ESCAPES[c] ?? c);
}

const JS_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', '=': '\\u003D' };

/** template.JSEscapeString: quotes, backslash, <>&= and control characters escaped; non-printable runes as \uXXXX. */
function jsEscape(s: string): string {
  let out = '';
  for (const cp of runes(s)) {
    const ch = String.fromCodePoint(cp);
    if (cp < 0x80) {
      const named = JS_ESCAPES[ch];
      if (named !== undefined) out += named;
      else if (cp < 0x20) out += `\\u00${cp.toString(16).toUpperCase().padStart(2, '0')}`;
      else out += ch;
    } else out += isPrintRune(cp) ? ch : `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return out;
}

/** url.QueryEscape: unreserved bytes kept, space as '+', every other UTF-8 byte as %XX. */
function queryEscape(s: string): string {
  let out = '';
  for (const b of utf8Encoder.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** text/template's slice: item[i:j] (strings by bytes) or item[i:j:k] (slices only). */
function goSlice(item: GoValue, indexes: readonly GoValue[]): GoValue {
  item = indirectInterface(item);
  if (item.kind === 'invalid') throw new FuncError('slice of untyped nil');
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`);
  let length: number;
  if (item.kind === 'string') {
    if (indexes.length === 3) throw new FuncError('cannot 3-index slice a string');
    length = utf8Length(item.value);
  } else if (item.kind === 'slice') {
    length = item.items?.length ?? 0;
  } else if (item.kind === 'time') {
    throw new FuncError(item.time === null ? "can't slice item of type *time.Time" : "can't slice item of type time.Time");
  } else {
    throw new FuncError(`can't slice item of type ${typeName(item)}`);
  }
  const idx = [0, length, length];
  indexes.forEach((raw, i) => {
    const index = indirectInterface(raw);
    if (index.kind === 'invalid') throw new FuncError('cannot index slice/array with nil');
    if (index.kind !== 'int') throw new FuncError(`cannot index slice/array with type ${typeName(index)}`);
    if (index.value < 0n || index.value > BigInt(length)) throw new FuncError(`index out of range: ${index.value}`);
    idx[i] = Number(index.value);
  });
  const [i, j, k] = idx as [number, number, number];
  if (i > j) throw new FuncError(`invalid slice index: ${i} > ${j}`);
  if (indexes.length === 3 && j > k) throw new FuncError(`invalid slice index: ${j} > ${k}`);
  if (item.kind === 'string') return str(lenientUtf8.decode(utf8Encoder.encode(item.value).slice(i, j)), item.type);
  return { kind: 'slice', type: item.type, items: item.items === null ? null : item.items.slice(i, j) };
}

/** text/template's call: templates here hold no function values, so every call fails as Go's does for a non-function. */
function goCall(fn: GoValue): never {
  fn = indirectInterface(fn);
  if (fn.kind === 'invalid') throw new FuncError('call of nil');
  throw new FuncError(`non-function of type ${fn.kind === 'time' ? (fn.time === null ? '*time.Time' : 'time.Time') : typeName(fn)}`);
}

/** strings.Title */
function goTitle(s: string): string {
  const isSeparator = (cp: number): boolean => {
    if (cp <= 0x7f) return !/[0-9a-zA-Z_]/.test(String.fromCharCode(cp));
    const ch = String.fromCodePoint(cp);
    if (LETTER_OR_DIGIT_RE.test(ch)) return false;
    return WHITE_SPACE_RE.test(ch);
  };
  let prev = 0x20;
  let out = '';
  for (const cp of runes(s)) {
    const ch = String.fromCodePoint(cp);
    out += isSeparator(prev) ? (TITLE_CASE.has(cp) ? String.fromCodePoint(TITLE_CASE.get(cp) ?? cp) : mapCase(ch, true)) : ch;
    prev = cp;
  }
  return out;
}

export const FUNCS: ReadonlyMap<string, FuncSpec> = new Map<string, FuncSpec>([
  // and/or are evaluated lazily by the executor; `call` is never used for them.
  ['and', { params: ['value'], variadic: 'value', call: () => INVALID }],
  ['or', { params: ['value'], variadic: 'value', call: () => INVALID }],
  ['not', { params: ['value'], call: ([a]) => bool(!truth(indirectInterface(a))) }],
  ['len', { params: ['value'], call: ([a]) => goLen(a) }],
  ['index', { params: ['value'], variadic: 'value', call: ([item, ...idx]) => goIndex(item, idx) }],
  ['print', { params: [], variadic: 'any', call: (args) => str(sprint(args)) }],
  ['println', { params: [], variadic: 'any', call: (args) => str(sprintln(args)) }],
  ['printf', { params: ['string'], variadic: 'any', call: ([format, ...args], limit) => str(sprintf(stringArg(format), args, limit)) }],
  ['html', { params: [], variadic: 'any', call: (args) => str(htmlEscape(escaperInput(args))) }],
  ['js', { params: [], variadic: 'any', call: (args) => str(jsEscape(escaperInput(args))) }],
  ['urlquery', { params: [], variadic: 'any', call: (args) => str(queryEscape(escaperInput(args))) }],
  ['slice', { params: ['value'], variadic: 'value', call: ([item, ...idx]) => goSlice(item, idx) }],
  ['call', { params: ['value'], variadic: 'value', call: ([fn]) => goCall(fn) }],
  ['eq', { params: ['value'], variadic: 'value', call: ([a, ...rest]) => bool(goEq(a, rest)) }],
  ['ne', { params: ['value', 'value'], call: ([a, b]) => bool(!goEq(a, [b])) }],
  ['lt', { params: ['value', 'value'], call: ([a, b]) => bool(goLt(a, b)) }],
  ['le', { params: ['value', 'value'], call: ([a, b]) => bool(goLe(a, b)) }],
  ['gt', { params: ['value', 'value'], call: ([a, b]) => bool(!goLe(a, b)) }],
  ['ge', { params: ['value', 'value'], call: ([a, b]) => bool(!goLt(a, b)) }],
  [
    'json',
    {
      params: ['any'],
      call: ([v]) => {
        try {
          return str(jsonEncode(v));
        } catch (e) {
          if (e instanceof JsonUnsupported) return str('');
          throw e;
        }
      },
    },
  ],
  [
    'join',
    {
      params: ['[]string', 'string'],
      call: ([list, sep]) => str((list.kind === 'slice' ? (list.items ?? []) : []).map(stringArg).join(stringArg(sep))),
    },
  ],
  ['lower', { params: ['string'], call: ([s]) => str(mapCase(stringArg(s), false)) }],
  ['upper', { params: ['string'], call: ([s]) => str(mapCase(stringArg(s), true)) }],
  ['title', { params: ['string'], call: ([s]) => str(goTitle(stringArg(s))) }],
  [
    'split',
    {
      params: ['string', 'string'],
      call: ([s, sep]) => {
        const text = stringArg(s);
        const separator = stringArg(sep);
        const parts = separator === '' ? runes(text).map((cp) => String.fromCodePoint(cp)) : text.split(separator);
        return { kind: 'slice', type: '[]string', items: parts.map((p) => str(p)) };
      },
    },
  ],
  [
    'pad',
    {
      params: ['string', 'int', 'int'],
      call: ([s, prefix, suffix], limit) => {
        const text = stringArg(s);
        if (text === '') return str('');
        const [p, q] = [intArg(prefix), intArg(suffix)];
        if (p < 0n || q < 0n) throw new FuncError('strings: negative Repeat count');
        if (p + q > BigInt(limit)) throw new OutputLimit();
        return str(' '.repeat(Number(p)) + text + ' '.repeat(Number(q)));
      },
    },
  ],
  [
    'truncate',
    {
      params: ['string', 'int'],
      call: ([s, length]) => {
        const bytes = utf8Encoder.encode(stringArg(s));
        const n = intArg(length);
        if (BigInt(bytes.length) < n) return str(stringArg(s));
        if (n < 0n) throw new FuncError(`runtime error: slice bounds out of range [:${n}]`);
        return str(lenientUtf8.decode(bytes.slice(0, Number(n))));
      },
    },
  ],
]);

/** Zero-argument methods of digest.Digest (a string type) that templates commonly call. */
export function digestMethod(d: string, name: string): GoValue | undefined {
  const colon = d.indexOf(':');
  switch (name) {
    case 'String':
      return str(d);
    case 'Algorithm':
      return str(colon < 0 ? d : d.slice(0, colon), 'digest.Algorithm');
    case 'Encoded':
    case 'Hex':
      return str(colon < 0 ? '' : d.slice(colon + 1));
  }
  return undefined;
}

/** The methods of time.Time a template may call, by their number of arguments; the others of TIME_METHODS are unsupported. */
export const TIME_METHOD_ARITY: ReadonlyMap<string, number> = new Map([
  ...['Year', 'Month', 'Day', 'Hour', 'Minute', 'Second', 'Nanosecond', 'YearDay', 'Weekday', 'Unix', 'UnixMilli', 'UnixMicro', 'UnixNano', 'IsZero', 'String', 'UTC', 'Local'].map(
    (m) => [m, 0] as const,
  ),
  ['Format', 1],
]);

const GO_ZERO_UNIX = -62135596800;

/** Calls a method of TIME_METHOD_ARITY on a time (`layout`: Format's argument). */
export function timeMethod(t: GoTime, name: string, layout: string): GoValue {
  const c = goCivil(t);
  const sec = BigInt(goUnixSeconds(t));
  switch (name) {
    case 'Year':
      return int(c.year);
    case 'Month':
      return int(c.month, 'time.Month');
    case 'Day':
      return int(c.day);
    case 'Hour':
      return int(c.hour);
    case 'Minute':
      return int(c.minute);
    case 'Second':
      return int(c.second);
    case 'Nanosecond':
      return int(t.nanos);
    case 'YearDay':
      return int(c.yearDay);
    case 'Weekday':
      return int(c.weekday, 'time.Weekday');
    case 'Unix':
      return int(sec, 'int64');
    case 'UnixMilli':
      return int(BigInt.asIntN(64, sec * 1000n + BigInt(Math.floor(t.nanos / 1e6))), 'int64');
    case 'UnixMicro':
      return int(BigInt.asIntN(64, sec * 1_000_000n + BigInt(Math.floor(t.nanos / 1e3))), 'int64');
    case 'UnixNano':
      // int64 arithmetic, as Go's: wraps for times outside 1678–2262.
      return int(BigInt.asIntN(64, sec * 1_000_000_000n + BigInt(t.nanos)), 'int64');
    case 'IsZero':
      return bool(goUnixSeconds(t) === GO_ZERO_UNIX && t.nanos === 0);
    case 'String':
      return str(goTimeString(t));
    case 'UTC':
    case 'Local':
      return { kind: 'time', type: 'time.Time', time: goTimeUtc(t) };
    case 'Format':
      return str(goTimeFormat(t, layout));
  }
  throw new FuncError(`method ${name} of time.Time is not implemented`);
}

export const TIME_METHODS: ReadonlySet<string> = new Set([
  'Add', 'AddDate', 'After', 'AppendFormat', 'Before', 'Clock', 'Compare', 'Date', 'Day', 'Equal', 'Format', 'GoString',
  'GobEncode', 'Hour', 'ISOWeek', 'In', 'IsDST', 'IsZero', 'Local', 'Location', 'MarshalBinary', 'MarshalJSON',
  'MarshalText', 'Minute', 'Month', 'Nanosecond', 'Round', 'Second', 'String', 'Sub', 'Truncate', 'UTC', 'Unix',
  'UnixMicro', 'UnixMilli', 'UnixNano', 'Weekday', 'Year', 'YearDay', 'Zone', 'ZoneBounds',
]);
