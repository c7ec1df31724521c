/** Errors of the Go-template library, positioned in the template text. */

import { DomainError } from '../errors/domain-error';

/** Raised for malformed or unsupported templates and for template execution errors. */
export class TemplateError extends DomainError {
  /** 1-based line of the template position the error refers to. */
  readonly line: number;
  /** 1-based column (UTF-16 code units) of the template position the error refers to. */
  readonly column: number;

  constructor(message: string, line: number, column: number) {
    super('INVALID_TEMPLATE', message);
    this.line = line;
    this.column = column;
  }
}

/** How deep templates (parenthesised pipelines, control structures) and data may nest. */
export const MAX_NESTING = 500;
/** The message prefix for constructs outside the supported subset. */
export const UNSUPPORTED = 'unsupported template syntax';

function positionOf(src: string, offset: number): { line: number; column: number } {
  const before = src.slice(0, Math.max(0, Math.min(offset, src.length)));
  const lastNewline = before.lastIndexOf('\n');
  let line = 1;
  for (let i = 0; i < before.length; i++) if (before.charCodeAt(i) === 10) line++;
  return { line, column: before.length - lastNewline };
}

export function templateError(src: string, offset: number, message: string): TemplateError {
  const { line, column } = positionOf(src, offset);
  return new TemplateError(`template: ${line}:${column}: ${message}`, line, column);
}

/** Raised when the output (or a function result) would exceed the output limit; the executor reports it. */
export class OutputLimit extends Error {}
