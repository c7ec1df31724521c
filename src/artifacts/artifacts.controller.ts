import { Controller, Get, Headers, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems, upstreamReadAnswers } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { entityTag, ifNoneMatchHits } from '../http/passthrough';
import { REGISTRY_AUTH_HEADER, RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
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
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description: 'An ETag of an earlier answer: 304 Not Modified (no body) when the manifest is still the same.',
    schema: { type: 'string', example: 'W/"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"' },
  })
  @ApiOkResponse({
    type: ArtifactDescriptorDto,
    description: 'The manifest as descriptors',
    headers: { ETag: { description: 'The manifest digest as a weak entity tag (the body is derived from the manifest)', schema: { type: 'string', example: 'W/"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"' } } },
  })
  @ApiResponse({
    status: 304,
    description: 'The manifest still has the digest If-None-Match named: no body',
    headers: { ETag: { description: 'The manifest digest as a weak entity tag', schema: { type: 'string', example: 'W/"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"' } } },
  })
  @ApiProblems({
    action: 'describing images',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the manifest'),
      400: 'The image reference is invalid or a storage path leaves the storage root',
      404: 'No such image, index or artifact (`IMAGE_NOT_FOUND`)',
    },
  })
  async describeImage(
    @Query() q: DescriptorQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ArtifactDescriptorDto | undefined> {
    const described = await this.artifacts.describe(principal, q.image, { auth, tlsVerify: q.tlsVerify, signal });
    const etag = entityTag(described.digest, { weak: true });
    res.setHeader('ETag', etag);
    if (ifNoneMatchHits(ifNoneMatch, etag)) {
      res.status(304);
      return undefined;
    }
    return described;
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
  @ApiOkResponse({ type: ImageDigestDto, description: 'The digest the reference resolves to, with its media type' })
  @ApiProblems({
    action: 'resolving digests',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the digest'),
      400: 'The image reference or a platform field is invalid, or a storage path leaves the storage root',
      404: 'No manifest under that tag or digest (`IMAGE_NOT_FOUND`), or the index has no instance for the requested os/arch/variant (`PLATFORM_NOT_FOUND`)',
    },
  })
  getImageDigest(@Query() q: DigestQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<ImageDigestDto> {
    return this.artifacts.digest(principal, q.image, { os: q.os, architecture: q.arch, variant: q.variant }, { auth, tlsVerify: q.tlsVerify, signal });
  }
}
