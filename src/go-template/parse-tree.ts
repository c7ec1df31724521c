/** The parse tree the parser builds and the executor walks (text/template/parse/node.go, reduced). */

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
