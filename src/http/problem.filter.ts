import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../errors/domain-error';
import { PROBLEM_KINDS, problemType, type ProblemDto } from './problem';
import { RequestValidationError } from './request-validation.error';

/**
 * The one place errors become HTTP answers: DomainErrors by their code, validation failures
 * with `errors[]`, Nest's own HttpExceptions (unknown route, bad JSON) by status, anything
 * else as a logged 500 that reveals nothing.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request>();
    const res = ctx.getResponse<Response>();
    const problem = this.toProblem(exception, req.path);
    if (problem.status >= 500) {
      this.logger.error({ err: exception, code: problem.code, path: req.path }, problem.detail);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (exception instanceof DomainError && exception.upstream.retryAfterSeconds !== undefined && (problem.status === 429 || problem.status === 503)) {
      res.setHeader('Retry-After', String(exception.upstream.retryAfterSeconds));
    }
    if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="skiff"');
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  }

  toProblem(exception: unknown, instance: string): ProblemDto {
    if (exception instanceof RequestValidationError) {
      return { ...this.base('INVALID_ARGUMENT', exception.message, instance), errors: exception.errors };
    }
    if (exception instanceof DomainError) {
      const p = this.base(exception.code, exception.message, instance);
      const u = exception.upstream;
      if (u.registry !== undefined) p.registry = u.registry;
      if (u.upstreamStatus !== undefined) p.upstreamStatus = u.upstreamStatus;
      if (u.upstreamCode !== undefined) p.upstreamCode = u.upstreamCode;
      if (u.retryable !== undefined) p.retryable = u.retryable;
      return p;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code = status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : status === 405 ? 'METHOD_NOT_ALLOWED' : status === 413 ? 'PAYLOAD_TOO_LARGE' : status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL';
      const body = exception.getResponse();
      const detail = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : exception.message;
      return { ...this.base(code, detail, instance), status };
    }
    return this.base('INTERNAL', 'an unexpected error occurred; see the service log', instance);
  }

  private base(code: keyof typeof PROBLEM_KINDS, detail: string, instance: string): ProblemDto {
    const kind = PROBLEM_KINDS[code];
    return { type: problemType(code), title: kind.title, status: kind.status, detail, instance, code };
  }
}
