import { Body, Controller, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
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
  @ApiOperation({ operationId: 'createCopy', summary: 'Copy an image (skopeo copy) as a tracked operation' })
  @ApiSubmitResponses()
  @ApiProblems(400, 409, 413, 415, 501)
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
