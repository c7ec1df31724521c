import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { RegistryAuth } from '../transports/transport';
import { parseRegistryAuthHeader } from './registry-auth-header';

/** The decoded `X-Registry-Auth` header (undefined when absent); malformed → 400. */
export const RegistryAuthHeader = createParamDecorator((_data: unknown, ctx: ExecutionContext): RegistryAuth | undefined => {
  const value = ctx.switchToHttp().getRequest<Request>().headers['x-registry-auth'];
  return parseRegistryAuthHeader(Array.isArray(value) ? value[0] : value);
});

/** OpenAPI: the `X-Registry-Auth` header of the routes that read or delete in registries. */
export const REGISTRY_AUTH_HEADER = {
  name: 'X-Registry-Auth',
  required: false,
  description:
    'Registry credentials for this request (never in the URL): base64 of `{"username","password"}`, `{"identitytoken"}` or `{"registrytoken"}`, the Docker Engine API convention. Without it, stored credentials the caller may use apply, else anonymous access.',
  schema: { type: 'string', maxLength: 16384 },
};
