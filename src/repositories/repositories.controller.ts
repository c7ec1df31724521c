import { Controller, Get, Query } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { REGISTRY_AUTH_HEADER, RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import type { RegistryAuth } from '../transports/transport';
import { RepositoriesQueryDto, RepositoryListDto } from './repositories.dto';
import { RepositoriesService } from './repositories.service';

@ApiTags('repositories')
@Controller('v1/repositories')
export class RepositoriesController {
  constructor(private readonly repositories: RepositoriesService) {}

  /** One page of a registry's catalog. */
  @Get()
  @ApiOperation({
    operationId: 'listRepositories',
    summary: "List a registry's repositories (its catalog), a page at a time",
    description: '`/v2/_catalog` with `n` = pageSize and `last` = pageToken. A registry that does not serve its catalog answers 409 UPSTREAM_UNSUPPORTED; one that refuses it, 403.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: RepositoryListDto, description: 'One page of the catalog' })
  @ApiProblems({
    action: 'listing repositories',
    scope: 'images:read',
    answers: {
      400: 'The registry name, pageSize or pageToken is invalid',
      403: "the egress policy refused the registry's address (`EGRESS_REFUSED`), or the registry refused its catalog (`REGISTRY_DENIED`, `INVALID_CREDENTIALS`); repositories outside the caller's source patterns are left out of the page, not refused",
      409: 'The registry does not serve its catalog (`UPSTREAM_UNSUPPORTED`)',
      429: 'the registry rate-limited the catalog request (`RATE_LIMITED`)',
      502: 'The registry answered the catalog request wrongly (TLS failure, an unreadable page)',
      503: 'The registry is unreachable (`UPSTREAM_UNAVAILABLE`)',
      504: 'The registry did not send the catalog page in time (`UPSTREAM_TIMEOUT`)',
    },
  })
  listRepositories(@Query() q: RepositoriesQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<RepositoryListDto> {
    return this.repositories.list(principal, { registry: q.registry, pageSize: q.pageSize, pageToken: q.pageToken, tlsVerify: q.tlsVerify, auth, signal });
  }
}
