import { createHash, timingSafeEqual } from 'node:crypto';
import type { PrincipalSpec } from '../config/principals-file';
import { fullAccessPrincipal, type Principal } from './principal';
import { compiledPatterns } from './reference-access';

/**
 * Every principal the service knows: the SKIFF_API_TOKENS entries (`token-1`, `token-2`, …,
 * full access) and the principals file's callers. Built once at boot from the configuration.
 *
 * Contract: `authenticate` compares the sha256 of the presented token with every known digest
 * in constant time (no early exit, equal-length digests), so neither the token's length nor
 * which principal matched leaks through timing. No token is kept, only digests.
 */
export class PrincipalDirectory {
  private readonly entries: { digest: Buffer; principal: Principal }[] = [];
  private readonly byNameMap = new Map<string, Principal>();
  /** Whether any principal comes from the principals file (otherwise every principal has full access). */
  private readonly restricted: boolean;

  constructor(opts: { apiTokens: readonly string[]; principals: readonly PrincipalSpec[] }) {
    opts.apiTokens.forEach((token, i) => this.add(createHash('sha256').update(token).digest(), fullAccessPrincipal(`token-${i + 1}`)));
    for (const p of opts.principals) {
      const principal: Principal = {
        name: p.name,
        scopes: new Set(p.scopes),
        ...(p.sources !== undefined ? { sources: [...p.sources] } : {}),
        ...(p.destinations !== undefined ? { destinations: [...p.destinations] } : {}),
      };
      // the reference patterns are compiled here, once, and reused by every check
      compiledPatterns(principal, 'source');
      compiledPatterns(principal, 'destination');
      this.add(Buffer.from(p.tokenSha256, 'hex'), principal);
    }
    this.restricted = opts.principals.length > 0;
  }

  private add(digest: Buffer, principal: Principal): void {
    this.entries.push({ digest, principal });
    this.byNameMap.set(principal.name, principal);
  }

  /** True when callers must present a token (tokens or principals are configured): the shared-service mode. */
  get shared(): boolean {
    return this.entries.length > 0;
  }

  /** The principal a bearer token belongs to, or undefined. */
  authenticate(token: string): Principal | undefined {
    const given = createHash('sha256').update(token).digest();
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(e.digest, given)) found = e.principal;
    }
    return found;
  }

  /** A configured principal by name (operations run later in the name of who submitted them). */
  byName(name: string): Principal | undefined {
    return this.byNameMap.get(name);
  }

  has(name: string): boolean {
    return this.byNameMap.has(name);
  }

  /**
   * The principal an operation runs in the name of, by the name recorded when it was
   * submitted: without tokens and principals, the local user; with SKIFF_API_TOKENS only (every
   * principal has full access), that principal or a full-access one; otherwise the configured
   * principal, or, when the name is unknown (removed from the file, or not recorded), a
   * principal of that name with no scope and no reference, which can use nothing stored.
   */
  actingAs(name: string | undefined): Principal {
    if (!this.shared) return fullAccessPrincipal('local');
    if (!this.restricted) return (name !== undefined ? this.byNameMap.get(name) : undefined) ?? fullAccessPrincipal(name ?? 'token');
    return (name !== undefined ? this.byNameMap.get(name) : undefined) ?? { name: name ?? 'unknown', scopes: new Set(), sources: [], destinations: [] };
  }
}
