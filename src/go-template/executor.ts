/** The executor (mirrors text/template/exec.go). */

import { FmtUnsupported, fmtV } from './fmt';
import { digestMethod, FuncError, FUNCS, indirectInterface, type ParamType, TIME_METHOD_ARITY, TIME_METHODS, timeMethod } from './functions';
import { bool, float, type GoValue, int, INVALID, NIL, sortedKeys, str, truth, typeName } from './go-value';
import { type ArgNode, type BranchNode, type ChainNode, type CommandNode, type IdentifierNode, type NumberNode, type PipeNode, type Span, type TreeNode, type VariableNode } from './parse-tree';
import { OutputLimit, TemplateError, templateError, UNSUPPORTED } from './template-error';

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
            const got = Math.max(0, args.length - 1) + (final === MISSING ? 0 : 1);
            if (got !== 0) throw this.error(`wrong number of args for ${name}: want 0 got ${got}`);
            return result;
          }
        }
        break;
      case 'time': {
        if (!TIME_METHODS.has(name)) break;
        const arity = TIME_METHOD_ARITY.get(name);
        if (arity === undefined) throw this.error(`${UNSUPPORTED}: method ${name} of a time value`);
        // args holds the command's own words (the chain first) only for the last field of a chain
        const got = Math.max(0, args.length - 1) + (final === MISSING ? 0 : 1);
        if (got !== arity) throw this.error(`wrong number of args for ${name}: want ${arity} got ${got}`);
        let layout = '';
        if (arity === 1) {
          const arg = final !== MISSING ? final : args[1]!.type === 'string' ? str(args[1]!.value) : undefined;
          if (arg === undefined) throw this.error(`${UNSUPPORTED}: an argument of ${name} that is not a string literal or the pipeline's value`);
          const checked = this.validateType(arg, 'string');
          if (checked.kind === 'string') layout = checked.value;
        }
        // Go calls the value method through the *time.Time: a nil pointer panics, which the template reports.
        if (receiver.time === null) throw this.error(`error calling ${name}: value method time.Time.${name} called using nil *Time pointer`);
        return timeMethod(receiver.time, name, layout);
      }
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

