import type { RegistryState } from './registry-state';

/**
 * What the registry client tells whoever watches it (the metrics service): one event per
 * attempt of a request to a registry, and every change of what is known of a registry listed
 * in the registries file. Plain values only; no undici type crosses this port. `registry` is
 * a bounded label: the host for registries in the registries file, `other` for the rest.
 */
export interface UpstreamRequestEvent {
  registry: string;
  method: string;
  /** What the request was for: ping, token, manifest, blob, tags, delete. */
  operation: string;
  status: number | 'error';
  durationSeconds: number;
}

/** Nest token of the process's UpstreamObserver (the metrics module provides it). */
export const UPSTREAM_OBSERVER = Symbol('UPSTREAM_OBSERVER');

export interface UpstreamObserver {
  onUpstreamRequest(event: UpstreamRequestEvent): void;
  onRegistryState?(state: RegistryState): void;
}
