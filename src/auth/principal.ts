import { SCOPES, type Scope } from '../config/principals-file';
import { DomainError } from '../errors/domain-error';

/**
 * Who is calling, as a plain domain value. It is decided once, in `src/http` (a bearer token
 * → the principal named for it in the principals file, or a `SKIFF_API_TOKENS` full-access
 * principal, or the single local user when no token is configured), and passed into the use
 * cases, which check scopes and reference patterns themselves. Nothing here knows HTTP.
 */
export interface Principal {
  /** Stable name: from the principals file; `token-N` for the Nth SKIFF_API_TOKENS entry; `local` without tokens. */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /**
   * Reference patterns (e.g. `docker://registry.internal/team-a/**`, `oci:team-a/**`) this
   * principal may read from (sources) and write to or delete (destinations). Undefined = any.
   */
  readonly sources?: readonly string[];
  readonly destinations?: readonly string[];
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope);
}

/**
 * The caller is known but may not do this: a missing scope or a reference outside its
 * patterns. The message names the scope or the refusing pattern, never another principal's data.
 */
export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/** Throws ForbiddenError unless the principal has `scope`; `action` says what was attempted. */
export function requireScope(principal: Principal, scope: Scope, action: string): void {
  if (!hasScope(principal, scope)) {
    throw new ForbiddenError(`${action} needs the "${scope}" scope, which principal "${principal.name}" does not have`);
  }
}

/** Every scope: SKIFF_API_TOKENS principals and the single local user. */
export function fullAccessPrincipal(name: string): Principal {
  return { name, scopes: new Set(SCOPES) };
}
