/** The lexer (mirrors text/template/parse/lex.go). */

import { goQuote, isAsciiDigit, isPrintRune } from './strconv';
import { TemplateError, templateError } from './template-error';

export type TokenKind =
  | 'text'
  | 'leftDelim'
  | 'rightDelim'
  | 'space'
  | 'field'
  | 'variable'
  | 'dot'
  | 'identifier'
  | 'keyword'
  | 'bool'
  | 'nil'
  | 'number'
  | 'complex'
  | 'charConstant'
  | 'string'
  | 'rawString'
  | 'pipe'
  | 'leftParen'
  | 'rightParen'
  | 'declare'
  | 'assign'
  | 'char'
  | 'eof';

export interface Token {
  readonly kind: TokenKind;
  readonly val: string;
  readonly pos: number;
}

const KEYWORDS: ReadonlySet<string> = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with']);

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

const ALNUM_RE = /^[\p{L}\p{Nd}_]$/u;
function isAlphaNumeric(ch: string | undefined): boolean {
  return ch !== undefined && ALNUM_RE.test(ch);
}


/** Go's `%#U` rendering of a rune, used in lexer messages. */
function runeDescription(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = cp.toString(16).toUpperCase().padStart(4, '0');
  return isPrintRune(cp) ? `U+${hex} '${ch}'` : `U+${hex}`;
}

export class Lexer {
  private pos = 0;
  private state: 'text' | 'leftDelim' | 'action' | 'eof' = 'text';
  private trimLeading = false;
  private parenDepth = 0;

  constructor(private readonly src: string) {}

  next(): Token {
    for (;;) {
      switch (this.state) {
        case 'eof':
          return { kind: 'eof', val: '', pos: this.src.length };
        case 'text': {
          const t = this.lexText();
          if (t) return t;
          break;
        }
        case 'leftDelim': {
          const t = this.lexLeftDelim();
          if (t) return t;
          break;
        }
        case 'action':
          return this.lexInsideAction();
      }
    }
  }

  private fail(offset: number, message: string): TemplateError {
    return templateError(this.src, offset, message);
  }

  private charAt(pos: number): string | undefined {
    if (pos >= this.src.length) return undefined;
    const cp = this.src.codePointAt(pos);
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }

  private lexText(): Token | undefined {
    if (this.trimLeading) {
      while (isSpace(this.src[this.pos])) this.pos++;
      this.trimLeading = false;
    }
    const start = this.pos;
    const x = this.src.indexOf('{{', this.pos);
    if (x < 0) {
      this.pos = this.src.length;
      this.state = 'eof';
      return start < this.src.length ? { kind: 'text', val: this.src.slice(start), pos: start } : undefined;
    }
    let end = x;
    if (this.hasLeftTrimMarker(x + 2)) {
      while (end > start && isSpace(this.src[end - 1])) end--;
    }
    this.pos = x;
    this.state = 'leftDelim';
    return end > start ? { kind: 'text', val: this.src.slice(start, end), pos: start } : undefined;
  }

  private hasLeftTrimMarker(pos: number): boolean {
    return this.src[pos] === '-' && isSpace(this.src[pos + 1]);
  }

  /** Whether the input at `pos` is `}}`, optionally preceded by a ` -` trim marker. */
  private atRightDelim(pos = this.pos): { delim: boolean; trim: boolean } {
    if (isSpace(this.src[pos]) && this.src[pos + 1] === '-' && this.src.startsWith('}}', pos + 2)) return { delim: true, trim: true };
    if (this.src.startsWith('}}', pos)) return { delim: true, trim: false };
    return { delim: false, trim: false };
  }

  private lexLeftDelim(): Token | undefined {
    const start = this.pos;
    this.pos += 2;
    const afterMarker = this.hasLeftTrimMarker(this.pos) ? 2 : 0;
    if (this.src.startsWith('/*', this.pos + afterMarker)) {
      this.pos += afterMarker;
      this.lexComment();
      return undefined;
    }
    this.pos += afterMarker;
    this.state = 'action';
    this.parenDepth = 0;
    return { kind: 'leftDelim', val: '{{', pos: start };
  }

  private lexComment(): void {
    const start = this.pos;
    const x = this.src.indexOf('*/', this.pos + 2);
    if (x < 0) throw this.fail(start, 'unclosed comment');
    this.pos = x + 2;
    const { delim, trim } = this.atRightDelim();
    if (!delim) throw this.fail(this.pos, 'comment ends before closing delimiter');
    this.pos += (trim ? 2 : 0) + 2;
    this.trimLeading = trim;
    this.state = 'text';
  }

  private lexInsideAction(): Token {
    const { delim, trim } = this.atRightDelim();
    if (delim) {
      if (this.parenDepth !== 0) throw this.fail(this.pos, 'unclosed left paren');
      const start = this.pos;
      this.pos += (trim ? 2 : 0) + 2;
      this.trimLeading = trim;
      this.state = 'text';
      return { kind: 'rightDelim', val: '}}', pos: start };
    }
    const start = this.pos;
    const ch = this.charAt(this.pos);
    if (ch === undefined) throw this.fail(this.pos, 'unclosed action');
    if (isSpace(ch)) return this.lexSpace();
    switch (ch) {
      case '=':
        this.pos++;
        return { kind: 'assign', val: '=', pos: start };
      case ':':
        if (this.src[this.pos + 1] !== '=') throw this.fail(this.pos, 'expected :=');
        this.pos += 2;
        return { kind: 'declare', val: ':=', pos: start };
      case '|':
        this.pos++;
        return { kind: 'pipe', val: '|', pos: start };
      case '"':
        return this.lexQuoted('"', 'string', 'unterminated quoted string');
      case '`':
        return this.lexRawQuote();
      case '$':
        return this.lexFieldOrVariable('variable');
      case "'":
        return this.lexQuoted("'", 'charConstant', 'unterminated character constant');
      case '.':
        if (!isAsciiDigit(this.src[this.pos + 1])) return this.lexFieldOrVariable('field');
        return this.lexNumber();
      case '(':
        this.pos++;
        this.parenDepth++;
        return { kind: 'leftParen', val: '(', pos: start };
      case ')':
        this.pos++;
        this.parenDepth--;
        if (this.parenDepth < 0) throw this.fail(start, 'unexpected right paren');
        return { kind: 'rightParen', val: ')', pos: start };
    }
    if (ch === '+' || ch === '-' || isAsciiDigit(ch)) return this.lexNumber();
    if (isAlphaNumeric(ch)) return this.lexIdentifier();
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x7f && cp >= 0x20) {
      this.pos++;
      return { kind: 'char', val: ch, pos: start };
    }
    throw this.fail(start, `unrecognized character in action: ${runeDescription(ch)}`);
  }

  private lexSpace(): Token {
    const start = this.pos;
    let count = 0;
    while (isSpace(this.src[this.pos])) {
      this.pos++;
      count++;
    }
    // The last space may belong to a " -}}" trim marker.
    if (this.src[this.pos] === '-' && this.src.startsWith('}}', this.pos + 1)) {
      this.pos--;
      if (count === 1) return this.lexInsideAction();
    }
    return { kind: 'space', val: this.src.slice(start, this.pos), pos: start };
  }

  private lexQuoted(quote: string, kind: TokenKind, unterminated: string): Token {
    const start = this.pos;
    this.pos++;
    for (;;) {
      const c = this.src[this.pos];
      if (c === '\\') {
        const n = this.src[this.pos + 1];
        if (n !== undefined && n !== '\n') {
          this.pos += 2;
          continue;
        }
        throw this.fail(start, unterminated);
      }
      if (c === undefined || c === '\n') throw this.fail(start, unterminated);
      this.pos++;
      if (c === quote) break;
    }
    return { kind, val: this.src.slice(start, this.pos), pos: start };
  }

  private lexRawQuote(): Token {
    const start = this.pos;
    const x = this.src.indexOf('`', this.pos + 1);
    if (x < 0) throw this.fail(start, 'unterminated raw quoted string');
    this.pos = x + 1;
    return { kind: 'rawString', val: this.src.slice(start, this.pos), pos: start };
  }

  private atTerminator(): boolean {
    const c = this.src[this.pos];
    if (c === undefined || isSpace(c)) return true;
    if ('.,|:)('.includes(c)) return true;
    return this.src.startsWith('}}', this.pos);
  }

  private lexFieldOrVariable(kind: 'field' | 'variable'): Token {
    const start = this.pos;
    this.pos++;
    if (this.atTerminator()) {
      return kind === 'variable' ? { kind: 'variable', val: '$', pos: start } : { kind: 'dot', val: '.', pos: start };
    }
    this.consumeAlphaNumerics();
    if (!this.atTerminator()) throw this.fail(this.pos, `bad character ${runeDescription(this.charAt(this.pos) ?? '')}`);
    return { kind, val: this.src.slice(start, this.pos), pos: start };
  }

  private consumeAlphaNumerics(): void {
    for (;;) {
      const ch = this.charAt(this.pos);
      if (!isAlphaNumeric(ch) || ch === undefined) return;
      this.pos += ch.length;
    }
  }

  private lexIdentifier(): Token {
    const start = this.pos;
    this.consumeAlphaNumerics();
    if (!this.atTerminator()) throw this.fail(this.pos, `bad character ${runeDescription(this.charAt(this.pos) ?? '')}`);
    const word = this.src.slice(start, this.pos);
    if (KEYWORDS.has(word)) return { kind: 'keyword', val: word, pos: start };
    if (word === 'nil') return { kind: 'nil', val: word, pos: start };
    if (word === 'true' || word === 'false') return { kind: 'bool', val: word, pos: start };
    return { kind: 'identifier', val: word, pos: start };
  }

  private accept(valid: string): boolean {
    const c = this.src[this.pos];
    if (c !== undefined && valid.includes(c)) {
      this.pos++;
      return true;
    }
    return false;
  }

  private acceptRun(valid: string): void {
    while (this.accept(valid));
  }

  private scanNumber(): boolean {
    this.accept('+-');
    let digits = '0123456789_';
    if (this.accept('0')) {
      if (this.accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (this.accept('oO')) digits = '01234567_';
      else if (this.accept('bB')) digits = '01_';
    }
    this.acceptRun(digits);
    if (this.accept('.')) this.acceptRun(digits);
    if (digits.length === 11 && this.accept('eE')) {
      this.accept('+-');
      this.acceptRun('0123456789_');
    }
    if (digits.length === 23 && this.accept('pP')) {
      this.accept('+-');
      this.acceptRun('0123456789_');
    }
    this.accept('i');
    const next = this.charAt(this.pos);
    if (isAlphaNumeric(next) && next !== undefined) {
      this.pos += next.length;
      return false;
    }
    return true;
  }

  private lexNumber(): Token {
    const start = this.pos;
    if (!this.scanNumber()) throw this.fail(start, `bad number syntax: ${goQuote(this.src.slice(start, this.pos))}`);
    const sign = this.src[this.pos];
    if (sign === '+' || sign === '-') {
      if (!this.scanNumber() || this.src[this.pos - 1] !== 'i') {
        throw this.fail(start, `bad number syntax: ${goQuote(this.src.slice(start, this.pos))}`);
      }
      return { kind: 'complex', val: this.src.slice(start, this.pos), pos: start };
    }
    return { kind: 'number', val: this.src.slice(start, this.pos), pos: start };
  }
}
