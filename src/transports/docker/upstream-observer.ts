/**
 * What the registry client tells whoever watches it (the metrics service): one event per
 * attempt of a request to a registry. Plain values only; no undici type crosses this port.
 */
export interface UpstreamRequestEvent {
  registry: string;
  method: string;
  /** What the request was for: ping, token, manifest, blob, tags, delete. */
  operation: string;
  status: number | 'error';
  durationSeconds: number;
}

export interface UpstreamObserver {
  onUpstreamRequest(event: UpstreamRequestEvent): void;
}
