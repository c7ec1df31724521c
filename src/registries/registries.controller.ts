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
  @ApiOperation({
    operationId: 'getRegistryStatus',
    summary: 'What skiff knows of a registry (reachability, auth scheme, rate limit, last error)',
    description: "Learnt from skiff's own calls to the registry (no request is made to answer this): whether it was reachable, the auth scheme it challenged with, its announced rate limit (limit, remaining, window) and the last error. A registry never called is answered with nothing known.",
  })
  @ApiParam({ name: 'registry', description: 'Registry host[:port], e.g. `registry.example:5000` or `docker.io`', example: 'docker.io' })
  @ApiOkResponse({ type: RegistryStatusDto, description: "What skiff's own calls have learnt of the registry" })
  @ApiProblems({
    action: 'reading registry status',
    scope: 'images:read',
    answers: {
      400: 'The registry is not a host[:port]',
    },
  })
  get(@CurrentPrincipal() principal: Principal, @Param('registry') registry: string): RegistryStatusDto {
    return this.registries.status(principal, registry);
  }
}
