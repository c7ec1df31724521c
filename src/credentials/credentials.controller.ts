import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../http/api-problems.decorator';
import { toRegistryAuth } from './registry-auth-header';
import { CredentialService } from './credential.service';
import { CredentialSummaryDto, LoginDto, LoginQueryDto } from './credentials.dto';

const REGISTRY_PARAM = { name: 'registry', description: 'Registry host[:port], e.g. `registry.example:5000` or `docker.io`', example: '127.0.0.1:5000' };

@ApiTags('credentials')
@Controller('v1/credentials')
export class CredentialsController {
  constructor(private readonly credentials: CredentialService) {}

  /** skopeo login: checks the credentials against the registry, then stores them. */
  @Put(':registry')
  @ApiOperation({ operationId: 'login', summary: 'Store credentials for a registry (skopeo login)' })
  @ApiParam(REGISTRY_PARAM)
  @ApiOkResponse({ type: CredentialSummaryDto })
  @ApiProblems(400, 403, 502, 503)
  login(@Param('registry') registry: string, @Body() body: LoginDto, @Query() q: LoginQueryDto): Promise<CredentialSummaryDto> {
    return this.credentials.login(registry, toRegistryAuth(body, 'body'), { tlsVerify: q.tlsVerify });
  }

  /** skopeo logout: forgets the stored credentials. */
  @Delete(':registry')
  @HttpCode(204)
  @ApiOperation({ operationId: 'logout', summary: 'Forget stored credentials (skopeo logout)' })
  @ApiParam(REGISTRY_PARAM)
  @ApiNoContentResponse({ description: 'Forgotten' })
  @ApiProblems(400, 404)
  async logout(@Param('registry') registry: string): Promise<void> {
    await this.credentials.logout(registry);
  }

  /** Every registry we hold credentials for, with the user name only. */
  @Get()
  @ApiOperation({ operationId: 'listCredentials', summary: 'List stored logins (never secrets)' })
  @ApiOkResponse({ type: [CredentialSummaryDto] })
  @ApiProblems()
  list(): Promise<CredentialSummaryDto[]> {
    return this.credentials.list();
  }
}
