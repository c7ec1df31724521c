/**
 * A dependency-free subset of Go's text/template, with the function map containers/common's
 * `report` package installs (what skopeo's `--format` executes).
 *
 * Contract: for every template this module accepts, the output is byte-for-byte what Go's
 * text/template (with the function map skopeo installs from containers/common `report`)
 * prints for the equivalent Go value. Anything outside the supported subset, any malformed
 * template and any execution error is reported as a {@link TemplateError} rather than being
 * rendered differently from Go. Known approximations: case mapping uses the JavaScript
 * engine's Unicode tables (one-to-one mappings only, like Go's unicode.ToUpper/ToLower), and
 * `truncate` cutting a multi-byte character yields U+FFFD where Go emits the partial bytes.
 *
 * Supported: text and `{{ }}` actions with `{{-` / `-}}` trim markers, `{{/* comments *\/}}`,
 * `.`, `$`, `$var`, field chains (`.A.B`, `$v.A`, `(pipeline).A`), `$x := pipeline`,
 * `$x = pipeline`, pipelines with `|`, parenthesised pipelines, `if`/`else if`/`else`,
 * `with`/`else with`/`else`, `range` (slices, maps in sorted key order, integers; one or two
 * variables; `else`; `break`/`continue`), string/raw-string/char/number/bool/nil literals, and
 * the functions `and or not len index print printf println eq ne lt le gt ge` (Go builtins)
 * plus `json join lower upper title split pad truncate` (containers/common report funcs).
 *
 * Not supported (TemplateError "unsupported template syntax"): `define`, `template`, `block`,
 * the builtins `html js urlquery slice call`, complex numbers, `%#v`/`%p`/hex-float verbs,
 * methods on time values, and string literals that are not valid UTF-8.
 *
 * Data model: `data` is plain JSON-like values, typed by the caller's Go struct types
 * ({@link GoStructTypes}, e.g. images/ supplies skopeo's inspect structs). A plain object is
 * the `rootType` struct (held in an `interface{}`, as skopeo passes its output); the declared
 * fields get their Go types (`digest.Digest`, `map[string]string`, `*time.Time`, other
 * structs, ...), and fields absent from the object behave as their Go zero value. Other
 * values are typed by inference (strings, integers as `int`, other numbers as `float64`,
 * arrays as slices, objects as `map[string]...`). Names listed in `timeFields` hold RFC 3339
 * strings (or null) and behave like Go's `*time.Time`; the process-local zone is assumed to be
 * UTC, as in a container.
 *
 * Output differences from the skopeo CLI that are the caller's business: skopeo wraps the
 * template as `{{range .}}...{{end -}}` over a one-element slice (so in the CLI `$` is that
 * slice), appends a newline when the template lacks a trailing one, and rewrites the escapes
 * `\t` (and, in newer releases, `\n`) in the template text to a tab and a newline. This module
 * renders the template exactly as given, with `.` and `$` both bound to `data`.
 */

import { Converter } from './data-converter';
import { FmtUnsupported, fmtV, sprint, sprintf, sprintln } from './fmt';
import { GoStructTypes, NO_STRUCT_TYPES } from './go-struct-types';
import { bool, compareStrings, float, type GoValue, int, INVALID, NIL, sortedKeys, str, truth, typeName, utf8Length } from './go-value';
import { jsonEncode, JsonUnsupported } from './json-encode';
import { goQuote, INT64_MAX, INT64_MIN, isAsciiDigit, isPrintRune, lenientUtf8, parseGoFloat, parseGoInteger, runes, SyntaxErr, UINT64_MAX, unquoteChar, unquoteInterpreted, utf8Encoder } from './strconv';
import { MAX_NESTING, OutputLimit, TemplateError, templateError, UNSUPPORTED } from './template-error';

const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;
const DEFAULT_MAX_STEPS = 1_000_000;

export interface GoTemplateOptions {
  /** The Go struct types `data` is typed with. Default none: objects are maps. */
  readonly structTypes?: GoStructTypes;
  /** The struct type of `data` when it is a plain object; must be one of `structTypes`. */
  readonly rootType?: string;
  /**
   * Struct field names whose values are Go `*time.Time` (RFC 3339 string, Date or null).
   * Default: the fields `structTypes` declares `*time.Time`; a given list replaces the default,
   * so `[]` leaves them strings.
   */
  readonly timeFields?: readonly string[];
  /** Output size limit in UTF-16 code units; exceeding it is a TemplateError. Default 4 Mi. */
  readonly maxOutputLength?: number;
  /** Bound on evaluation work (nodes walked, commands run, range iterations). Default 1 000 000. */
  readonly maxSteps?: number;
}

/**
 * Renders `template` against `data` the way Go's text/template does.
 * Throws TemplateError for syntax the subset does not support, malformed templates and
 * execution errors (for example `index` of a non-indexable value or an unknown field), and
 * TypeError when `data` itself cannot be a Go value (cyclic, a time field that is not RFC 3339,
 * functions or class instances other than Date and Map) or `rootType` is not declared.
 */
export function renderGoTemplate(template: string, data: unknown, options: GoTemplateOptions = {}): string {
  const types = options.structTypes ?? NO_STRUCT_TYPES;
  const rootLayout = options.rootType === undefined ? undefined : types.layout(options.rootType);
  if (options.rootType !== undefined && !rootLayout) throw new TypeError(`renderGoTemplate: rootType ${options.rootType} is not one of the struct types`);
  const tree = new Parser(template).parse();
  const converter = new Converter(types, new Set(options.timeFields ?? types.timeFieldNames));
  const root = converter.root(data, rootLayout);
  const exec = new Executor(template, options.maxOutputLength ?? DEFAULT_MAX_OUTPUT, options.maxSteps ?? DEFAULT_MAX_STEPS);
  return exec.run(tree, root);
}

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

export interface Span {
  readonly pos: number;
  end: number;
}

interface FieldNode extends Span {
  readonly type: 'field';
  readonly idents: readonly string[];
}
export interface VariableNode extends Span {
  readonly type: 'variable';
  /** First element is the variable name including `$`, the rest are field names. */
  readonly idents: readonly string[];
}
interface DotNode extends Span {
  readonly type: 'dot';
}
interface NilNode extends Span {
  readonly type: 'nil';
}
interface BoolNode extends Span {
  readonly type: 'bool';
  readonly value: boolean;
}
export interface NumberNode extends Span {
  readonly type: 'number';
  readonly text: string;
  readonly isInt: boolean;
  readonly isUint: boolean;
  readonly isFloat: boolean;
  readonly int: bigint;
  readonly float: number;
}
interface StringNode extends Span {
  readonly type: 'string';
  readonly value: string;
}
export interface IdentifierNode extends Span {
  readonly type: 'identifier';
  readonly name: string;
}
export interface ChainNode extends Span {
  readonly type: 'chain';
  readonly node: ArgNode;
  readonly fields: readonly string[];
}
export interface PipeNode extends Span {
  readonly type: 'pipe';
  readonly decl: string[];
  isAssign: boolean;
  readonly cmds: CommandNode[];
}
export interface CommandNode extends Span {
  readonly type: 'command';
  readonly args: ArgNode[];
}
export type ArgNode = FieldNode | VariableNode | DotNode | NilNode | BoolNode | NumberNode | StringNode | IdentifierNode | ChainNode | PipeNode;

interface TextNode extends Span {
  readonly type: 'text';
  readonly text: string;
}
interface ActionNode extends Span {
  readonly type: 'action';
  readonly pipe: PipeNode;
}
export interface BranchNode extends Span {
  readonly type: 'if' | 'with' | 'range';
  readonly pipe: PipeNode;
  readonly list: readonly TreeNode[];
  readonly elseList: readonly TreeNode[] | undefined;
}
interface LoopControlNode extends Span {
  readonly type: 'break' | 'continue';
}
export type TreeNode = TextNode | ActionNode | BranchNode | LoopControlNode;

/** Pseudo-nodes produced by `{{end}}` and `{{else}}`; they terminate item lists. */
export interface Delimiter {
  readonly type: 'end' | 'else';
  readonly pos: number;
}

export function isDelimiter(n: TreeNode | Delimiter): n is Delimiter {
  return n.type === 'end' || n.type === 'else';
}

const GO_BUILTINS_UNSUPPORTED: ReadonlySet<string> = new Set(['html', 'js', 'urlquery', 'slice', 'call']);

export class Parser {
  private readonly lexer: Lexer;
  private readonly tokens: Token[] = [];
  private index = 0;
  private readonly vars: string[] = ['$'];
  private rangeDepth = 0;
  private depth = 0;

  constructor(private readonly src: string) {
    this.lexer = new Lexer(src);
  }

  parse(): readonly TreeNode[] {
    const root: TreeNode[] = [];
    while (this.peek().kind !== 'eof') {
      const n = this.textOrAction();
      if (isDelimiter(n)) throw this.fail(n.pos, `unexpected {{${n.type}}}`);
      root.push(n);
    }
    return root;
  }

  private fail(offset: number, message: string): TemplateError {
    return templateError(this.src, offset, message);
  }

  private next(): Token {
    if (this.index >= this.tokens.length) this.tokens.push(this.lexer.next());
    return this.tokens[this.index++];
  }

  private backup(): void {
    this.index--;
  }

  private peek(): Token {
    const t = this.next();
    this.backup();
    return t;
  }

  private nextNonSpace(): Token {
    let t: Token;
    do t = this.next();
    while (t.kind === 'space');
    return t;
  }

  private peekNonSpace(): Token {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }

  private unexpected(t: Token, context: string): TemplateError {
    let shown: string;
    if (t.kind === 'eof') shown = 'EOF';
    else if (t.kind === 'keyword' || t.kind === 'dot' || t.kind === 'nil') shown = `<${t.val}>`;
    else if ([...t.val].length > 10) shown = `${goQuote([...t.val].slice(0, 10).join(''))}...`;
    else shown = goQuote(t.val);
    return this.fail(t.pos, `unexpected ${shown} in ${context}`);
  }

  private expect(kind: TokenKind, context: string): Token {
    const t = this.nextNonSpace();
    if (t.kind !== kind) throw this.unexpected(t, context);
    return t;
  }

  private enter(pos: number): void {
    if (++this.depth > MAX_NESTING) throw this.fail(pos, `${UNSUPPORTED}: nesting deeper than ${MAX_NESTING} levels`);
  }

  private textOrAction(): TreeNode | Delimiter {
    const t = this.nextNonSpace();
    if (t.kind === 'text') return { type: 'text', text: t.val, pos: t.pos, end: t.pos + t.val.length };
    if (t.kind === 'leftDelim') return this.action(t);
    throw this.unexpected(t, 'input');
  }

  private action(open: Token): TreeNode | Delimiter {
    const t = this.nextNonSpace();
    if (t.kind === 'keyword') {
      switch (t.val) {
        case 'block':
        case 'define':
        case 'template':
          throw this.fail(t.pos, `${UNSUPPORTED}: {{${t.val}}}`);
        case 'break':
        case 'continue': {
          const n = this.nextNonSpace();
          if (n.kind !== 'rightDelim') throw this.unexpected(n, `{{${t.val}}}`);
          if (this.rangeDepth === 0) throw this.fail(t.pos, `{{${t.val}}} outside {{range}}`);
          return { type: t.val === 'break' ? 'break' : 'continue', pos: open.pos, end: n.pos + 2 };
        }
        case 'else': {
          const peek = this.peekNonSpace();
          if (peek.kind === 'keyword' && (peek.val === 'if' || peek.val === 'with')) return { type: 'else', pos: peek.pos };
          return { type: 'else', pos: this.expect('rightDelim', 'else').pos };
        }
        case 'end':
          return { type: 'end', pos: this.expect('rightDelim', 'end').pos };
        case 'if':
        case 'with':
        case 'range':
          return this.control(t.val, open.pos);
      }
    }
    this.backup();
    const pipe = this.pipeline('command', 'rightDelim');
    return { type: 'action', pipe, pos: open.pos, end: pipe.end };
  }

  private control(context: 'if' | 'with' | 'range', pos: number): BranchNode {
    this.enter(pos);
    const varsMark = this.vars.length;
    try {
      const pipe = this.pipeline(context, 'rightDelim');
      if (context === 'range') this.rangeDepth++;
      const [list, next] = this.itemList();
      if (context === 'range') this.rangeDepth--;
      let elseList: TreeNode[] | undefined;
      if (next.type === 'else') {
        const p = this.peek();
        if (context !== 'range' && p.kind === 'keyword' && p.val === context) {
          this.next();
          elseList = [this.control(context, p.pos)];
        } else {
          const [rest, last] = this.itemList();
          if (last.type !== 'end') throw this.fail(last.pos, `expected end; found {{${last.type}}}`);
          elseList = rest;
        }
      }
      return { type: context, pipe, list, elseList, pos, end: pipe.end };
    } finally {
      this.vars.length = varsMark;
      this.depth--;
    }
  }

  private itemList(): [TreeNode[], Delimiter] {
    const list: TreeNode[] = [];
    while (this.peekNonSpace().kind !== 'eof') {
      const n = this.textOrAction();
      if (isDelimiter(n)) return [list, n];
      list.push(n);
    }
    throw this.fail(this.src.length, 'unexpected EOF');
  }

  private pipeline(context: string, end: 'rightDelim' | 'rightParen'): PipeNode {
    const first = this.peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: first.pos, end: first.pos, decl: [], isAssign: false, cmds: [] };
    for (;;) {
      const v = this.peekNonSpace();
      if (v.kind !== 'variable') break;
      const mark = this.index;
      this.next();
      const next = this.peekNonSpace();
      if (next.kind === 'assign' || next.kind === 'declare') {
        pipe.isAssign = next.kind === 'assign';
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
        break;
      }
      if (next.kind === 'char' && next.val === ',') {
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace();
          if (p.kind === 'variable' || p.kind === 'rightDelim' || p.kind === 'rightParen') continue;
          throw this.fail(p.pos, 'range can only initialize variables');
        }
        throw this.fail(v.pos, `too many declarations in ${context}`);
      }
      this.index = mark;
      break;
    }
    for (;;) {
      const t = this.nextNonSpace();
      if (t.kind === end) {
        this.checkPipeline(pipe, context, t.pos);
        pipe.end = t.pos + (end === 'rightParen' ? 1 : 0);
        if (end === 'rightDelim') pipe.end = pipe.cmds.length ? pipe.cmds[pipe.cmds.length - 1].end : t.pos;
        return pipe;
      }
      switch (t.kind) {
        case 'bool':
        case 'charConstant':
        case 'complex':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          continue;
      }
      throw this.unexpected(t, context);
    }
  }

  private checkPipeline(pipe: PipeNode, context: string, pos: number): void {
    if (pipe.cmds.length === 0) throw this.fail(pos, `missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0].type;
      if (t === 'bool' || t === 'dot' || t === 'nil' || t === 'number' || t === 'string') {
        throw this.fail(c.pos, `non executable command in pipeline stage ${i + 2}`);
      }
    });
  }

  private command(): CommandNode {
    const start = this.peekNonSpace();
    const cmd: CommandNode = { type: 'command', pos: start.pos, end: start.pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) {
        cmd.args.push(operand);
        cmd.end = operand.end;
      }
      const t = this.next();
      if (t.kind === 'space') continue;
      if (t.kind === 'rightDelim' || t.kind === 'rightParen') this.backup();
      else if (t.kind !== 'pipe') throw this.unexpected(t, 'operand');
      break;
    }
    if (cmd.args.length === 0) throw this.fail(cmd.pos, 'empty command');
    return cmd;
  }

  private operand(): ArgNode | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().kind !== 'field') return node;
    const fields: string[] = [];
    let end = node.end;
    while (this.peek().kind === 'field') {
      const f = this.next();
      fields.push(f.val.slice(1));
      end = f.pos + f.val.length;
    }
    switch (node.type) {
      case 'field':
        return { type: 'field', idents: [...node.idents, ...fields], pos: node.pos, end };
      case 'variable':
        return { type: 'variable', idents: [...node.idents, ...fields], pos: node.pos, end };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        throw this.fail(node.pos, `unexpected . after term ${goQuote(this.src.slice(node.pos, node.end))}`);
      default:
        return { type: 'chain', node, fields, pos: node.pos, end };
    }
  }

  private term(): ArgNode | undefined {
    const t = this.nextNonSpace();
    const span = { pos: t.pos, end: t.pos + t.val.length };
    switch (t.kind) {
      case 'identifier':
        if (GO_BUILTINS_UNSUPPORTED.has(t.val)) throw this.fail(t.pos, `${UNSUPPORTED}: function ${goQuote(t.val)}`);
        if (!FUNCS.has(t.val)) throw this.fail(t.pos, `function ${goQuote(t.val)} not defined`);
        return { type: 'identifier', name: t.val, ...span };
      case 'dot':
        return { type: 'dot', ...span };
      case 'nil':
        return { type: 'nil', ...span };
      case 'variable':
        if (!this.vars.includes(t.val)) throw this.fail(t.pos, `undefined variable ${goQuote(t.val)}`);
        return { type: 'variable', idents: [t.val], ...span };
      case 'field':
        return { type: 'field', idents: [t.val.slice(1)], ...span };
      case 'bool':
        return { type: 'bool', value: t.val === 'true', ...span };
      case 'charConstant':
      case 'number':
        return this.number(t);
      case 'complex':
        throw this.fail(t.pos, `${UNSUPPORTED}: complex number ${t.val}`);
      case 'leftParen': {
        this.enter(t.pos);
        try {
          const pipe = this.pipeline('parenthesized pipeline', 'rightParen');
          return { ...pipe, pos: t.pos };
        } finally {
          this.depth--;
        }
      }
      case 'string': {
        let value: string | undefined;
        try {
          value = unquoteInterpreted(t.val);
        } catch (e) {
          if (e instanceof SyntaxErr) throw this.fail(t.pos, 'invalid syntax');
          throw e;
        }
        if (value === undefined) throw this.fail(t.pos, `${UNSUPPORTED}: string literal ${t.val} is not valid UTF-8`);
        return { type: 'string', value, ...span };
      }
      case 'rawString':
        return { type: 'string', value: t.val.slice(1, -1).replaceAll('\r', ''), ...span };
    }
    this.backup();
    return undefined;
  }

  private number(t: Token): NumberNode {
    const span = { pos: t.pos, end: t.pos + t.val.length };
    if (t.kind === 'charConstant') {
      let r: { value: number; next: number };
      try {
        r = unquoteChar(t.val, 1, "'");
      } catch (e) {
        if (e instanceof SyntaxErr) throw this.fail(t.pos, 'invalid syntax');
        throw e;
      }
      if (t.val.slice(r.next) !== "'") throw this.fail(t.pos, `malformed character constant: ${t.val}`);
      return { type: 'number', text: t.val, isInt: true, isUint: true, isFloat: true, int: BigInt(r.value), float: r.value, ...span };
    }
    const text = t.val;
    if (text.endsWith('i')) throw this.fail(t.pos, `${UNSUPPORTED}: complex number ${text}`);
    const asInt = parseGoInteger(text);
    let isInt = asInt !== undefined && asInt >= INT64_MIN && asInt <= INT64_MAX;
    let isUint = asInt !== undefined && asInt >= 0n && asInt <= UINT64_MAX;
    let int = asInt ?? 0n;
    let float = 0;
    let isFloat = false;
    if (isInt || isUint) {
      isFloat = true;
      float = Number(int);
    } else {
      const f = parseGoFloat(text);
      if (f !== undefined && Number.isFinite(f)) {
        if (!/[.eEpP]/.test(text)) throw this.fail(t.pos, `integer overflow: ${goQuote(text)}`);
        isFloat = true;
        float = f;
        if (Number.isInteger(f) && f >= -(2 ** 63) && f < 2 ** 63) {
          isInt = true;
          int = BigInt(f);
        }
        if (Number.isInteger(f) && f >= 0 && f < 2 ** 64) {
          isUint = true;
          int = BigInt(f);
        }
      }
    }
    if (!isInt && !isUint && !isFloat) throw this.fail(t.pos, `illegal number syntax: ${goQuote(text)}`);
    return { type: 'number', text, isInt, isUint, isFloat, int, float, ...span };
  }
}

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

export const TIME_METHODS: ReadonlySet<string> = new Set([
  'Add', 'AddDate', 'After', 'AppendFormat', 'Before', 'Clock', 'Compare', 'Date', 'Day', 'Equal', 'Format', 'GoString',
  'GobEncode', 'Hour', 'ISOWeek', 'In', 'IsDST', 'IsZero', 'Local', 'Location', 'MarshalBinary', 'MarshalJSON',
  'MarshalText', 'Minute', 'Month', 'Nanosecond', 'Round', 'Second', 'String', 'Sub', 'Truncate', 'UTC', 'Unix',
  'UnixMicro', 'UnixMilli', 'UnixNano', 'Weekday', 'Year', 'YearDay', 'Zone', 'ZoneBounds',
]);

/** The absent "final" pipeline value (Go's missingVal). */
const MISSING = Symbol('missing');
type Final = GoValue | typeof MISSING;

const BREAK = Symbol('break');
const CONTINUE = Symbol('continue');

export class Executor {
  private readonly vars: { name: string; value: GoValue }[] = [];
  private readonly out: string[] = [];
  private outLength = 0;
  private steps = 0;
  private at: Span = { pos: 0, end: 0 };

  constructor(
    private readonly src: string,
    private readonly maxOutput: number,
    private readonly maxSteps: number,
  ) {}

  run(tree: readonly TreeNode[], data: GoValue): string {
    this.vars.push({ name: '$', value: data });
    try {
      this.walkList(data, tree);
    } catch (e) {
      if (e instanceof OutputLimit) throw this.error(`output exceeds ${this.maxOutput} characters`);
      if (e instanceof FmtUnsupported) throw this.error(`${UNSUPPORTED}: ${e.message}`);
      throw e;
    }
    return this.out.join('');
  }

  private error(message: string): TemplateError {
    const context = this.src.slice(this.at.pos, this.at.end);
    const shown = context.length > 80 ? `${context.slice(0, 77)}...` : context;
    return templateError(this.src, this.at.pos, `executing at <${shown}>: ${message}`);
  }

  private step(): void {
    if (++this.steps > this.maxSteps) throw this.error(`execution exceeds ${this.maxSteps} steps`);
  }

  private write(s: string): void {
    this.outLength += s.length;
    if (this.outLength > this.maxOutput) throw new OutputLimit();
    this.out.push(s);
  }

  private walkList(dot: GoValue, list: readonly TreeNode[]): void {
    for (const node of list) this.walk(dot, node);
  }

  private walk(dot: GoValue, node: TreeNode): void {
    this.step();
    switch (node.type) {
      case 'text':
        this.write(node.text);
        return;
      case 'action': {
        const value = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) {
          this.at = node.pipe;
          this.write(value.kind === 'invalid' ? '<no value>' : fmtV(value));
        }
        return;
      }
      case 'if':
      case 'with':
        this.walkIfOrWith(dot, node);
        return;
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'break':
        throw BREAK;
      case 'continue':
        throw CONTINUE;
    }
  }

  private walkIfOrWith(dot: GoValue, node: BranchNode): void {
    const mark = this.vars.length;
    try {
      const value = this.evalPipeline(dot, node.pipe);
      if (truth(indirectInterface(value))) this.walkList(node.type === 'with' ? value : dot, node.list);
      else if (node.elseList) this.walkList(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(dot: GoValue, node: BranchNode): void {
    const mark = this.vars.length;
    try {
      const value = this.evalPipeline(dot, node.pipe);
      const { decl, isAssign } = node.pipe;
      /** Runs the body once; returns false when the body executed {{break}}. */
      const iterate = (index: GoValue, elem: GoValue): boolean => {
        this.step();
        if (decl.length > 0) {
          if (isAssign) this.setVar(decl[0], decl.length > 1 ? index : elem);
          else this.vars[this.vars.length - 1].value = elem;
        }
        if (decl.length > 1) {
          if (isAssign) this.setVar(decl[1], elem);
          else this.vars[this.vars.length - 2].value = index;
        }
        const bodyMark = this.vars.length;
        try {
          this.walkList(elem, node.list);
        } catch (e) {
          if (e === BREAK) return false;
          if (e !== CONTINUE) throw e;
        } finally {
          this.vars.length = bodyMark;
        }
        return true;
      };
      this.at = node.pipe;
      switch (value.kind) {
        case 'slice':
          if (value.items && value.items.length > 0) {
            for (let i = 0; i < value.items.length; i++) if (!iterate(int(i), value.items[i])) break;
            return;
          }
          break;
        case 'map':
          if (value.entries && value.entries.size > 0) {
            for (const key of sortedKeys(value.entries)) if (!iterate(str(key), value.entries.get(key) ?? INVALID)) break;
            return;
          }
          break;
        case 'int':
          if (decl.length > 1) throw this.error(`can't use ${fmtV(value)} to iterate over more than one variable`);
          if (value.value > 0n) {
            for (let i = 0n; i < value.value; i++) if (!iterate(INVALID, int(i, value.type))) break;
            return;
          }
          break;
        case 'invalid':
          break;
        default:
          throw this.error(`range can't iterate over ${fmtV(value)}`);
      }
      if (node.elseList) this.walkList(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private setVar(name: string, value: GoValue): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) {
        this.vars[i].value = value;
        return;
      }
    }
    throw this.error(`undefined variable: ${name}`);
  }

  private varValue(name: string): GoValue {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i].name === name) return this.vars[i].value;
    throw this.error(`undefined variable: ${name}`);
  }

  private evalPipeline(dot: GoValue, pipe: PipeNode): GoValue {
    this.at = pipe;
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) {
      const v: GoValue = this.evalCommand(dot, cmd, value);
      // Go unwraps interface{} results, so a nil one becomes no value at all.
      value = v.kind === 'nil' ? INVALID : v;
    }
    const result = value === MISSING ? INVALID : value;
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, result);
      else this.vars.push({ name, value: result });
    }
    return result;
  }

  private notAFunction(args: readonly ArgNode[], final: Final): void {
    if (args.length > 1 || final !== MISSING) throw this.error(`can't give argument to non-function ${this.src.slice(args[0].pos, args[0].end)}`);
  }

  private evalCommand(dot: GoValue, cmd: CommandNode, final: Final): GoValue {
    this.step();
    const first = cmd.args[0];
    this.at = first;
    switch (first.type) {
      case 'field':
        return this.evalFieldChain(dot, first, first.idents, cmd.args, final);
      case 'chain':
        return this.evalChain(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariable(first, cmd.args, final);
    }
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
        return bool(first.value);
      case 'dot':
        return dot;
      case 'nil':
        throw this.error('nil is not a command');
      case 'number':
        return this.idealConstant(first);
      case 'string':
        return str(first.value);
    }
  }

  private idealConstant(n: NumberNode): GoValue {
    this.at = n;
    const isHexInt = /^[+-]?0[xX]/.test(n.text) && !/[pP]/.test(n.text);
    if (n.isFloat && !isHexInt && !n.text.startsWith("'") && /[.eEpP]/.test(n.text)) return float(n.float);
    if (n.isInt) return int(n.int);
    throw this.error(`${n.text} overflows int`);
  }

  private evalVariable(v: VariableNode, args: readonly ArgNode[], final: Final): GoValue {
    this.at = v;
    const value = this.varValue(v.idents[0]);
    if (v.idents.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(value, v, v.idents.slice(1), args, final);
  }

  private evalChain(dot: GoValue, chain: ChainNode, args: readonly ArgNode[], final: Final): GoValue {
    this.at = chain;
    const receiver = this.evalArg(dot, undefined, chain.node);
    return this.evalFieldChain(receiver, chain, chain.fields, args, final);
  }

  private evalFieldChain(receiver: GoValue, node: Span, idents: readonly string[], args: readonly ArgNode[], final: Final): GoValue {
    for (let i = 0; i < idents.length - 1; i++) receiver = this.evalField(idents[i], node, [], MISSING, receiver);
    return this.evalField(idents[idents.length - 1], node, args, final, receiver);
  }

  private evalField(name: string, node: Span, args: readonly ArgNode[], final: Final, receiver: GoValue): GoValue {
    this.at = node;
    if (receiver.kind === 'invalid') return INVALID;
    const hasArgs = args.length > 1 || final !== MISSING;
    switch (receiver.kind) {
      case 'nil':
        throw this.error(`nil pointer evaluating interface {}.${name}`);
      case 'struct': {
        const field = receiver.fields.get(name);
        if (field !== undefined) {
          if (hasArgs) throw this.error(`${name} has arguments but cannot be invoked as function`);
          return field;
        }
        break;
      }
      case 'map':
        if (hasArgs) throw this.error(`${name} is not a method but has arguments`);
        return receiver.entries?.get(name) ?? INVALID;
      case 'string':
        if (receiver.type === 'digest.Digest') {
          const result = digestMethod(receiver.value, name);
          if (result !== undefined) {
            const got = args.length - 1 + (final === MISSING ? 0 : 1);
            if (got !== 0) throw this.error(`wrong number of args for ${name}: want 0 got ${got}`);
            return result;
          }
        }
        break;
      case 'time':
        if (TIME_METHODS.has(name)) throw this.error(`${UNSUPPORTED}: method ${name} of a time value`);
        break;
    }
    const type = receiver.kind === 'struct' && receiver.viaInterface ? 'interface {}' : typeName(receiver);
    throw this.error(`can't evaluate field ${name} in type ${type}`);
  }

  private evalFunction(dot: GoValue, ident: IdentifierNode, cmd: Span, args: readonly ArgNode[], final: Final): GoValue {
    this.at = ident;
    const spec = FUNCS.get(ident.name);
    if (!spec) throw this.error(`${ident.name} is not a defined function`);
    const name = ident.name;
    const argNodes = args.slice(1);
    const numIn = argNodes.length + (final === MISSING ? 0 : 1);
    const numFixed = spec.params.length;
    if (spec.variadic !== undefined) {
      if (numIn < numFixed) throw this.error(`wrong number of args for ${name}: want at least ${numFixed} got ${argNodes.length}`);
    } else if (numIn !== numFixed) {
      throw this.error(`wrong number of args for ${name}: want ${numFixed} got ${numIn}`);
    }
    if (name === 'and' || name === 'or') {
      let v: GoValue = INVALID;
      for (const arg of argNodes) {
        v = this.evalArg(dot, 'value', arg);
        if (truth(indirectInterface(v)) === (name === 'or')) return v;
      }
      if (final !== MISSING) v = this.validateType(final, 'value');
      return v;
    }
    const argv: GoValue[] = [];
    let i = 0;
    for (; i < numFixed && i < argNodes.length; i++) argv.push(this.evalArg(dot, spec.params[i], argNodes[i]));
    if (spec.variadic !== undefined) for (; i < argNodes.length; i++) argv.push(this.evalArg(dot, spec.variadic, argNodes[i]));
    if (final !== MISSING) {
      let t: ParamType | undefined = spec.params[spec.params.length - 1];
      if (spec.variadic !== undefined) t = numIn - 1 < numFixed ? spec.params[numIn - 1] : spec.variadic;
      argv.push(this.validateType(final, t ?? 'any'));
    }
    try {
      return spec.call(argv, this.maxOutput);
    } catch (e) {
      if (e instanceof FuncError) {
        this.at = cmd;
        throw this.error(`error calling ${name}: ${e.message}`);
      }
      throw e;
    }
  }

  /** Evaluates an argument for a parameter type; `undefined` accepts any value unchanged. */
  private evalArg(dot: GoValue, type: ParamType | undefined, n: ArgNode): GoValue {
    this.at = n;
    switch (n.type) {
      case 'dot':
        return this.validateType(dot, type);
      case 'nil':
        if (type === undefined || type === 'value') return INVALID;
        if (type === 'any') return NIL;
        if (type === '[]string') return { kind: 'slice', type: '[]string', items: null };
        throw this.error(`cannot assign nil to ${type}`);
      case 'field':
        return this.validateType(this.evalFieldChain(dot, n, n.idents, [n], MISSING), type);
      case 'variable':
        return this.validateType(this.evalVariable(n, [n], MISSING), type);
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, n), type);
      case 'identifier':
        return this.validateType(this.evalFunction(dot, n, n, [n], MISSING), type);
      case 'chain':
        return this.validateType(this.evalChain(dot, n, [], MISSING), type);
    }
    const text = this.src.slice(n.pos, n.end);
    switch (type) {
      case 'string':
        if (n.type === 'string') return str(n.value);
        throw this.error(`expected string; found ${text}`);
      case 'int':
        if (n.type === 'number' && n.isInt) return int(n.int);
        throw this.error(`expected integer; found ${text}`);
      case '[]string':
        throw this.error(`can't handle ${text} for arg of type []string`);
    }
    switch (n.type) {
      case 'bool':
        return bool(n.value);
      case 'number':
        return this.idealConstant(n);
      case 'string':
        return str(n.value);
    }
  }

  /** Go's validateType: checks a computed value against a parameter type. */
  private validateType(value: GoValue, type: ParamType | undefined): GoValue {
    if (value.kind === 'invalid') {
      switch (type) {
        case undefined:
        case 'value':
          return INVALID;
        case 'any':
          return NIL;
        case '[]string':
          return { kind: 'slice', type: '[]string', items: null };
        default:
          throw this.error(`invalid value; expected ${type}`);
      }
    }
    if (type === undefined || type === 'value' || type === 'any') return value;
    const actual = value.kind === 'nil' ? 'interface {}' : typeName(value);
    if (actual !== type) throw this.error(`wrong type for value; expected ${type}; got ${actual}`);
    return value;
  }
}
