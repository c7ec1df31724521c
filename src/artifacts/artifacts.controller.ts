import { Controller, Get, Query } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import { REGISTRY_AUTH_HEADER } from '../referrers/referrers.controller';
import type { RegistryAuth } from '../transports/transport';
import { ArtifactDescriptorDto, DescriptorQueryDto, DigestQueryDto, ImageDigestDto } from './artifacts.dto';
import { ArtifactsService } from './artifacts.service';

@ApiTags('images')
@Controller('v1/images')
export class ArtifactsController {
  constructor(private readonly artifacts: ArtifactsService) {}

  /** What any manifest is: image, index or artifact (Helm chart, SBOM, WASM), as descriptors. */
  @Get('descriptor')
  @ApiOperation({
    operationId: 'describeImage',
    summary: 'Describe any image, index or artifact',
    description: "Media type, digest, size, artifactType, annotations, subject, config, layers and platforms of any manifest, including artifacts whose config is not an image config (which skopeo's inspect refuses).",
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: ArtifactDescriptorDto })
  @ApiProblems(400, 403, 404, 409, 422, 429, 501, 502, 503)
  describeImage(@Query() q: DescriptorQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<ArtifactDescriptorDto> {
    return this.artifacts.describe(principal, q.image, { auth, tlsVerify: q.tlsVerify, signal });
  }

  /** The digest a tag resolves to, from one HEAD (no pull counted). */
  @Get('digest')
  @ApiOperation({
    operationId: 'getImageDigest',
    summary: 'Resolve an image reference to its digest (one HEAD)',
    description:
      'On a registry: one HEAD request, which registries that meter pulls do not count. With os/arch/variant on a multi-arch image, the index is read once (a GET) to choose the instance, as skopeo --override-* chooses it.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: ImageDigestDto })
  @ApiProblems(400, 403, 404, 409, 422, 429, 501, 502, 503)
  getImageDigest(@Query() q: DigestQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<ImageDigestDto> {
    return this.artifacts.digest(principal, q.image, { os: q.os, architecture: q.arch, variant: q.variant }, { auth, tlsVerify: q.tlsVerify, signal });
  }
}
