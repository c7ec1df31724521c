/** The parser (mirrors text/template/parse/parse.go). */

import { FUNCS } from './functions';
import { Lexer, type Token, type TokenKind } from './lexer';
import { type ArgNode, type BranchNode, type CommandNode, type Delimiter, isDelimiter, type NumberNode, type PipeNode, type TreeNode } from './parse-tree';
import { goQuote, INT64_MAX, INT64_MIN, parseGoFloat, parseGoInteger, SyntaxErr, UINT64_MAX, unquoteChar, unquoteInterpreted } from './strconv';
import { MAX_NESTING, TemplateError, templateError, UNSUPPORTED } from './template-error';

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
