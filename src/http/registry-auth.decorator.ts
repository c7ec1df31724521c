import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { RegistryAuth } from '../transports/transport';
import { parseRegistryAuthHeader } from './registry-auth-header';

/** The decoded `X-Registry-Auth` header (undefined when absent); malformed → 400. */
export const RegistryAuthHeader = createParamDecorator((_data: unknown, ctx: ExecutionContext): RegistryAuth | undefined => {
  const value = ctx.switchToHttp().getRequest<Request>().headers['x-registry-auth'];
  return parseRegistryAuthHeader(Array.isArray(value) ? value[0] : value);
});
