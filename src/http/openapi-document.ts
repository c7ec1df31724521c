import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** Recursively sorts object keys so the committed spec is stable across runs. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/**
 * The OpenAPI document of the running app. operationIds come from the controllers' explicit
 * `operationId`s (they become generated clients' method names); keys are sorted.
 */
export function buildOpenApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('skiff')
    .setDescription(
      "Daemonless container-image operations: skopeo's inspect, list-tags, copy, delete and sync as a REST API. " +
        'Errors are RFC 9457 problem+json. Registry credentials go in X-Registry-Auth (reads) or sourceAuth/destinationAuth (jobs), never in URLs.',
    )
    .setVersion(version)
    // Opaque tokens (no bearerFormat). Required per operation, on the routes that need one
    // (ApiProblems); probes and docs are open, /metrics unless SKIFF_METRICS_PUBLIC.
    .addSecurity('apiToken', {
      type: 'http',
      scheme: 'bearer',
      description: 'An API token: a SKIFF_API_TOKENS entry, or the token of a principal of SKIFF_PRINCIPALS_FILE. Needed when the service is configured with either.',
    })
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
  // A route documented by several decorators that each require the token lists it once.
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item) as { security?: unknown[] }[]) {
      if (op && typeof op === 'object' && Array.isArray(op.security)) {
        op.security = [...new Map(op.security.map((s) => [JSON.stringify(s), s])).values()];
      }
    }
  }
  return sortKeys(doc) as OpenAPIObject;
}
