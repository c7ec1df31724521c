import { Controller, Delete, Get, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import type { RegistryAuth } from '../transports/transport';
import { DeletedImageDto, DeleteQueryDto, InspectOutputDto, InspectQueryDto, TagListDto, TagsQueryDto } from './images.dto';
import { ImagesService } from './images.service';

const REGISTRY_AUTH_HEADER = {
  name: 'X-Registry-Auth',
  required: false,
  description: 'Registry credentials: base64 of {"username","password"}, {"identitytoken"} or {"registrytoken"}',
};

@ApiTags('images')
@ApiExtraModels(InspectOutputDto)
@Controller('v1/images')
export class ImagesController {
  constructor(private readonly images: ImagesService) {}

  /** skopeo inspect: the image's metadata, raw manifest, or config. */
  @Get('inspect')
  @ApiOperation({ operationId: 'inspectImage', summary: 'Inspect an image (skopeo inspect)' })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({
    description:
      'skopeo inspect JSON; with config=true the OCI image config; with raw=true the stored bytes (manifest, or config with config=true) under their own media type; with format the rendered text',
    content: {
      'application/json': { schema: { oneOf: [{ $ref: getSchemaPath(InspectOutputDto) }, { type: 'object', additionalProperties: true, description: 'OCI image config (config=true)' }] } },
      'text/plain': { schema: { type: 'string' } },
      'application/vnd.oci.image.manifest.v1+json': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @ApiProblems(400, 403, 404, 409, 422, 429, 501, 502, 503)
  async inspectImage(
    @Query() q: InspectQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<InspectOutputDto | Record<string, unknown> | StreamableFile | string> {
    const result = await this.images.inspect({
      principal,
      image: q.image,
      raw: q.raw,
      config: q.config,
      platform: { os: q.os, architecture: q.arch, variant: q.variant },
      noTags: q.noTags,
      format: q.format,
      tlsVerify: q.tlsVerify,
      auth,
      signal,
    });
    switch (result.kind) {
      case 'raw':
        res.setHeader('Docker-Content-Digest', result.digest);
        return new StreamableFile(result.bytes, { type: result.mediaType, length: result.bytes.length });
      case 'text':
        res.type('text/plain; charset=utf-8');
        return result.text;
      case 'config':
        return result.config;
      case 'inspect':
        return result.output;
    }
  }

  /** skopeo list-tags: every tag of a repository, following pagination. */
  @Get('tags')
  @ApiOperation({ operationId: 'listTags', summary: 'List the tags of a repository (skopeo list-tags)' })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: TagListDto })
  @ApiProblems(400, 403, 404, 409, 422, 429, 501, 502, 503)
  listTags(
    @Query() q: TagsQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @CurrentPrincipal() principal: Principal,
  ): Promise<TagListDto> {
    return this.images.listTags(q.repository, { principal, auth, tlsVerify: q.tlsVerify, signal }, { include: q.include, exclude: q.exclude, excludeDigestTags: q.excludeDigestTags });
  }

  /** skopeo delete: deletes the manifest a tag or digest points at. */
  @Delete()
  @ApiOperation({ operationId: 'deleteImage', summary: 'Delete an image (skopeo delete)' })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: DeletedImageDto })
  @ApiProblems(400, 403, 404, 409, 422, 429, 501, 502, 503)
  deleteImage(
    @Query() q: DeleteQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeletedImageDto> {
    return this.images.delete(q.image, { principal, auth, tlsVerify: q.tlsVerify, signal });
  }
}
