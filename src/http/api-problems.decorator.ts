import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import type { Scope } from '../config/principals-file';
import { ProblemDto } from './problem';

/** The name of the bearer-token security scheme in the OpenAPI document. */
export const API_TOKEN_SCHEME = 'apiToken';

/** Statuses an operation may declare with its own description. */
export type ProblemStatus = 400 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 501 | 502 | 503 | 504 | 507;

export interface ProblemAnswers {
  /** What the caller attempts, as the generic answers say it: `inspecting an image`. */
  action: string;
  /** The scope the operation needs (named in the 403 answer); none for what every known caller may do. */
  scope?: Scope;
  /**
   * The problems this operation answers besides those every protected route may give, each
   * described for this operation. A 403 or 429 text is added to what every route says of them
   * (a missing scope, the caller's own rate).
   */
  answers: Partial<Record<ProblemStatus, string>>;
}

/**
 * Documents a protected route: the bearer-token requirement and problem+json answers, each
 * with a description written for this operation: the `answers` given, plus what every
 * protected route may answer — 401 (no or unknown token), 403 (the scope, the Host check of a
 * service without tokens), 429 (the caller's own rate, or its address's failed token attempts) and 500 (an unexpected failure, logged
 * under the request id). Response headers every answer carries (X-Request-Id, the rate-limit
 * headers, Retry-After on 429/503, WWW-Authenticate on 401) are added by the document builder.
 */
export function ApiProblems(spec: ProblemAnswers): MethodDecorator & ClassDecorator {
  const { action, scope, answers } = spec;
  const scopeText = scope ? `the caller's principal lacks the \`${scope}\` scope that ${action} needs` : `the caller may not be ${action}`;
  const texts: Record<number, string | undefined> = {
    400: `The request for ${action} is malformed, or its query string has more than 64 parameters`,
    ...answers,
    401: `No API token, or one the service does not know: on a service configured with tokens or principals, ${action} needs \`Authorization: Bearer <token>\`.`,
    403: `Refused: ${scopeText}${answers[403] ? `; ${answers[403]}` : ''}; or, on a service without tokens, the Host header named no loopback address (DNS rebinding).`,
    429: `This caller sent more requests than SKIFF_RATE_LIMIT_PER_MINUTE allows, or its address more failed token attempts than SKIFF_AUTH_FAILURES_PER_MINUTE (\`TOO_MANY_REQUESTS\`)${answers[429] ? `; or ${answers[429]}` : ''}. Retry-After says when to retry.`,
    500: `An unexpected failure while ${action}; the service log has it under the answer's X-Request-Id.`,
  };
  return applyDecorators(
    ApiBearerAuth(API_TOKEN_SCHEME),
    ApiExtraModels(ProblemDto),
    ...Object.entries(texts)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([status, description]) =>
        ApiResponse({ status: Number(status), description, content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } } }),
      ),
  );
}

/**
 * The problems of an operation that reads `what` from a registry, a layout, an archive or an
 * image engine (403, 422, 429, 502, 503, 504), phrased for it. Operations add their own 400 and
 * 404 (and override any of these).
 */
export function upstreamReadAnswers(what: string): Partial<Record<ProblemStatus, string>> {
  return {
    403: `the reference is outside the caller's source patterns, its transport is not enabled (\`TRANSPORT_DISABLED\`) or needs \`daemons\`, the egress policy refused the registry's address (\`EGRESS_REFUSED\`), or the registry denied reading ${what} (\`REGISTRY_DENIED\`, \`INVALID_CREDENTIALS\`)`,
    422: `the layout, directory or archive holding ${what} is malformed, incomplete or unsafe (\`LAYOUT_INVALID\`, \`ARCHIVE_INVALID\`)`,
    429: `the registry rate-limited reading ${what} (\`RATE_LIMITED\`, with its \`upstreamStatus\`)`,
    502: `the registry or image engine answered wrongly while reading ${what}: a TLS failure, content that does not match its digest, an invalid or oversized manifest or config (\`UPSTREAM_TLS_ERROR\`, \`UPSTREAM_PROTOCOL_ERROR\`, \`UPSTREAM_REFUSED\`, \`DIGEST_MISMATCH\`, \`MANIFEST_INVALID\`, \`BODY_TOO_LARGE\`, \`DAEMON_ERROR\`, \`CREDENTIAL_HELPER_FAILED\`)`,
    503: `the registry or image engine holding ${what} is unreachable (\`UPSTREAM_UNAVAILABLE\`, \`DAEMON_UNAVAILABLE\`), or too many archives are open at once (\`SERVICE_BUSY\`, with Retry-After)`,
    504: `the registry did not answer in time while reading ${what} (\`UPSTREAM_TIMEOUT\`)`,
    507: `unpacking the archive holding ${what} found no space left in the data directory (\`INSUFFICIENT_STORAGE\`)`,
  };
}
