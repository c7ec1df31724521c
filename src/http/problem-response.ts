import type { IncomingMessage, ServerResponse } from 'node:http';
import { baseProblem, type HttpOnlyProblemCode, type ProblemDto } from './problem';
import type { DomainErrorCode } from '../errors/domain-error';
import { requestIdOf } from './request-observer';

/** Where the problem code of an answer is left for the audit log. */
const PROBLEM_CODE = Symbol('skiff.problemCode');

type ResponseWithCode = ServerResponse & { [PROBLEM_CODE]?: string };

/** The `code` of the problem this response answered with, if it was one. */
export function problemCodeOf(res: ServerResponse): string | undefined {
  return (res as ResponseWithCode)[PROBLEM_CODE];
}

/**
 * Writes a problem+json answer on a plain Node response (used by the middlewares that run
 * before Nest, and by the exception filter): the request id, `WWW-Authenticate` for 401,
 * `Retry-After` when given for 429/503.
 */
export function sendProblem(req: IncomingMessage, res: ServerResponse, problem: ProblemDto, opts: { retryAfterSeconds?: number; close?: boolean } = {}): void {
  const requestId = requestIdOf(req);
  const body: ProblemDto = requestId ? { ...problem, requestId } : problem;
  (res as ResponseWithCode)[PROBLEM_CODE] = problem.code;
  res.statusCode = problem.status;
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="skiff"');
  if (opts.retryAfterSeconds !== undefined && (problem.status === 429 || problem.status === 503)) {
    res.setHeader('Retry-After', String(Math.max(0, Math.ceil(opts.retryAfterSeconds))));
  }
  if (opts.close) res.setHeader('Connection', 'close');
  const text = JSON.stringify(body);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** A problem of `code` about the request's path. */
export function problemFor(req: IncomingMessage, code: DomainErrorCode | HttpOnlyProblemCode, detail: string): ProblemDto {
  return baseProblem(code, detail, requestPath(req));
}

/** The path of the request without its query (what `instance` names). */
export function requestPath(req: IncomingMessage): string {
  return (req.url ?? '').split('?', 1)[0]!;
}
