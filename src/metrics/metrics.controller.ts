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
  @ApiOperation({
    operationId: 'getMetrics',
    summary: 'Prometheus metrics',
    description: 'HTTP, upstream, operation and process metrics in the Prometheus text format. Needs a token on a service with tokens or principals, unless SKIFF_METRICS_PUBLIC=true.',
    security: [{}, { apiToken: [] }],
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Metrics in the Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string', example: 'skiff_http_requests_total{method="GET",route="/v1/images/inspect",status="200"} 3' } } } })
  @ApiResponse({
    status: 401,
    description: 'Missing or invalid API token (a shared service without SKIFF_METRICS_PUBLIC)',
    content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
  })
  @ApiResponse({
    status: 429,
    description: 'The caller sent more requests than SKIFF_RATE_LIMIT_PER_MINUTE allows, or its address more failed token attempts than SKIFF_AUTH_FAILURES_PER_MINUTE (`TOO_MANY_REQUESTS`); Retry-After says when to retry',
    content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
  })
  getMetrics(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
