import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { access, constants, mkdir } from 'node:fs/promises';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { OperationsService } from '../operations/operations.service';

export class HealthDto {
  /** `ok` when alive. */
  @ApiProperty({ example: 'ok' })
  status: string;
}

export class ReadinessCheckDto {
  /** Check name: operationStore, dataDir, storageRoot. */
  @ApiProperty({ example: 'storageRoot' })
  name: string;

  /** Whether the check passed. */
  @ApiProperty()
  ok: boolean;

  /** Why it failed. */
  @ApiProperty({ required: false })
  detail?: string;
}

export class ReadinessDto {
  /** `ready` or `not ready`. */
  @ApiProperty({ example: 'ready' })
  status: string;

  @ApiProperty({ type: [ReadinessCheckDto] })
  checks: ReadinessCheckDto[];
}

@ApiTags('service')
@Controller()
export class HealthController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly operations: OperationsService,
  ) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  @ApiOperation({ operationId: 'getHealth', summary: 'Liveness probe' })
  @ApiOkResponse({ type: HealthDto })
  health(): HealthDto {
    return { status: 'ok' };
  }

  /** Readiness: the operations store answers; the data directory and the storage root are writable. */
  @Get('readyz')
  @HttpCode(200)
  @ApiOperation({ operationId: 'getReadiness', summary: 'Readiness probe' })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({ type: ReadinessDto })
  async ready(@Res({ passthrough: true }) res: Response): Promise<ReadinessDto> {
    const storeProblem = this.operations.storeProblem();
    const checks = [
      { name: 'operationStore', ok: storeProblem === undefined, ...(storeProblem ? { detail: storeProblem } : {}) },
      ...(await Promise.all([this.writable('dataDir', this.config.dataDir), this.writable('storageRoot', this.config.storageRoot)])),
    ];
    const ok = checks.every((c) => c.ok);
    res.status(ok ? 200 : 503);
    return { status: ok ? 'ready' : 'not ready', checks };
  }

  private async writable(name: string, dir: string): Promise<ReadinessCheckDto> {
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK | constants.R_OK);
      return { name, ok: true };
    } catch (e) {
      return { name, ok: false, detail: `${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
  }
}
