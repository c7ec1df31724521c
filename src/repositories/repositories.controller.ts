import { Controller, Get, Query } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import { REGISTRY_AUTH_HEADER } from '../referrers/referrers.controller';
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
  @ApiOkResponse({ type: RepositoryListDto })
  @ApiProblems(400, 403, 409, 429, 502, 503)
  listRepositories(@Query() q: RepositoriesQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<RepositoryListDto> {
    return this.repositories.list(principal, { registry: q.registry, pageSize: q.pageSize, pageToken: q.pageToken, tlsVerify: q.tlsVerify, auth, signal });
  }
}
