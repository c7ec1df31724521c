import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestMetrics } from '../http/request-observer';
import type { RegistryState } from '../transports/docker/registry-state';
import type { UpstreamObserver, UpstreamRequestEvent } from '../transports/docker/upstream-observer';

/**
 * Prometheus metrics: the API's own requests (by route pattern, never raw URL) and every
 * request to an upstream registry (by registry host and operation), plus process metrics.
 */
@Injectable()
export class MetricsService implements UpstreamObserver, RequestMetrics {
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

  // Registries listed in the registries file only (the client reports no other): bounded labels.
  private readonly registryReachable = new Gauge({ name: 'skiff_registry_reachable', help: 'Whether the registry answered the last call (1) or could not be reached (0)', labelNames: ['registry'] as const, registers: [this.registry] });
  private readonly rateLimitLimit = new Gauge({ name: 'skiff_registry_rate_limit', help: 'Requests per window the registry announces (RateLimit-Limit)', labelNames: ['registry'] as const, registers: [this.registry] });
  private readonly rateLimitRemaining = new Gauge({ name: 'skiff_registry_rate_limit_remaining', help: 'Requests left in the window, as of the last answer (RateLimit-Remaining)', labelNames: ['registry'] as const, registers: [this.registry] });
  private readonly rateLimitWindow = new Gauge({ name: 'skiff_registry_rate_limit_window_seconds', help: 'Length of the rate-limit window in seconds', labelNames: ['registry'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'skiff_' });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  /** `e.registry` is already bounded by the client: the host for listed registries, `other` otherwise. */
  onUpstreamRequest(e: UpstreamRequestEvent): void {
    this.upstreamRequests.inc({ registry: e.registry, operation: e.operation, method: e.method, status: String(e.status) });
    this.upstreamDuration.observe({ registry: e.registry, operation: e.operation }, e.durationSeconds);
  }

  onRegistryState(s: RegistryState): void {
    if (s.reachable !== undefined) this.registryReachable.set({ registry: s.registry }, s.reachable ? 1 : 0);
    if (s.rateLimit?.limit !== undefined) this.rateLimitLimit.set({ registry: s.registry }, s.rateLimit.limit);
    if (s.rateLimit?.remaining !== undefined) this.rateLimitRemaining.set({ registry: s.registry }, s.rateLimit.remaining);
    if (s.rateLimit?.windowSeconds !== undefined) this.rateLimitWindow.set({ registry: s.registry }, s.rateLimit.windowSeconds);
  }
}
