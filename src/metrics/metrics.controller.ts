import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from '../http/problem';
import { MetricsService } from './metrics.service';

@ApiTags('service')
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /** Prometheus metrics (text exposition format). Needs a token on a shared service unless SKIFF_METRICS_PUBLIC=true. */
  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ operationId: 'getMetrics', summary: 'Prometheus metrics', security: [{}, { apiToken: [] }] })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Metrics in the Prometheus text format', schema: { type: 'string' } })
  @ApiResponse({
    status: 401,
    description: 'Missing or invalid API token (a shared service without SKIFF_METRICS_PUBLIC)',
    content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
  })
  getMetrics(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
