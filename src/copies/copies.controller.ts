import { Body, Controller, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../auth/principal';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import type { OperationDto } from '../operations/operations.dto';
import { OperationsService } from '../operations/operations.service';
import { answerSubmit, ApiSubmitResponses, SubmitPreferences, type SubmitPreferencesValue } from '../operations/submit-response';
import { CopyRequestDto } from './copies.dto';
import { CopiesService } from './copies.service';

@ApiTags('copies')
@Controller('v1/copies')
export class CopiesController {
  constructor(
    private readonly copies: CopiesService,
    private readonly operations: OperationsService,
  ) {}

  /** skopeo copy, as an operation: validated now, run by the worker, followed at Location. */
  @Post()
  @ApiOperation({
    operationId: 'createCopy',
    summary: 'Copy an image (skopeo copy) as a tracked operation',
    description:
      'Checks the request at once (references, paths, options, scopes and patterns), then runs the copy as an Operation: blobs first (skipped when present, mounted within a registry, else streamed and verified), manifests last, so a failed or cancelled copy never leaves a tag on a partial image. ' +
      'Follow it at Location (`waitSeconds` long-polls, `/events` streams). `Idempotency-Key` makes retries safe; `Prefer: wait=N` answers with the finished operation when it ends within N seconds.',
  })
  @ApiSubmitResponses({
    action: 'starting copies',
    what: 'copy request',
    answers: {
      400: 'The body is invalid: a missing or malformed reference, a storage path that leaves the storage root, options that exclude each other (preserveDigests with format or compression, platform without multiArch system, zstd with v2s2, …), or a transport that cannot be written to',
      403: "the source is outside the caller's source patterns or the destination outside its destination patterns, a transport is not enabled or needs `daemons`",
    },
  })
  async createCopy(
    @Body() body: CopyRequestDto,
    @SubmitPreferences() prefs: SubmitPreferencesValue,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<OperationDto> {
    const { request, secrets } = await this.copies.prepare(body, principal);
    return answerSubmit(this.operations, res, { principal, draft: { kind: 'copy', request }, labels: body.labels, secrets }, prefs);
  }
}
