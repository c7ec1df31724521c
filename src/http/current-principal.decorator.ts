import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { fullAccessPrincipal, type Principal } from '../auth/principal';

/** Where the authentication step leaves the caller on the request. */
export interface RequestWithPrincipal {
  principal?: Principal;
}

/** Without any API token or principals file, the one caller is the local user, with every scope. */
export const LOCAL_PRINCIPAL: Principal = fullAccessPrincipal('local');

/** The principal the request was authenticated as (the local user when no tokens are configured). */
export function principalOf(req: RequestWithPrincipal): Principal {
  return req.principal ?? LOCAL_PRINCIPAL;
}

/** Parameter decorator: the calling Principal, for the use case to check scopes and patterns. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => principalOf(ctx.switchToHttp().getRequest<RequestWithPrincipal>()));
