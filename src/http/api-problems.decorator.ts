import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from './problem';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request or image reference',
  401: 'Missing or invalid API token (when the service is configured with tokens or principals)',
  403: 'Not allowed: the caller lacks a scope, the reference is outside its patterns, the transport is disabled, or the registry denied access',
  404: 'Image, repository or resource not found',
  409: 'Conflict with the current state (e.g. the registry does not allow deletes)',
  413: 'Request body larger than 1 MiB',
  415: 'The request body is not JSON (Content-Type must be application/json)',
  422: 'Unprocessable request',
  429: 'Too many requests: this caller\'s rate limit, or the registry\'s; see Retry-After',
  501: 'Transport not implemented yet',
  502: 'The upstream answered wrongly (TLS, digest mismatch, invalid manifest)',
  503: 'The upstream is unreachable, or the service is busy (see Retry-After)',
};

/** The name of the bearer-token security scheme in the OpenAPI document. */
export const API_TOKEN_SCHEME = 'apiToken';

/**
 * Documents a protected route: the bearer-token requirement and problem+json answers for the
 * given statuses plus those every protected route may give (401 no or bad token, 403 not
 * allowed for this caller, 429 the caller's rate limit).
 */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  const all = [...new Set([401, 403, 429, ...statuses])].sort((a, b) => a - b);
  return applyDecorators(
    ApiBearerAuth(API_TOKEN_SCHEME),
    ApiExtraModels(ProblemDto),
    ...all.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Problem',
        content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
      }),
    ),
  );
}
