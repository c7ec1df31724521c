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
  @ApiOperation({
    operationId: 'login',
    summary: 'Store credentials for a registry (skopeo login)',
    description: 'Checks the credentials against the registry (a token or an authenticated ping), then stores them, replacing earlier ones; `usableBy` names the principals that may use them (default: the admins).',
  })
  @ApiParam(REGISTRY_PARAM)
  @ApiOkResponse({ type: CredentialSummaryDto, description: 'The stored login, without its secret' })
  @ApiProblems({
    action: 'storing registry credentials',
    scope: 'credentials:admin',
    answers: {
      400: 'The registry is not a host[:port], the body is not `{username, password}` or `{identityToken}` (registry tokens cannot be stored), or `usableBy` names an unknown principal',
      403: "the registry rejected the credentials (`INVALID_CREDENTIALS`) or the egress policy refused the registry's address",
      413: 'The request body is larger than 1 MiB',
      415: 'The request body is not JSON (`Content-Type: application/json`)',
      429: 'the registry rate-limited the check (`RATE_LIMITED`)',
      502: 'The registry answered the credential check wrongly (TLS failure, protocol error)',
      503: 'The registry is unreachable, so the credentials could not be checked (`UPSTREAM_UNAVAILABLE`)',
      504: 'The registry did not answer the credential check in time (`UPSTREAM_TIMEOUT`)',
    },
  })
  login(@Param('registry') registry: string, @Body() body: LoginDto, @Query() q: LoginQueryDto, @CurrentPrincipal() principal: Principal): Promise<CredentialSummaryDto> {
    const { usableBy, ...secret } = body;
    return this.credentials.login(principal, registry, toRegistryAuth(secret, 'body'), { tlsVerify: q.tlsVerify, usableBy });
  }

  /** skopeo logout: forgets the stored credentials (needs `credentials:admin`). */
  @Delete(':registry')
  @HttpCode(204)
  @ApiOperation({ operationId: 'logout', summary: 'Forget stored credentials (skopeo logout)', description: 'Removes the stored login of the registry; operations already running keep the credentials they resolved.' })
  @ApiParam(REGISTRY_PARAM)
  @ApiNoContentResponse({ description: 'The stored login is forgotten' })
  @ApiProblems({
    action: 'forgetting registry credentials',
    scope: 'credentials:admin',
    answers: {
      400: 'The registry is not a host[:port]',
      404: 'No login is stored for the registry (`CREDENTIALS_NOT_FOUND`)',
    },
  })
  async logout(@Param('registry') registry: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.credentials.logout(principal, registry);
  }

  /** The stored logins the caller may use (all of them for `credentials:admin`), with the user name only. */
  @Get()
  @ApiOperation({ operationId: 'listCredentials', summary: 'List stored logins (never secrets)', description: 'The stored logins the caller may use (every one for `credentials:admin`), each with its registry and user name; never a password or token.' })
  @ApiOkResponse({ type: [CredentialSummaryDto], description: 'The stored logins the caller may use' })
  @ApiProblems({ action: 'listing stored logins', answers: {} })
  list(@CurrentPrincipal() principal: Principal): Promise<CredentialSummaryDto[]> {
    return this.credentials.list(principal);
  }
}
