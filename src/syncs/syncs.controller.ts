import { Body, Controller, Post, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../auth/principal';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import type { OperationDto } from '../operations/operations.dto';
import { OperationsService } from '../operations/operations.service';
import { answerSubmit, ApiSubmitResponses, SubmitPreferences, type SubmitPreferencesValue } from '../operations/submit-response';
import { SyncImageResultDto } from '../transfers/sync-operation.dto';
import { SyncRequestDto } from './syncs.dto';
import { SyncsService } from './syncs.service';

@ApiTags('syncs')
@ApiExtraModels(SyncImageResultDto)
@Controller('v1/syncs')
export class SyncsController {
  constructor(
    private readonly syncs: SyncsService,
    private readonly operations: OperationsService,
  ) {}

  /**
   * skopeo sync, as an operation: validated now (types, references, paths, the YAML document),
   * run by the worker, followed at Location. The finished operation's `result.images` lists
   * every image (SyncImageResult), `result.counts` how many ended in each state.
   */
  @Post()
  @ApiOperation({
    operationId: 'createSync',
    summary: 'Mirror repositories or registries (skopeo sync) as a tracked operation',
    description:
      "skopeo sync as one Operation: a repository, a YAML document or a dir: tree mirrored into a registry namespace or a dir: tree. Everything is checked before it is queued (types, references, paths, the whole YAML document). " +
      'The finished operation lists every image in `result.images` (also paged at /v1/operations/{id}/images) and counts them in `result.counts`.',
  })
  @ApiSubmitResponses({
    action: 'starting syncs',
    what: 'sync request',
    answers: {
      400: 'The body is invalid: source and sourceType disagree, the YAML document has an unknown key, an invalid name, tag, regex or semver constraint, a cert-dir outside SKIFF_SYNC_CERT_DIRS, or options exclude each other (dir to dir, platforms with all, …)',
      403: "a source registry or repository is outside the caller's source patterns, the destination outside its destination patterns, or a transport is not enabled",
    },
  })
  async createSync(
    @Body() body: SyncRequestDto,
    @SubmitPreferences() prefs: SubmitPreferencesValue,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<OperationDto> {
    const { request, secrets } = await this.syncs.prepare(body, principal);
    return answerSubmit(this.operations, res, { principal, draft: { kind: 'sync', request }, labels: body.labels, secrets }, prefs);
  }
}
