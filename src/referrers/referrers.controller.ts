import { Controller, Get, Query } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems, upstreamReadAnswers } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { REGISTRY_AUTH_HEADER, RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import type { RegistryAuth } from '../transports/transport';
import { ReferrersListDto, ReferrersQueryDto } from './referrers.dto';
import { ReferrersService } from './referrers.service';

@ApiTags('images')
@Controller('v1/images')
export class ReferrersController {
  constructor(private readonly referrers: ReferrersService) {}

  /** The signatures, SBOMs and attestations that refer to an image. */
  @Get('referrers')
  @ApiOperation({
    operationId: 'listReferrers',
    summary: 'List the referrers of an image (signatures, SBOMs, attestations)',
    description:
      'Manifests whose OCI 1.1 `subject` is the image: through the registry referrers API when it serves one, else the fallback `sha256-<hex>` tag index; plus cosign-style digest tags (`sha256-<hex>.sig`, `.att`, `.sbom`). For `oci:` layouts, the index.json entries with that subject.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: ReferrersListDto, description: 'The image digest and the manifests that refer to it' })
  @ApiProblems({
    action: 'listing referrers',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the referrers'),
      400: 'The image reference or `artifactType` is invalid, or the transport keeps no referrers (only docker:// and oci: do)',
      404: 'No such image (`IMAGE_NOT_FOUND`)',
    },
  })
  listReferrers(
    @Query() q: ReferrersQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ReferrersListDto> {
    return this.referrers.list(principal, { image: q.image, artifactType: q.artifactType, tlsVerify: q.tlsVerify, auth, signal });
  }
}
