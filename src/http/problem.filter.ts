import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../errors/domain-error';
import { problemFromError } from './problem';
import { sendProblem } from './problem-response';
import { requestIdOf } from './request-observer';

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
    const problem = problemFromError(exception, req.path);
    if (problem.status >= 500) {
      this.logger.error({ err: exception, code: problem.code, reqId: requestIdOf(req), path: req.path }, problem.detail);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const retryAfterSeconds = exception instanceof DomainError ? exception.upstream.retryAfterSeconds : undefined;
    sendProblem(req, res, problem, { retryAfterSeconds });
  }
}
