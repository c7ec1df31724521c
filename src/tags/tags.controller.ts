import { Controller, Delete, Query } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import { REGISTRY_AUTH_HEADER } from '../referrers/referrers.controller';
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
  @ApiOkResponse({ type: DeletedTagDto })
  @ApiProblems(400, 403, 404, 409, 429, 502, 503)
  deleteTag(@Query() q: DeleteTagQueryDto, @RegistryAuthHeader() auth: RegistryAuth | undefined, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<DeletedTagDto> {
    return this.tags.deleteTag(principal, q.image, { auth, tlsVerify: q.tlsVerify, signal });
  }
}
