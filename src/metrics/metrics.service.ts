import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamObserver, UpstreamRequestEvent } from '../transports/docker/registry-http';

/** Registries not in the registries file that get a label of their own; the rest count as `other`. */
const MAX_UNCONFIGURED_REGISTRY_LABELS = 32;

/**
 * Prometheus metrics: the API's own requests (by route pattern, never raw URL) and every
 * request to an upstream registry (by registry host and operation), plus process metrics.
 *
 * Label values stay bounded whatever callers send: routes are patterns (`unmatched` for no
 * route), methods and statuses come from Node's parser; a registry named by a caller gets its
 * own label only when it is in the registries file or among the first
 * MAX_UNCONFIGURED_REGISTRY_LABELS others seen, else `other`.
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

  private readonly configuredRegistries: ReadonlySet<string>;
  private readonly seenRegistries = new Set<string>();

  constructor(@Optional() @Inject(APP_CONFIG) config?: AppConfig) {
    this.configuredRegistries = new Set((config?.registries ?? []).map((r) => r.location));
    collectDefaultMetrics({ register: this.registry, prefix: 'skiff_' });
  }

  private registryLabel(registry: string): string {
    if (this.configuredRegistries.has(registry) || this.seenRegistries.has(registry)) return registry;
    if (this.seenRegistries.size >= MAX_UNCONFIGURED_REGISTRY_LABELS) return 'other';
    this.seenRegistries.add(registry);
    return registry;
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  onUpstreamRequest(e: UpstreamRequestEvent): void {
    const registry = this.registryLabel(e.registry);
    this.upstreamRequests.inc({ registry, operation: e.operation, method: e.method, status: String(e.status) });
    this.upstreamDuration.observe({ registry, operation: e.operation }, e.durationSeconds);
  }
}
