import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_TOKEN_SCHEME } from '../http/api-problems.decorator';

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

/** The tags operations are grouped by, in this order. */
const TAGS: ReadonlyArray<readonly [string, string]> = [
  ['images', "Synchronous reads and deletes of images, tags and referrers: skopeo's inspect, list-tags and delete, the manifest, config and blobs as stored, descriptors of any artifact"],
  ['copies', 'skopeo copy, run as a tracked operation'],
  ['syncs', 'skopeo sync, run as a tracked operation'],
  ['operations', 'Following, listing, cancelling and forgetting copies and syncs: long-polls and server-sent events'],
  ['repositories', "A registry's catalog"],
  ['registries', "What skiff has learnt of each registry from its own calls"],
  ['credentials', 'Stored registry logins: skopeo login, logout and login --get-login'],
  ['service', 'Probes and metrics'],
];

/**
 * Headers the HTTP layer (src/http) puts on answers of every route, declared once and referred
 * to from each response they may appear on.
 */
const COMMON_HEADERS = {
  'X-Request-Id': {
    description: "The request's id: the caller's X-Request-Id when it sent a sane one (1–128 of `[A-Za-z0-9._:+=@/-]`), else generated. Also in the access log and in problems as `requestId`.",
    schema: { type: 'string', example: '3f2c1a9e-6d1b-4c55-9a0e-2b8f0f1c7d41' },
  },
  'X-RateLimit-Limit': {
    description: "Requests this caller may send per minute (SKIFF_RATE_LIMIT_PER_MINUTE); sent when the service limits callers' rates and the caller is a principal",
    schema: { type: 'integer', example: 600 },
  },
  'X-RateLimit-Remaining': { description: 'Requests left in the current minute', schema: { type: 'integer', example: 598 } },
  'X-RateLimit-Reset': { description: 'Seconds until the current minute ends', schema: { type: 'integer', example: 42 } },
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', example: 5 } },
  'WWW-Authenticate': { description: 'Always `Bearer realm="skiff"`', schema: { type: 'string', example: 'Bearer realm="skiff"' } },
} as const;

const headerRef = (name: keyof typeof COMMON_HEADERS) => ({ $ref: `#/components/headers/${name}` });

interface ResponseObject {
  description?: string;
  headers?: Record<string, unknown>;
}

/**
 * Declares on every response the headers the HTTP layer adds: X-Request-Id everywhere; the
 * rate-limit headers wherever a caller with a token may get them (the rate-limit guard counts
 * every principal on every route, open ones included, after the token check, so not on 401);
 * Retry-After on 429 and 503; WWW-Authenticate on 401.
 */
function addCommonHeaders(doc: OpenAPIObject): void {
  doc.components = { ...doc.components, headers: { ...(doc.components?.headers ?? {}), ...COMMON_HEADERS } };
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item) as { security?: Record<string, unknown>[]; responses?: Record<string, ResponseObject> }[]) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      for (const [status, response] of Object.entries(op.responses)) {
        const headers: Record<string, unknown> = { ...(response.headers ?? {}), 'X-Request-Id': headerRef('X-Request-Id') };
        if (status !== '401') {
          headers['X-RateLimit-Limit'] = headerRef('X-RateLimit-Limit');
          headers['X-RateLimit-Remaining'] = headerRef('X-RateLimit-Remaining');
          headers['X-RateLimit-Reset'] = headerRef('X-RateLimit-Reset');
        }
        if (status === '429' || status === '503') headers['Retry-After'] = headerRef('Retry-After');
        if (status === '401') headers['WWW-Authenticate'] = headerRef('WWW-Authenticate');
        response.headers = headers;
      }
    }
  }
}

/**
 * Removes responses nobody described: the swagger plugin guesses one from a handler's return
 * type and decorators it cannot see through (a `201` for a POST whose status is set inside a
 * composed decorator). Every answer the server sends is declared with a description.
 */
function dropUndescribedResponses(doc: OpenAPIObject): void {
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item) as { responses?: Record<string, ResponseObject> }[]) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      for (const [status, response] of Object.entries(op.responses)) if (!response.description) delete op.responses[status];
    }
  }
}

/**
 * The OpenAPI document of the running app. operationIds come from the controllers' explicit
 * `operationId`s (they become generated clients' method names); keys are sorted.
 */
export function buildOpenApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('skiff')
    .setDescription(
      "Daemonless container-image operations: skopeo's inspect, list-tags, copy, delete and sync as a REST API. " +
        'Errors are RFC 9457 problem+json with a stable `code`. Registry credentials go in X-Registry-Auth (reads) or sourceAuth/destinationAuth (jobs), never in URLs. ' +
        'Every answer carries X-Request-Id.',
    )
    .setVersion(version)
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .addServer('http://127.0.0.1:8080', 'A local skiff with its defaults (SKIFF_HOST, SKIFF_PORT); a shared service is reached at its own address')
    // Opaque tokens (no bearerFormat). Required per operation, on the routes that need one
    // (ApiProblems); probes and docs are open, /metrics unless SKIFF_METRICS_PUBLIC.
    .addSecurity(API_TOKEN_SCHEME, {
      type: 'http',
      scheme: 'bearer',
      description: 'An API token: a SKIFF_API_TOKENS entry, or the token of a principal of SKIFF_PRINCIPALS_FILE. Needed when the service is configured with either.',
    });
  for (const [name, description] of TAGS) builder.addTag(name, description);
  const doc = SwaggerModule.createDocument(app, builder.build(), {
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
  doc.info.contact = { name: 'skiff maintainers' };
  dropUndescribedResponses(doc);
  addCommonHeaders(doc);
  const tags = doc.tags;
  const sorted = sortKeys(doc) as OpenAPIObject;
  // Tags keep their reading order (sortKeys only sorts object keys, never arrays).
  sorted.tags = tags;
  return sorted;
}
