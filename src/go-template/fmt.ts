/** Go's fmt: value printing (Sprint, Sprintln, Sprintf). */

import { goMonthName, goTimeString, goWeekdayName } from './go-time';
import { bool, float, type GoValue, INVALID, sortedKeys, str, typeName, visibleFields } from './go-value';
import { canBackquote, formatFloat, goQuote, goQuoteRune, isAsciiDigit, isPrintRune, runes, utf8Encoder } from './strconv';
import { OutputLimit } from './template-error';

interface FmtFlags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  plusV: boolean;
  width: number | undefined;
  prec: number | undefined;
}

const newFlags = (): FmtFlags => ({ plus: false, minus: false, sharp: false, space: false, zero: false, plusV: false, width: undefined, prec: undefined });

/** Raised by fmt for constructs this implementation deliberately does not reproduce. */
export class FmtUnsupported extends Error {}

function writePadding(n: number, f: FmtFlags, zeroAllowed = true): string {
  if (n <= 0) return '';
  return (zeroAllowed && f.zero ? '0' : ' ').repeat(n);
}

/** fmt.pad: pads to the width counted in runes; zero padding only to the left. */
function pad(s: string, f: FmtFlags, zeroAllowed = true): string {
  if (f.width === undefined) return s;
  const n = f.width - runes(s).length;
  if (n <= 0) return s;
  if (f.minus) return s + ' '.repeat(n);
  return writePadding(n, f, zeroAllowed) + s;
}

function truncateRunes(s: string, f: FmtFlags): string {
  if (f.prec === undefined) return s;
  const r = runes(s);
  return r.length > f.prec ? String.fromCodePoint(...r.slice(0, f.prec)) : s;
}

function fmtHexString(s: string, f: FmtFlags, upper: boolean): string {
  let bytes = utf8Encoder.encode(s);
  if (f.prec !== undefined && f.prec < bytes.length) bytes = bytes.slice(0, f.prec);
  const digits = upper ? '0123456789ABCDEF' : '0123456789abcdef';
  const prefix = upper ? '0X' : '0x';
  let width = 2 * bytes.length;
  if (width === 0) return f.width !== undefined ? writePadding(f.width, f) : '';
  if (f.space) {
    if (f.sharp) width *= 2;
    width += bytes.length - 1;
  } else if (f.sharp) width += 2;
  let out = '';
  if (f.sharp) out += prefix;
  bytes.forEach((b, i) => {
    if (f.space && i > 0) {
      out += ' ';
      if (f.sharp) out += prefix;
    }
    out += digits[b >> 4] + digits[b & 15];
  });
  if (f.width !== undefined && f.width > width) {
    out = f.minus ? out + writePadding(f.width - width, f) : writePadding(f.width - width, f) + out;
  }
  return out;
}

function fmtString(s: string, verb: string, f: FmtFlags, type: string): string {
  switch (verb) {
    case 'v':
    case 's':
      return pad(truncateRunes(s, f), f);
    case 'x':
    case 'X':
      return fmtHexString(s, f, verb === 'X');
    case 'q': {
      const t = truncateRunes(s, f);
      if (f.sharp && canBackquote(t)) return pad(`\`${t}\``, f);
      return pad(goQuote(t, f.plus), f);
    }
  }
  return badVerb(verb, str(s, type), f);
}

function fmtBool(b: boolean, verb: string, f: FmtFlags): string {
  if (verb === 't' || verb === 'v') return pad(b ? 'true' : 'false', f);
  return badVerb(verb, bool(b), f);
}

function fmtIntegerDigits(v: bigint, unsigned: boolean, base: number, verb: string, upper: boolean, f: FmtFlags): string {
  const negative = !unsigned && v < 0n;
  const u = negative ? -v : v;
  let minDigits = 0;
  if (f.prec !== undefined) {
    minDigits = f.prec;
    if (minDigits === 0 && u === 0n) return f.width !== undefined ? ' '.repeat(f.width) : '';
  } else if (f.zero && !f.minus && f.width !== undefined) {
    minDigits = f.width;
    if (negative || f.plus || f.space) minDigits--;
  }
  let digits = u.toString(base);
  if (upper) digits = digits.toUpperCase();
  if (digits.length < minDigits) digits = '0'.repeat(minDigits - digits.length) + digits;
  if (f.sharp) {
    if (base === 2) digits = `0b${digits}`;
    else if (base === 8 && digits[0] !== '0') digits = `0${digits}`;
    else if (base === 16) digits = (upper ? '0X' : '0x') + digits;
  }
  if (verb === 'O') digits = `0o${digits}`;
  const sign = negative ? '-' : f.plus ? '+' : f.space ? ' ' : '';
  return pad(sign + digits, f, false);
}

function fmtInteger(v: Extract<GoValue, { kind: 'int' }>, verb: string, f: FmtFlags): string {
  const unsigned = v.type.startsWith('uint');
  switch (verb) {
    case 'v':
    case 'd':
      return fmtIntegerDigits(v.value, unsigned, 10, verb, false, f);
    case 'b':
      return fmtIntegerDigits(v.value, unsigned, 2, verb, false, f);
    case 'o':
    case 'O':
      return fmtIntegerDigits(v.value, unsigned, 8, verb, false, f);
    case 'x':
      return fmtIntegerDigits(v.value, unsigned, 16, verb, false, f);
    case 'X':
      return fmtIntegerDigits(v.value, unsigned, 16, verb, true, f);
    case 'c':
      return pad(String.fromCodePoint(validRune(v.value)), f);
    case 'q':
      return pad(goQuoteRune(validRune(v.value), f.plus), f);
    case 'U': {
      const u = v.value < 0n ? v.value + (1n << 64n) : v.value;
      let hex = u.toString(16).toUpperCase();
      const prec = f.prec !== undefined && f.prec > 4 ? f.prec : 4;
      if (hex.length < prec) hex = '0'.repeat(prec - hex.length) + hex;
      let out = `U+${hex}`;
      if (f.sharp && u <= 0x10ffffn && isPrintRune(Number(u))) out += ` '${String.fromCodePoint(Number(u))}'`;
      return pad(out, f, false);
    }
  }
  return badVerb(verb, v, f);
}

function validRune(v: bigint): number {
  if (v < 0n || v > 0x10ffffn) return 0xfffd;
  const n = Number(v);
  return n >= 0xd800 && n <= 0xdfff ? 0xfffd : n;
}

function fmtFloat(x: number, verb: string, f: FmtFlags): string {
  let conv: string;
  let prec: number;
  switch (verb) {
    case 'v':
      [conv, prec] = ['g', -1];
      break;
    case 'g':
    case 'G':
      [conv, prec] = [verb, -1];
      break;
    case 'e':
    case 'E':
    case 'f':
      [conv, prec] = [verb, 6];
      break;
    case 'F':
      [conv, prec] = ['f', 6];
      break;
    case 'b':
    case 'x':
    case 'X':
      throw new FmtUnsupported(`%${verb} of a floating-point value`);
    default:
      return badVerb(verb, float(x), f);
  }
  if (f.prec !== undefined) prec = f.prec;
  if (f.sharp) throw new FmtUnsupported(`%#${verb} of a floating-point value`);
  let num = formatFloat(x, conv, prec);
  if (num[0] !== '-' && num[0] !== '+') num = `+${num}`;
  if (f.space && num[0] === '+' && !f.plus) num = ` ${num.slice(1)}`;
  if (num[1] === 'I' || num[1] === 'N') {
    if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
    return pad(num, f, false);
  }
  if (f.plus || num[0] !== '+') {
    if (f.zero && !f.minus && f.width !== undefined && f.width > num.length) {
      return num[0] + '0'.repeat(f.width - num.length) + num.slice(1);
    }
    return pad(num, f);
  }
  return pad(num.slice(1), f);
}

function badVerb(verb: string, v: GoValue, f: FmtFlags): string {
  if (v.kind === 'invalid' || v.kind === 'nil') return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeName(v)}=${printValue(v, 'v', f, 0)})`;
}

/** %#v of one operand (fmt's sharpV): a nil operand or nil *time.Time prints <nil>. */
function goSyntaxArg(v: GoValue, f: FmtFlags): string {
  if (v.kind === 'invalid' || v.kind === 'nil' || (v.kind === 'time' && v.time === null)) return pad('<nil>', f);
  return goSyntax(v, f, 0);
}

/**
 * %#v: Go-syntax representation (quoted strings, typed composite literals, `T(nil)` for nil
 * slices and maps). Time values other than a nil *time.Time are refused (FmtUnsupported): their
 * GoString names the time's Location, which an offset of zero leaves ambiguous here.
 */
function goSyntax(v: GoValue, f: FmtFlags, depth: number): string {
  switch (v.kind) {
    case 'invalid':
      return depth === 0 ? '<invalid reflect.Value>' : '<nil>';
    case 'nil':
      return 'interface {}(nil)';
    case 'bool':
      return pad(v.value ? 'true' : 'false', f);
    case 'int':
      if (v.type.startsWith('uint')) return fmtIntegerDigits(v.value, true, 16, 'x', false, { ...f, sharp: true });
      return fmtIntegerDigits(v.value, false, 10, 'v', false, f);
    case 'float':
      return fmtFloat(v.value, 'v', f);
    case 'string':
      return pad(goQuote(truncateRunes(v.value, f), f.plus), f);
    case 'time':
      // *time.Time is a fmt.GoStringer: fmt catches the nil pointer's panic and prints <nil>.
      if (v.time === null) return pad('<nil>', f);
      throw new FmtUnsupported('%#v of a time value');
    case 'slice':
      return v.items === null ? `${v.type}(nil)` : `${v.type}{${v.items.map((item) => goSyntax(item, f, depth + 1)).join(', ')}}`;
    case 'map':
      if (v.entries === null) return `${v.type}(nil)`;
      return `${v.type}{${sortedKeys(v.entries)
        .map((k) => `${goSyntax(str(k), f, depth + 1)}:${goSyntax(v.entries?.get(k) ?? INVALID, f, depth + 1)}`)
        .join(', ')}}`;
    case 'struct':
      return `${v.type}{${visibleFields(v)
        .map(([name, value]) => `${name}:${goSyntax(value, f, depth + 1)}`)
        .join(', ')}}`;
  }
}

/** fmt's printArg: formats one operand with a verb. */
function printArg(v: GoValue, verb: string, f: FmtFlags): string {
  if (v.kind === 'invalid' || v.kind === 'nil') return verb === 'T' || verb === 'v' ? pad('<nil>', f) : badVerb(verb, v, f);
  if (verb === 'T') return pad(truncateRunes(typeName(v), f), f);
  if (verb === 'p') throw new FmtUnsupported('%p');
  return printValue(v, verb, f, 0);
}

function printValue(v: GoValue, verb: string, f: FmtFlags, depth: number): string {
  switch (v.kind) {
    case 'invalid':
      return depth === 0 ? '<invalid reflect.Value>' : verb === 'v' ? '<nil>' : badVerb(verb, v, f);
    case 'nil':
      return '<nil>';
    case 'bool':
      return fmtBool(v.value, verb, f);
    case 'int':
      // time.Month and time.Weekday are fmt.Stringers.
      if ((v.type === 'time.Month' || v.type === 'time.Weekday') && 'vsxXq'.includes(verb)) {
        return fmtString(v.type === 'time.Month' ? goMonthName(Number(v.value)) : goWeekdayName(Number(v.value)), verb, f, 'string');
      }
      return fmtInteger(v, verb, f);
    case 'float':
      return fmtFloat(v.value, verb, f);
    case 'string':
      return fmtString(v.value, verb, f, v.type);
    case 'time':
      // *time.Time is a fmt.Stringer; a nil pointer prints <nil> for the Stringer verbs.
      if ('vsxXq'.includes(verb)) return v.time === null ? pad('<nil>', f) : fmtString(goTimeString(v.time), verb, f, 'string');
      throw new FmtUnsupported(`%${verb} of a time value`);
    case 'slice':
      return `[${(v.items ?? []).map((item) => printValue(item, verb, f, depth + 1)).join(' ')}]`;
    case 'map':
      return `map[${sortedKeys(v.entries)
        .map((k) => `${printValue(str(k), verb, f, depth + 1)}:${printValue(v.entries?.get(k) ?? INVALID, verb, f, depth + 1)}`)
        .join(' ')}]`;
    case 'struct':
      return `{${visibleFields(v)
        .map(([name, value]) => (f.plusV ? `${name}:` : '') + printValue(value, verb, f, depth + 1))
        .join(' ')}}`;
  }
}

/** fmt.Sprint */
export function sprint(args: readonly GoValue[]): string {
  let out = '';
  let prevString = false;
  args.forEach((a, i) => {
    const isString = a.kind === 'string';
    if (i > 0 && !isString && !prevString) out += ' ';
    out += printArg(a, 'v', newFlags());
    prevString = isString;
  });
  return out;
}

/** fmt.Sprintln */
export function sprintln(args: readonly GoValue[]): string {
  return `${args.map((a) => printArg(a, 'v', newFlags())).join(' ')}\n`;
}

/** The %v rendering used in error messages. */
export function fmtV(v: GoValue): string {
  return printArg(v, 'v', newFlags());
}

function parseNum(s: string, i: number, end: number): { num: number; ok: boolean; next: number } {
  if (i >= end || !isAsciiDigit(s[i])) return { num: 0, ok: false, next: i };
  let num = 0;
  for (; i < end && isAsciiDigit(s[i]); i++) {
    if (num > 1e6) return { num: 0, ok: false, next: end };
    num = num * 10 + (s.charCodeAt(i) - 48);
  }
  return { num, ok: true, next: i };
}

/** fmt.Sprintf */
export function sprintf(format: string, args: readonly GoValue[], limit: number): string {
  let out = '';
  let argNum = 0;
  let reordered = false;
  const end = format.length;
  let i = 0;

  const argNumber = (start: number): { found: boolean; ok: boolean; next: number } => {
    if (start >= end || format[start] !== '[') return { found: false, ok: true, next: start };
    reordered = true;
    const close = format.indexOf(']', start + 1);
    if (close < 0) return { found: false, ok: false, next: start + 1 };
    const p = parseNum(format, start + 1, close);
    if (!p.ok || p.next !== close) return { found: false, ok: false, next: close + 1 };
    const index = p.num - 1;
    if (index >= 0 && index < args.length) {
      argNum = index;
      return { found: true, ok: true, next: close + 1 };
    }
    return { found: false, ok: false, next: close + 1 };
  };

  const intFromArg = (): { n: number; isInt: boolean } => {
    if (argNum >= args.length) return { n: 0, isInt: false };
    const a = args[argNum++];
    if (a.kind !== 'int') return { n: 0, isInt: false };
    const n = Number(a.value);
    return Math.abs(n) > 1e6 ? { n: 0, isInt: false } : { n, isInt: true };
  };

  while (i < end) {
    let goodArgNum = true;
    const last = i;
    while (i < end && format[i] !== '%') i++;
    if (i > last) out += format.slice(last, i);
    if (i >= end) break;
    i++;
    const f = newFlags();
    for (; i < end; i++) {
      const c = format[i];
      if (c === '#') f.sharp = true;
      else if (c === '0') f.zero = !f.minus;
      else if (c === '+') f.plus = true;
      else if (c === '-') {
        f.minus = true;
        f.zero = false;
      } else if (c === ' ') f.space = true;
      else break;
    }
    let a = argNumber(i);
    i = a.next;
    goodArgNum &&= a.ok;
    let afterIndex = a.found;
    if (i < end && format[i] === '*') {
      i++;
      const w = intFromArg();
      if (!w.isInt) out += '%!(BADWIDTH)';
      else {
        f.width = Math.abs(w.n);
        if (w.n < 0) {
          f.minus = true;
          f.zero = false;
        }
      }
      afterIndex = false;
    } else {
      const p = parseNum(format, i, end);
      if (p.ok) {
        f.width = p.num;
        if (afterIndex) goodArgNum = false;
      }
      i = p.next;
    }
    if (i + 1 <= end && format[i] === '.') {
      i++;
      if (afterIndex) goodArgNum = false;
      a = argNumber(i);
      i = a.next;
      goodArgNum &&= a.ok;
      afterIndex = a.found;
      if (i < end && format[i] === '*') {
        i++;
        const p = intFromArg();
        if (!p.isInt) out += '%!(BADPREC)';
        else if (p.n >= 0) f.prec = p.n;
        afterIndex = false;
      } else {
        const p = parseNum(format, i, end);
        f.prec = p.ok ? p.num : 0;
        i = p.next;
      }
    }
    if (!afterIndex) {
      a = argNumber(i);
      i = a.next;
      goodArgNum &&= a.ok;
    }
    if (i >= end) {
      out += '%!(NOVERB)';
      break;
    }
    const cp = format.codePointAt(i) ?? 0;
    const verb = String.fromCodePoint(cp);
    i += verb.length;
    if ((f.width ?? 0) > limit || (f.prec ?? 0) > limit) throw new OutputLimit();
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (!goodArgNum) {
      out += `%!${verb}(BADINDEX)`;
      continue;
    }
    if (argNum >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    if (verb === 'v') {
      if (f.sharp) {
        f.sharp = false;
        out += goSyntaxArg(args[argNum], f);
        argNum++;
        if (out.length > limit) throw new OutputLimit();
        continue;
      }
      f.plusV = f.plus;
      f.plus = false;
    }
    out += verb === 'w' ? badVerb(verb, args[argNum], f) : printArg(args[argNum], verb, f);
    argNum++;
    if (out.length > limit) throw new OutputLimit();
  }
  if (!reordered && argNum < args.length) {
    const extra = args.slice(argNum).map((a) => (a.kind === 'invalid' || a.kind === 'nil' ? '<nil>' : `${typeName(a)}=${printArg(a, 'v', newFlags())}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}
