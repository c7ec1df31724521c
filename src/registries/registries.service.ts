import { Injectable } from '@nestjs/common';
import { ForbiddenError, requireScope, type Principal } from '../auth/principal';
import { requireTreeAccess } from '../auth/reference-access';
import { normalizeRegistryKey } from '../credentials/auth-file';
import { InvalidArgumentError } from '../errors/domain-error';
import { parseDockerReference } from '../image-spec/docker-reference';
import { treeTarget } from '../image-spec/reference-pattern';
import { RegistryHttp } from '../transports/docker/registry-http';
import type { RegistryStatusDto } from './registries.dto';

/** GET /v1/registries/{registry}: what the registry client knows of a registry (no request is made). */
@Injectable()
export class RegistriesService {
  constructor(private readonly http: RegistryHttp) {}

  status(principal: Principal, registry: string): RegistryStatusDto {
    requireScope(principal, 'images:read', 'reading what skiff knows of a registry');
    const host = this.normalize(registry);
    const state = this.http.registryState(host);
    if (!state) return { registry: host };
    return {
      registry: host,
      ...(state.reachable !== undefined ? { reachable: state.reachable } : {}),
      ...(state.authScheme ? { authScheme: state.authScheme } : {}),
      ...(state.rateLimit ? { rateLimit: { ...state.rateLimit } } : {}),
      ...(state.lastError ? { lastError: this.seesAll(principal, host) ? { ...state.lastError } : { ...state.lastError, detail: `${state.lastError.code} (its detail names what was being done, which may be another caller's repository; it is shown to principals whose source patterns cover all of ${host})` } } : {}),
      ...(state.lastSeenAt ? { lastSeenAt: state.lastSeenAt } : {}),
    };
  }

  /** The registry's state is learnt from every caller's calls: their details only for a principal that may read all of it. */
  private seesAll(principal: Principal, host: string): boolean {
    try {
      requireTreeAccess(principal, 'source', treeTarget('docker', host));
      return true;
    } catch (e) {
      if (e instanceof ForbiddenError) return false;
      throw e;
    }
  }

  /** A registry name from the path: host[:port] as image references name it (docker.io aliases folded). */
  private normalize(registry: string): string {
    if (registry.includes('/') || registry.length > 255) throw new InvalidArgumentError(`invalid registry ${JSON.stringify(registry.slice(0, 300))}: expected host[:port]`);
    const host = normalizeRegistryKey(registry);
    let domain: string | undefined;
    try {
      domain = parseDockerReference(`${host}/skiff-probe`).domain;
    } catch {
      domain = undefined;
    }
    if (domain !== host) throw new InvalidArgumentError(`invalid registry ${JSON.stringify(registry.slice(0, 300))}: expected host[:port]`);
    return host;
  }
}
