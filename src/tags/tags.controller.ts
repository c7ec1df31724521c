import { Controller, Delete, Query } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { REGISTRY_AUTH_HEADER, RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import type { RegistryAuth } from '../transports/transport';
import { DeletedTagDto, DeleteTagQueryDto } from './tags.dto';
import { TagsService } from './tags.service';

@ApiTags('images')
@Controller('v1/tags')
export class TagsController {
  constructor(private readonly tags: TagsService) {}

  /** Removes one tag; the manifest and its other tags stay. */
  @Delete()
  @ApiOperation({
    operationId: 'deleteTag',
    summary: 'Delete one tag, leaving other tags of the same manifest alone',
    description:
      "The registry's tag deletion when it has one; else the tag is moved to a unique empty manifest which is then deleted by digest. DELETE /v1/images (skopeo delete) instead deletes the manifest and with it every tag on it.",
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiOkResponse({ type: DeletedTagDto, description: 'The tag removed and the digest it pointed at' })
  @ApiProblems({
    action: 'deleting tags',
    scope: 'images:delete',
    answers: {
      400: 'The reference is not a docker:// image with a tag (a digest names no tag to remove)',
      403: "the tag is outside the caller's destination patterns, the egress policy refused the registry's address, or the registry denied the delete or the push of the placeholder manifest",
      404: 'No such tag (`IMAGE_NOT_FOUND`)',
      409: 'The registry can delete neither tags nor manifests (`UPSTREAM_UNSUPPORTED`), so the tag cannot go without the manifest',
      429: 'the registry rate-limited the tag delete (`RATE_LIMITED`)',
      502: 'The registry answered wrongly while the tag was being removed (TLS failure, protocol error)',
      503: 'The registry is unreachable (`UPSTREAM_UNAVAILABLE`)',
      504: 'The registry did not answer in time while the tag was being removed (`UPSTREAM_TIMEOUT`)',
    },
  })
  deleteTag(@Query() q: DeleteTagQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<DeletedTagDto> {
    return this.tags.deleteTag(principal, q.image, { auth, tlsVerify: q.tlsVerify, signal });
  }
}
