import { Controller, Delete, Get, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../auth/principal';
import { ApiProblems, upstreamReadAnswers } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { setPassthroughHeaders } from '../http/passthrough';
import { REGISTRY_AUTH_HEADER, RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import type { RegistryAuth } from '../transports/transport';
import { DeletedImageDto, DeleteQueryDto, InspectOutputDto, InspectQueryDto, InspectTextQueryDto, TagListDto, TagsQueryDto } from './images.dto';
import { ImagesService } from './images.service';

const NO_SUCH_IMAGE = 'no such image (`IMAGE_NOT_FOUND`), or a multi-arch image has no instance for the requested os/arch/variant (`PLATFORM_NOT_FOUND`)';

/** skopeo inspect, list-tags and delete. The manifest, config and blobs are ImageContentController's. */
@ApiTags('images')
@Controller('v1/images')
export class ImagesController {
  constructor(private readonly images: ImagesService) {}

  /** skopeo inspect: the image's metadata as skopeo's JSON. */
  @Get('inspect')
  @ApiOperation({
    operationId: 'inspectImage',
    summary: 'Inspect an image (skopeo inspect)',
    description:
      "skopeo inspect's JSON, field for field (PascalCase). For a multi-arch image the instance is the one skopeo chooses: the server's platform, or os/arch/variant. " +
      'The manifest bytes, the config and the text rendering are their own operations (getImageManifest, getImageConfig, inspectImageText); the old `raw`, `config` and `format` parameters are refused with a 400 naming them.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: InspectOutputDto, description: "The image's metadata, as `skopeo inspect` prints it" })
  @ApiProblems({
    action: 'inspecting an image',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the image'),
      400: 'The image reference or a platform field is invalid, a storage path leaves the storage root, the image is an artifact or a schema1 image skopeo cannot inspect, or `raw`, `config` or `format` was sent (those moved to their own operations)',
      404: NO_SUCH_IMAGE,
    },
  })
  inspectImage(
    @Query() q: InspectQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @CurrentPrincipal() principal: Principal,
  ): Promise<InspectOutputDto> {
    return this.images.inspect({ principal, image: q.image, platform: { os: q.os, architecture: q.arch, variant: q.variant }, noTags: q.noTags, tlsVerify: q.tlsVerify, auth, signal });
  }

  /** skopeo inspect --format: a Go template over the inspect fields, as text/plain. */
  @Get('inspect/text')
  @ApiOperation({
    operationId: 'inspectImageText',
    summary: 'Render a Go template over the inspect fields (skopeo inspect --format)',
    description:
      'The template runs over the same fields inspectImage answers, with the functions skopeo installs (json, join, lower, upper, title, split, pad, truncate and the Go builtins). `\\t` becomes a tab and a final newline is added, as the skopeo CLI does. ' +
      'Syntax outside the supported subset (define, template, block, html, js, call, …) is a 400 before anything is read.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'The rendered template (text/plain; charset=utf-8), exactly what `skopeo inspect --format` prints',
    content: { 'text/plain': { schema: { type: 'string', example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae arm64\n' } } },
    headers: {
      'X-Content-Type-Options': { description: 'Always `nosniff`: the text carries upstream data (labels, names) and is never to be sniffed as HTML', schema: { type: 'string', enum: ['nosniff'] } },
      'Content-Security-Policy': { description: "Always `default-src 'none'`: nothing in the text may run or load in a browser", schema: { type: 'string', example: "default-src 'none'" } },
    },
  })
  @ApiProblems({
    action: 'rendering inspect templates',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the image'),
      400: 'The template is malformed or uses unsupported syntax, or fails while running (`INVALID_TEMPLATE`, with the line and column); or the image reference or a platform field is invalid',
      404: NO_SUCH_IMAGE,
    },
  })
  async inspectImageText(
    @Query() q: InspectTextQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<string> {
    const text = await this.images.inspectText({ principal, image: q.image, format: q.format, platform: { os: q.os, architecture: q.arch, variant: q.variant }, noTags: q.noTags, tlsVerify: q.tlsVerify, auth, signal });
    res.type('text/plain; charset=utf-8');
    setPassthroughHeaders(res);
    return text;
  }

  /** skopeo list-tags: every tag of a repository, following pagination. */
  @Get('tags')
  @ApiOperation({
    operationId: 'listTags',
    summary: 'List the tags of a repository (skopeo list-tags)',
    description:
      "skopeo list-tags' JSON: every tag of a registry repository (the registry's pages followed, on the same host only) or every `name:tag` of a docker-archive. `include`/`exclude` globs and `excludeDigestTags` narrow the list.",
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: TagListDto, description: 'The repository and its tags' })
  @ApiProblems({
    action: 'listing tags',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the tag list'),
      400: 'The repository has a tag or digest, its transport has no tag list (only docker:// and docker-archive: do), or a glob is invalid',
      403: "the repository is not wholly inside the caller's source patterns, its transport is not enabled, the egress policy refused the registry's address, or the registry denied the tag list",
      404: 'No such repository or archive (`IMAGE_NOT_FOUND`)',
    },
  })
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
  @ApiOperation({
    operationId: 'deleteImage',
    summary: 'Delete an image (skopeo delete)',
    description:
      'Resolves a tag to its digest and deletes that manifest, so every tag on it goes too (DELETE /v1/tags removes one tag only). On an `oci:` layout the entry goes, with the blobs nothing else references.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: DeletedImageDto, description: 'The manifest digest that was deleted' })
  @ApiProblems({
    action: 'deleting images',
    scope: 'images:delete',
    answers: {
      400: 'The image reference is invalid or its transport cannot delete (only docker:// and oci: can, as with skopeo)',
      403: "the image is outside the caller's destination patterns, its transport is not enabled, the egress policy refused the registry's address, or the registry denied the delete (`REGISTRY_DENIED`, `INVALID_CREDENTIALS`)",
      404: 'No such image to delete (`IMAGE_NOT_FOUND`)',
      409: 'The registry does not allow deletes (`UPSTREAM_UNSUPPORTED`: HTTP 405 from the registry), or the layout is being written by another operation',
      422: 'The `oci:` layout is malformed (`LAYOUT_INVALID`)',
      429: 'the registry rate-limited the delete (`RATE_LIMITED`)',
      502: 'The registry answered the delete wrongly (TLS failure, protocol error)',
      503: 'The registry is unreachable (`UPSTREAM_UNAVAILABLE`)',
      504: 'The registry did not answer the delete in time (`UPSTREAM_TIMEOUT`)',
    },
  })
  deleteImage(
    @Query() q: DeleteQueryDto,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeletedImageDto> {
    return this.images.delete(q.image, { principal, auth, tlsVerify: q.tlsVerify, signal });
  }
}
