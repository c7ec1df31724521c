import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request, Response } from 'express';

/**
 * An AbortSignal that fires when the client goes away before the answer is complete, so
 * upstream calls made for that request stop at once.
 */
export const RequestSignal = createParamDecorator((_data: unknown, ctx: ExecutionContext): AbortSignal => {
  const http = ctx.switchToHttp();
  const req = http.getRequest<Request>();
  const res = http.getResponse<Response>();
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  req.once('aborted', onClose);
  return controller.signal;
});
