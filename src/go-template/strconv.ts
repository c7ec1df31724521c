/** Go's strconv (and unicode.IsPrint) as the interpreter needs them: literal decoding, quoting, float formatting. */

/** strconv.ErrSyntax: a malformed literal (the parser reports it with the literal's position). */
export class SyntaxErr extends Error {}

function hexValue(c: string | undefined): number {
  if (c === undefined) return -1;
  const v = parseInt(c, 16);
  return Number.isNaN(v) || !/^[0-9a-fA-F]$/.test(c) ? -1 : v;
}

/** One step of strconv.UnquoteChar: returns the decoded value, whether it is a raw byte, and the next offset. */
export function unquoteChar(s: string, i: number, quote: string): { value: number; isByte: boolean; next: number } {
  const c = s[i];
  if (c === undefined) throw new SyntaxErr();
  if (c === quote && (quote === "'" || quote === '"')) throw new SyntaxErr();
  if (c !== '\\') {
    const cp = s.codePointAt(i) ?? 0;
    return { value: cp, isByte: false, next: i + (cp > 0xffff ? 2 : 1) };
  }
  const e = s[i + 1];
  if (e === undefined) throw new SyntaxErr();
  let j = i + 2;
  const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
  if (e in simple) return { value: simple[e], isByte: false, next: j };
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
    let v = 0;
    for (let k = 0; k < n; k++) {
      const h = hexValue(s[j + k]);
      if (h < 0) throw new SyntaxErr();
      v = v * 16 + h;
    }
    j += n;
    if (e === 'x') return { value: v, isByte: true, next: j };
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new SyntaxErr();
    return { value: v, isByte: false, next: j };
  }
  if (e >= '0' && e <= '7') {
    let v = e.charCodeAt(0) - 48;
    for (let k = 0; k < 2; k++) {
      const d = s[j + k];
      if (d === undefined || d < '0' || d > '7') throw new SyntaxErr();
      v = v * 8 + (d.charCodeAt(0) - 48);
    }
    j += 2;
    if (v > 255) throw new SyntaxErr();
    return { value: v, isByte: true, next: j };
  }
  if (e === "'" || e === '"') {
    if (e !== quote) throw new SyntaxErr();
    return { value: e.charCodeAt(0), isByte: false, next: j };
  }
  throw new SyntaxErr();
}

export const utf8Encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
export const lenientUtf8 = new TextDecoder('utf-8');

/** Decodes an interpreted ("...") string literal; undefined means its bytes are not valid UTF-8. */
export function unquoteInterpreted(token: string): string | undefined {
  const body = token.slice(1, -1);
  const bytes: number[] = [];
  let sawByte = false;
  let text = '';
  for (let i = 0; i < body.length; ) {
    const r = unquoteChar(body, i, '"');
    i = r.next;
    if (r.isByte || r.value < 0x80) {
      if (r.isByte && r.value >= 0x80) sawByte = true;
      bytes.push(r.value);
      text += String.fromCharCode(r.value);
    } else {
      const ch = String.fromCodePoint(r.value);
      for (const b of utf8Encoder.encode(ch)) bytes.push(b);
      text += ch;
    }
  }
  if (!sawByte) return text;
  try {
    return strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

function underscoreOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  if (s[0] === '+' || s[0] === '-') s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && 'bBoOxX'.includes(s[1])) {
    i = 2;
    saw = '0';
    hex = s[1] === 'x' || s[1] === 'X';
  }
  for (; i < s.length; i++) {
    const c = s[i];
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;
export const UINT64_MAX = (1n << 64n) - 1n;

/** strconv.ParseInt/ParseUint with base 0, without range checks. */
export function parseGoInteger(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === '+' || s[0] === '-') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '') return undefined;
  let base = 10;
  let digits = s;
  if (s[0] === '0' && s.length > 1) {
    const p = s[1].toLowerCase();
    if (p === 'x') [base, digits] = [16, s.slice(2)];
    else if (p === 'o') [base, digits] = [8, s.slice(2)];
    else if (p === 'b') [base, digits] = [2, s.slice(2)];
    else [base, digits] = [8, s.slice(1)];
  }
  if (digits.includes('_')) {
    if (!underscoreOK(text)) return undefined;
    digits = digits.replaceAll('_', '');
  }
  if (digits === '') return undefined;
  const valid = base === 16 ? /^[0-9a-fA-F]+$/ : base === 10 ? /^[0-9]+$/ : base === 8 ? /^[0-7]+$/ : /^[01]+$/;
  if (!valid.test(digits)) return undefined;
  let v = 0n;
  const b = BigInt(base);
  for (const d of digits) v = v * b + BigInt(parseInt(d, base));
  return neg ? -v : v;
}

/** strconv.ParseFloat for decimal and hexadecimal literals. */
export function parseGoFloat(text: string): number | undefined {
  if (text.includes('_') && !underscoreOK(text)) return undefined;
  const s = text.replaceAll('_', '');
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(s);
  if (hex && (hex[2] + (hex[3] ?? '')).length > 0) {
    const mantissa = parseInt(hex[2] || '0', 16) + (hex[3] ? parseInt(hex[3], 16) / 16 ** hex[3].length : 0);
    const value = mantissa * 2 ** Number(hex[4]);
    return hex[1] === '-' ? -value : value;
  }
  return undefined;
}

const PRINT_RE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
/** unicode.IsPrint */
export function isPrintRune(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  return PRINT_RE.test(String.fromCodePoint(cp));
}

/** The code points of `s` (Go's range over a string); lone surrogates read as U+FFFD. */
export function runes(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i) ?? 0;
    // Lone surrogates cannot come from valid UTF-8 input; treat them as U+FFFD.
    out.push(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

function escapeRune(cp: number, quote: number, asciiOnly: boolean): string {
  if (cp === quote || cp === 0x5c) return `\\${String.fromCodePoint(cp)}`;
  if (asciiOnly ? cp < 0x80 && isPrintRune(cp) : isPrintRune(cp)) return String.fromCodePoint(cp);
  switch (cp) {
    case 7:
      return '\\a';
    case 8:
      return '\\b';
    case 12:
      return '\\f';
    case 10:
      return '\\n';
    case 13:
      return '\\r';
    case 9:
      return '\\t';
    case 11:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

/** strconv.Quote / QuoteToASCII */
export function goQuote(s: string, asciiOnly = false): string {
  return `"${runes(s)
    .map((cp) => escapeRune(cp, 0x22, asciiOnly))
    .join('')}"`;
}

/** strconv.QuoteRune / QuoteRuneToASCII */
export function goQuoteRune(cp: number, asciiOnly: boolean): string {
  return `'${escapeRune(cp, 0x27, asciiOnly)}'`;
}

/** strconv.CanBackquote */
export function canBackquote(s: string): boolean {
  for (const cp of runes(s)) {
    if (cp === 0xfeff || cp === 0x60) return false;
    if ((cp < 0x20 && cp !== 9) || cp === 0x7f) return false;
  }
  return true;
}

/** Decimal digits d with value 0.d × 10^dp; d has no trailing zeros and is empty for zero. */
interface Digits {
  readonly d: string;
  readonly dp: number;
}

function trimDigits(d: string, dp: number): Digits {
  const t = d.replace(/0+$/, '');
  return t === '' ? { d: '', dp: 0 } : { d: t, dp };
}

/** The exact decimal expansion of a finite non-negative double. */
function exactDigits(x: number): Digits {
  if (x === 0) return { d: '', dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponentBits = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exponentBits === 0) e = -1074;
  else {
    mantissa |= 1n << 52n;
    e = exponentBits - 1075;
  }
  if (e >= 0) {
    const s = (mantissa << BigInt(e)).toString();
    return trimDigits(s, s.length);
  }
  const s = (mantissa * 5n ** BigInt(-e)).toString();
  return trimDigits(s, s.length + e);
}

/** The shortest decimal that round-trips to the double (as strconv with precision -1). */
function shortestDigits(x: number): Digits {
  if (x === 0) return { d: '', dp: 0 };
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential());
  if (!m) throw new Error(`unexpected exponential form of ${x}`);
  return trimDigits(m[1] + (m[2] ?? ''), Number(m[3]) + 1);
}

/** decimal.Round: round to nd digits, ties to even (the expansion is exact). */
function roundDigits(x: Digits, nd: number): Digits {
  if (nd < 0 || nd >= x.d.length) return x;
  const halfway = x.d[nd] === '5' && nd + 1 === x.d.length;
  const up = halfway ? nd > 0 && (x.d.charCodeAt(nd - 1) - 48) % 2 === 1 : x.d[nd] >= '5';
  if (!up) return trimDigits(x.d.slice(0, nd), x.dp);
  for (let i = nd - 1; i >= 0; i--) {
    if (x.d[i] < '9') return { d: x.d.slice(0, i) + String.fromCharCode(x.d.charCodeAt(i) + 1), dp: x.dp };
  }
  return { d: '1', dp: x.dp + 1 };
}

function formatE(neg: boolean, digs: Digits, prec: number, e: string): string {
  let s = neg ? '-' : '';
  s += digs.d.length === 0 ? '0' : digs.d[0];
  if (prec > 0) {
    s += '.';
    const m = Math.min(digs.d.length, prec + 1);
    s += digs.d.slice(1, Math.max(1, m));
    s += '0'.repeat(prec - Math.max(0, m - 1));
  }
  let exp = digs.d.length === 0 ? 0 : digs.dp - 1;
  s += e + (exp < 0 ? '-' : '+');
  exp = Math.abs(exp);
  return s + (exp < 10 ? `0${exp}` : String(exp));
}

function formatF(neg: boolean, digs: Digits, prec: number): string {
  let s = neg ? '-' : '';
  if (digs.dp > 0) {
    const m = Math.min(digs.d.length, digs.dp);
    s += digs.d.slice(0, m) + '0'.repeat(digs.dp - m);
  } else s += '0';
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = digs.dp + i - 1;
      s += j >= 0 && j < digs.d.length ? digs.d[j] : '0';
    }
  }
  return s;
}

/** strconv.FormatFloat(x, fmt, prec, 64) for fmt in e E f g G. */
export function formatFloat(x: number, fmt: string, prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  const neg = x < 0 || Object.is(x, -0);
  const ax = Math.abs(x);
  const shortest = prec < 0;
  let digs: Digits;
  if (shortest) {
    digs = shortestDigits(ax);
    prec = fmt === 'e' || fmt === 'E' ? Math.max(digs.d.length - 1, 0) : fmt === 'f' ? Math.max(digs.d.length - digs.dp, 0) : digs.d.length;
  } else {
    digs = exactDigits(ax);
    if (fmt === 'e' || fmt === 'E') digs = roundDigits(digs, prec + 1);
    else if (fmt === 'f') digs = roundDigits(digs, digs.dp + prec);
    else {
      if (prec === 0) prec = 1;
      digs = roundDigits(digs, prec);
    }
  }
  if (fmt === 'e' || fmt === 'E') return formatE(neg, digs, prec, fmt);
  if (fmt === 'f') return formatF(neg, digs, prec);
  let eprec = prec;
  if (eprec > digs.d.length && digs.d.length >= digs.dp) eprec = digs.d.length;
  if (shortest) eprec = 6;
  const exp = digs.dp - 1;
  if (exp < -4 || exp >= eprec) {
    if (prec > digs.d.length) prec = digs.d.length;
    return formatE(neg, digs, prec - 1, fmt === 'g' ? 'e' : 'E');
  }
  if (prec > digs.dp) prec = digs.d.length;
  return formatF(neg, digs, Math.max(prec - digs.dp, 0));
}

export function isAsciiDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}
