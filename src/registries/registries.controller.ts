import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { RegistryStatusDto } from './registries.dto';
import { RegistriesService } from './registries.service';

@ApiTags('registries')
@Controller('v1/registries')
export class RegistriesController {
  constructor(private readonly registries: RegistriesService) {}

  /**
   * What skiff knows of a registry from its own calls: reachable, auth scheme, rate limit
   * (limit, remaining, window), last error. Makes no request to the registry. Needs `images:read`.
   */
  @Get(':registry')
  @ApiOperation({ operationId: 'getRegistryStatus', summary: 'What skiff knows of a registry (reachability, auth scheme, rate limit, last error)' })
  @ApiParam({ name: 'registry', description: 'Registry host[:port], e.g. `registry.example:5000` or `docker.io`', example: 'docker.io' })
  @ApiOkResponse({ type: RegistryStatusDto })
  @ApiProblems(400, 403)
  get(@CurrentPrincipal() principal: Principal, @Param('registry') registry: string): RegistryStatusDto {
    return this.registries.status(principal, registry);
  }
}
