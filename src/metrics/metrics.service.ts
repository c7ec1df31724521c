import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamObserver, UpstreamRequestEvent } from '../transports/docker/upstream-observer';

/**
 * Prometheus metrics: the API's own requests (by route pattern, never raw URL) and every
 * request to an upstream registry (by registry host and operation), plus process metrics.
 */
@Injectable()
export class MetricsService implements UpstreamObserver {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'skiff_http_requests_total',
    help: 'API requests served, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'skiff_http_request_duration_seconds',
    help: 'API request latency, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly upstreamRequests = new Counter({
    name: 'skiff_upstream_requests_total',
    help: 'Requests to upstream registries, by registry, operation, method and status ("error" for network failures)',
    labelNames: ['registry', 'operation', 'method', 'status'] as const,
    registers: [this.registry],
  });

  private readonly upstreamDuration = new Histogram({
    name: 'skiff_upstream_request_duration_seconds',
    help: 'Time to the response headers of upstream registry requests',
    labelNames: ['registry', 'operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'skiff_' });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  onUpstreamRequest(e: UpstreamRequestEvent): void {
    this.upstreamRequests.inc({ registry: e.registry, operation: e.operation, method: e.method, status: String(e.status) });
    this.upstreamDuration.observe({ registry: e.registry, operation: e.operation }, e.durationSeconds);
  }
}
