import { Injectable } from '@nestjs/common';
import { type Principal, requireScope } from '../auth/principal';
import { referenceAllowed } from '../auth/reference-access';
import { dockerRepositoryTarget } from '../image-spec/reference-pattern';
import { CredentialService } from '../credentials/credential.service';
import { InvalidArgumentError } from '../errors/domain-error';
import { parseDockerReference } from '../image-spec/docker-reference';
import { DockerTransport } from '../transports/docker/docker.transport';
import type { RegistryAuth } from '../transports/transport';

export interface CatalogRequest {
  registry: string;
  pageSize?: number;
  pageToken?: string;
  auth?: RegistryAuth;
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

/** A registry's catalog (`/v2/_catalog`), one page at a time (GET /v1/repositories). */
@Injectable()
export class RepositoriesService {
  constructor(
    private readonly docker: DockerTransport,
    private readonly credentials: CredentialService,
  ) {}

  async list(principal: Principal, req: CatalogRequest): Promise<{ registry: string; repositories: string[]; nextPageToken?: string }> {
    requireScope(principal, 'images:read', 'listing repositories');
    let domain: string;
    try {
      domain = parseDockerReference(`${req.registry}/probe`).domain;
    } catch {
      domain = '';
    }
    if (domain !== req.registry.toLowerCase() || domain === '') {
      throw new InvalidArgumentError(`registry must be a registry host, host[:port] (got ${JSON.stringify(req.registry.slice(0, 300))})`);
    }
    const ext = await this.docker.extensions(domain, { credentials: this.credentials.resolver(principal, req.auth), tlsVerify: req.tlsVerify, signal: req.signal });
    const page = await ext.catalog({ pageSize: req.pageSize, last: req.pageToken, signal: req.signal });
    const last = page.repositories.at(-1);
    // A principal sees the repositories its source patterns cover; paging still follows the registry's pages.
    const visible = page.repositories.filter((r) => referenceAllowed(principal, 'source', dockerRepositoryTarget(parseDockerReference(`${domain}/${r}`))));
    return { registry: req.registry, repositories: visible, ...(page.more && last ? { nextPageToken: last } : {}) };
  }
}
