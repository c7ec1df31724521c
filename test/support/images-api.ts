/**
 * Reading images through skiff's HTTP API with plain fetch, as the e2e suites that check raw
 * bytes and headers do (the generated client parses JSON). Nothing here asserts.
 */
import type { SkiffService } from './skiff-service';

export interface InspectAnswer {
  status: number;
  /** The body parsed, when it is JSON (a problem, skopeo's inspect JSON, a config); `{}` otherwise. */
  body: Record<string, unknown>;
  /** The body as sent (raw manifests, configs, Go-template output). */
  bytes: Buffer;
  type: string;
}

/**
 * GET /v1/images/inspect with these query parameters; `raw: 'true'` asks for the manifest bytes
 * (GET /v1/images/manifest) instead, `config: 'true'` for the OCI config (GET /v1/images/config).
 */
export async function inspectImage(service: SkiffService, query: Record<string, string>): Promise<InspectAnswer> {
  const { raw, config, ...rest } = query;
  const path = raw ? '/v1/images/manifest' : config ? '/v1/images/config' : '/v1/images/inspect';
  const res = await fetch(`${service.url}${path}?${new URLSearchParams(rest)}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    // raw bytes
  }
  return { status: res.status, body, bytes, type: res.headers.get('content-type') ?? '' };
}
