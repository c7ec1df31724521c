import { applyDecorators, createParamDecorator, type ExecutionContext, HttpCode } from '@nestjs/common';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiProblems, type ProblemStatus } from '../http/api-problems.decorator';
import { RequestValidationError } from '../http/request-validation.error';
import { isFinished, type Operation } from './operation';
import { ApiOperationModels, OPERATION_SCHEMA, type OperationDto, toOperationDto } from './operations.dto';
import { MAX_WAIT_SECONDS, type OperationsService, type OperationSubmission } from './operations.service';

/**
 * How feature controllers (copies, syncs) answer a submission, the way API.md says:
 * `202 Accepted` + `Location: /v1/operations/{id}` + the Operation; with `Prefer: wait=N`
 * (N capped at 300) `200` with the finished Operation if it finishes within N seconds, else
 * `202`, both with `Preference-Applied: wait=N`; `Idempotency-Key` makes a retry return the
 * same Operation (`Idempotent-Replayed: true`), or 422 when the body differs.
 *
 * Use in a controller:
 * ```ts
 * @Post()
 * @ApiOperation({ operationId: 'createCopy' })
 * @ApiSubmitResponses({ action: 'starting copies', what: 'copy', answers: { 400: '…', 403: '…' } })
 * create(@Body() body: CopyRequestDto, @SubmitPreferences() prefs: SubmitPreferencesValue, @Res({ passthrough: true }) res: Response) {
 *   return answerSubmit(this.operations, res, { principal, draft: { kind: 'copy', request }, labels, secrets }, prefs);
 * }
 * ```
 */

/** What the submit headers ask for, validated. */
export interface SubmitPreferencesValue {
  /** `Idempotency-Key`: 1..255 printable ASCII characters (surrounding quotes removed). */
  idempotencyKey?: string;
  /** `Prefer: wait=N`, capped at 300; undefined when absent, unparsable or 0. */
  waitSeconds?: number;
}

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Validates an Idempotency-Key header (a bare token or a structured-field string). */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  let key = single(header);
  if (key === undefined) return undefined;
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(key);
  if (quoted) key = quoted[1]!.replace(/\\(.)/g, '$1');
  if (!IDEMPOTENCY_KEY.test(key) || key.trim() === '') {
    throw new RequestValidationError([{ field: 'Idempotency-Key', message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' }]);
  }
  return key;
}

/**
 * The `wait` preference of a Prefer header (RFC 7240), capped at MAX_WAIT_SECONDS. Other
 * preferences (`respond-async`, …) and malformed values are ignored, as RFC 7240 asks.
 */
export function parsePreferWait(header: string | string[] | undefined): number | undefined {
  const text = single(header);
  if (text === undefined) return undefined;
  for (const preference of text.split(',')) {
    const [token = ''] = preference.split(';');
    const m = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*$/i.exec(token);
    if (m) {
      const n = Math.min(Number(m[1]), MAX_WAIT_SECONDS);
      return n > 0 ? n : undefined;
    }
  }
  return undefined;
}

/** Parameter decorator: the submit preferences of the request (400 on a malformed Idempotency-Key). */
export const SubmitPreferences = createParamDecorator((_data: unknown, ctx: ExecutionContext): SubmitPreferencesValue => {
  const req = ctx.switchToHttp().getRequest<Request>();
  return { idempotencyKey: parseIdempotencyKey(req.headers['idempotency-key']), waitSeconds: parsePreferWait(req.headers['prefer']) };
});

const SUBMIT_HEADERS = {
  Location: { description: 'Where to follow the operation: `/v1/operations/{id}`', schema: { type: 'string', example: '/v1/operations/01JDQ3X4M5N6P7Q8R9S0T1V2W3' } },
  'Preference-Applied': { description: '`wait=N` when a `Prefer: wait=N` was honoured (N capped at 300)', schema: { type: 'string', example: 'wait=30' } },
  'Idempotent-Replayed': { description: '`true` when the Idempotency-Key named an operation submitted before: this is that operation, nothing new was started', schema: { type: 'string', enum: ['true'] } },
};

/**
 * OpenAPI for a submit route: the headers it honours, its 202/200 answers and its problems
 * (`answers`, plus what every submission may answer: 413, 415, 422, 429 QUEUE_FULL, 503 and 507
 * from the operations store). Sets 202 as the default status.
 */
export function ApiSubmitResponses(spec: { action: string; what: string; answers: Partial<Record<ProblemStatus, string>> }): MethodDecorator {
  return applyDecorators(
    HttpCode(202),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: `Makes retries safe: the same key with the same ${spec.what} (compared after defaults are applied) answers the operation it started; with a different ${spec.what}, 422. Keys are per principal. 1 to 255 printable characters.`,
      schema: { type: 'string', maxLength: 255, example: 'release-1.4-mirror' },
    }),
    ApiHeader({
      name: 'Prefer',
      required: false,
      description: '`wait=N` (seconds, at most 300): answer 200 with the finished operation if it finishes within N seconds, else 202 with it as it is then.',
      schema: { type: 'string', example: 'wait=30' },
    }),
    ApiOperationModels(),
    ApiResponse({ status: 202, schema: OPERATION_SCHEMA, description: `The ${spec.what} is accepted and queued or running; follow it at Location`, headers: SUBMIT_HEADERS }),
    ApiResponse({
      status: 200,
      schema: OPERATION_SCHEMA,
      description: `The ${spec.what} finished within the \`Prefer: wait\` time, or an Idempotency-Key retry named one that has finished`,
      headers: SUBMIT_HEADERS,
    }),
    ApiProblems({
      action: spec.action,
      scope: 'images:write',
      answers: {
        413: 'The request body is larger than 1 MiB',
        415: 'The request body is not JSON (`Content-Type: application/json`)',
        422: `The Idempotency-Key was used before with a different ${spec.what} (\`IDEMPOTENCY_KEY_REUSED\`)`,
        503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
        507: 'The operations store has no space left to record the operation (`INSUFFICIENT_STORAGE`)',
        ...spec.answers,
        429: `the operations queue is full (\`QUEUE_FULL\`, SKIFF_QUEUE_MAX)${spec.answers[429] ? `; or ${spec.answers[429]}` : ''}`,
      },
    }),
  ) as MethodDecorator;
}

/**
 * Submits and shapes the answer: sets Location (and Preference-Applied, Idempotent-Replayed),
 * waits when asked (stopping early if the client goes away), and sets the status: 200 when
 * the Operation returned has finished, else 202. Returns the body. `res` must be injected with
 * `@Res({ passthrough: true })`.
 */
export async function answerSubmit(
  operations: OperationsService,
  res: Response,
  submission: Omit<OperationSubmission, 'idempotencyKey'>,
  preferences: SubmitPreferencesValue,
): Promise<OperationDto> {
  const { operation, created } = await operations.submit({ ...submission, idempotencyKey: preferences.idempotencyKey });
  res.location(`/v1/operations/${operation.id}`);
  if (!created) res.setHeader('Idempotent-Replayed', 'true');
  let answer: Operation = operation;
  if (preferences.waitSeconds !== undefined && !isFinished(operation.state)) {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    try {
      answer = await operations.waitFor(submission.principal, operation.id, preferences.waitSeconds, gone.signal);
    } finally {
      res.off('close', onClose);
    }
  }
  if (preferences.waitSeconds !== undefined) res.setHeader('Preference-Applied', `wait=${preferences.waitSeconds}`);
  res.status(isFinished(answer.state) ? 200 : 202);
  return toOperationDto(answer);
}
