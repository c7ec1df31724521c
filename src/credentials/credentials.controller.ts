import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { toRegistryAuth } from '../http/registry-auth-header';
import { CredentialService } from './credential.service';
import { CredentialSummaryDto, LoginDto, LoginQueryDto } from './credentials.dto';

const REGISTRY_PARAM = { name: 'registry', description: 'Registry host[:port], e.g. `registry.example:5000` or `docker.io`', example: '127.0.0.1:5000' };

@ApiTags('credentials')
@Controller('v1/credentials')
export class CredentialsController {
  constructor(private readonly credentials: CredentialService) {}

  /** skopeo login: checks the credentials against the registry, then stores them (needs `credentials:admin`). */
  @Put(':registry')
  @ApiOperation({ operationId: 'login', summary: 'Store credentials for a registry (skopeo login)' })
  @ApiParam(REGISTRY_PARAM)
  @ApiOkResponse({ type: CredentialSummaryDto })
  @ApiProblems(400, 403, 413, 415, 429, 502, 503)
  login(@Param('registry') registry: string, @Body() body: LoginDto, @Query() q: LoginQueryDto, @CurrentPrincipal() principal: Principal): Promise<CredentialSummaryDto> {
    const { usableBy, ...secret } = body;
    return this.credentials.login(principal, registry, toRegistryAuth(secret, 'body'), { tlsVerify: q.tlsVerify, usableBy });
  }

  /** skopeo logout: forgets the stored credentials (needs `credentials:admin`). */
  @Delete(':registry')
  @HttpCode(204)
  @ApiOperation({ operationId: 'logout', summary: 'Forget stored credentials (skopeo logout)' })
  @ApiParam(REGISTRY_PARAM)
  @ApiNoContentResponse({ description: 'Forgotten' })
  @ApiProblems(400, 403, 404, 429)
  async logout(@Param('registry') registry: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.credentials.logout(principal, registry);
  }

  /** The stored logins the caller may use (all of them for `credentials:admin`), with the user name only. */
  @Get()
  @ApiOperation({ operationId: 'listCredentials', summary: 'List stored logins (never secrets)' })
  @ApiOkResponse({ type: [CredentialSummaryDto] })
  @ApiProblems(429)
  list(@CurrentPrincipal() principal: Principal): Promise<CredentialSummaryDto[]> {
    return this.credentials.list(principal);
  }
}
