import type { ValidationError } from 'class-validator';
import { DomainError } from '../errors/domain-error';

/** A request that failed DTO validation; carries one entry per invalid field. */
export class RequestValidationError extends DomainError {
  readonly errors: { field: string; message: string }[];

  constructor(errors: { field: string; message: string }[]) {
    super('INVALID_ARGUMENT', errors.map((e) => e.message).join('; ') || 'invalid request');
    this.errors = errors;
  }

  static fromClassValidator(errors: ValidationError[], parent = ''): RequestValidationError {
    const flat: { field: string; message: string }[] = [];
    const walk = (list: ValidationError[], prefix: string) => {
      for (const e of list) {
        const field = prefix ? `${prefix}.${e.property}` : e.property;
        for (const m of Object.values(e.constraints ?? {})) flat.push({ field, message: m });
        if (e.children?.length) walk(e.children, field);
      }
    };
    walk(errors, parent);
    return new RequestValidationError(flat);
  }
}
