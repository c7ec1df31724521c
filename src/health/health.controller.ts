import { applyDecorators, Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiProperty, ApiResponse, ApiServiceUnavailableResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from '../http/problem';
import type { Response } from 'express';
import { access, constants, mkdir } from 'node:fs/promises';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ANONYMOUS_PRINCIPAL, CurrentPrincipal } from '../http/current-principal.decorator';
import { TransportRegistry } from '../transports/transport-registry';
import { OperationsService } from '../operations/operations.service';
import { LocalStorage } from '../storage/local-storage';
import { fsErrorCode } from '../storage/storage-errors';
import { ContainersStorageTransport } from '../transports/containers-storage/containers-storage.transport';
import { DockerDaemonTransport } from '../transports/docker-daemon/docker-daemon.transport';

export class HealthDto {
  /** `ok` when alive. */
  @ApiProperty({ example: 'ok' })
  status: string;
}

export class ReadinessCheckDto {
  /** Check name: operationStore, dataDir, storageRoot, diskSpace; dockerDaemon and podman (informational). */
  @ApiProperty({ example: 'storageRoot' })
  name: string;

  /** Whether the check passed. */
  @ApiProperty()
  ok: boolean;

  /** Why it failed. */
  @ApiProperty({ required: false })
  detail?: string;

  /** Informational: a failing optional check (an absent image daemon) does not make the service not ready. */
  @ApiProperty({ required: false })
  optional?: boolean;
}

export class ReadinessDto {
  /** `ready` or `not ready`. */
  @ApiProperty({ example: 'ready' })
  status: string;

  @ApiProperty({ type: [ReadinessCheckDto] })
  checks: ReadinessCheckDto[];
}

/** The refusals an open probe can meet: a malformed request, and the Host check of a service without tokens (DNS rebinding). */
function ApiProbeRefusals(probe: string): MethodDecorator {
  const problem = { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } };
  return applyDecorators(
    ApiResponse({ status: 400, description: `The request for ${probe} is malformed, or its query string has more than 64 parameters`, content: problem }),
    ApiResponse({
      status: 403,
      description: `On a service without tokens, the Host header of the request for ${probe} named no loopback address, SKIFF_HOST or SKIFF_ALLOWED_HOSTS (\`FORBIDDEN\`)`,
      content: problem,
    }),
  );
}

@ApiTags('service')
@ApiExtraModels(ProblemDto)
@Controller()
export class HealthController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly operations: OperationsService,
    private readonly dockerDaemon: DockerDaemonTransport,
    private readonly containersStorage: ContainersStorageTransport,
    private readonly storage: LocalStorage,
    private readonly transports: TransportRegistry,
  ) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  @ApiOperation({ operationId: 'getHealth', summary: 'Liveness probe', description: 'Answers `{"status":"ok"}` while the process serves requests. Open: no token needed.', security: [] })
  @ApiOkResponse({ type: HealthDto, description: 'The process is alive' })
  @ApiProbeRefusals('the liveness probe')
  health(): HealthDto {
    return { status: 'ok' };
  }

  /**
   * Readiness: the operations store answers; the data directory and the storage root are writable;
   * diskSpace: each of their volumes has at least SKIFF_MIN_FREE_BYTES free (the detail reports
   * every volume's headroom).
   * The image daemons' reachability (docker-daemon:, containers-storage:, when enabled) is
   * reported as optional checks that never fail readiness. On a shared service, a caller
   * without a valid token gets the checks without their details (no paths, no addresses).
   */
  @Get('readyz')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'Readiness probe',
    description:
      'Whether the service can do its work: the operations store answers, the data directory and the storage root are writable and their volumes have SKIFF_MIN_FREE_BYTES free. The image daemons are reported as optional checks that never fail readiness. Open: no token needed; without a valid token the checks carry no details.',
    security: [],
  })
  @ApiOkResponse({ type: ReadinessDto, description: 'Ready: every required check passed' })
  @ApiServiceUnavailableResponse({ type: ReadinessDto, description: 'Not ready: a required check failed (its `detail` says why, for a caller with a token)' })
  @ApiProbeRefusals('the readiness probe')
  async ready(@Res({ passthrough: true }) res: Response, @CurrentPrincipal() caller: Principal): Promise<ReadinessDto> {
    const { ok, all } = await this.readiness();
    res.status(ok ? 200 : 503);
    const shown = caller === ANONYMOUS_PRINCIPAL ? all.map(({ detail: _hidden, ...c }) => c) : all;
    return { status: ok ? 'ready' : 'not ready', checks: shown };
  }

  private pending: Promise<{ ok: boolean; all: ReadinessCheckDto[] }> | undefined;

  /**
   * The checks, run once for every probe that arrives while they run: /readyz is open and not
   * rate-limited, and each run queries the operations store, touches both directories and pings
   * the daemons, so a burst of anonymous probes shares one run instead of exhausting the store's
   * pool and the process's sockets.
   */
  readiness(): Promise<{ ok: boolean; all: ReadinessCheckDto[] }> {
    this.pending ??= this.runChecks().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async runChecks(): Promise<{ ok: boolean; all: ReadinessCheckDto[] }> {
    const storeProblem = await this.operations.storeProblem();
    const checks = [
      { name: 'operationStore', ok: storeProblem === undefined, ...(storeProblem ? { detail: storeProblem } : {}) },
      ...(await Promise.all([this.writable('dataDir', this.config.dataDir), this.writable('storageRoot', this.config.storageRoot)])),
      { name: 'diskSpace', ...(await this.storage.headroomCheck()) },
    ];
    const ok = checks.every((c) => c.ok);
    const daemons = await Promise.all([
      ...(this.transports.isEnabled('docker-daemon') ? [this.daemon('dockerDaemon', this.dockerDaemon.client)] : []),
      ...(this.transports.isEnabled('containers-storage') ? [this.daemon('podman', this.containersStorage.client)] : []),
    ]);
    return { ok, all: [...checks, ...daemons] };
  }

  private async daemon(name: string, client: DockerDaemonTransport['client']): Promise<ReadinessCheckDto> {
    try {
      await client.ping(AbortSignal.timeout(2000));
      return { name, ok: true, optional: true };
    } catch (e) {
      return { name, ok: false, optional: true, detail: (e as Error).message };
    }
  }

  private async writable(name: string, dir: string): Promise<ReadinessCheckDto> {
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK | constants.R_OK);
      return { name, ok: true };
    } catch (e) {
      return { name, ok: false, detail: `${dir}: ${fsErrorCode(e) ?? (e as Error).message}` };
    }
  }
}
