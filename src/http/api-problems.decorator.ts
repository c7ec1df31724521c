import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from './problem';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request or image reference',
  401: 'Missing or invalid API token',
  403: 'The registry denied access or rejected the credentials',
  404: 'Image, repository or resource not found',
  409: 'Conflict with the current state (e.g. the registry does not allow deletes)',
  413: 'Request too large',
  422: 'Unprocessable request',
  429: 'Upstream rate limit; see Retry-After',
  501: 'Transport not implemented yet',
  502: 'The upstream answered wrongly (TLS, digest mismatch, invalid manifest)',
  503: 'The upstream is unreachable',
};

/** Documents problem+json answers for the given statuses (401 is added for the API token). */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  const all = [...new Set([401, ...statuses])].sort((a, b) => a - b);
  return applyDecorators(
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
