import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { fullAccessPrincipal, type Principal } from '../auth/principal';

/** Where the authentication step leaves the caller on the request. */
export interface RequestWithPrincipal {
  principal?: Principal;
}

/** Without any API token or principals file, the one caller is the local user, with every scope. */
export const LOCAL_PRINCIPAL: Principal = fullAccessPrincipal('local');

/**
 * A caller without a (valid) token on one of the open routes of a shared service (probes,
 * docs): no scope, no reference. Also what a request nobody authenticated counts as.
 */
export const ANONYMOUS_PRINCIPAL: Principal = { name: 'anonymous', scopes: new Set(), sources: [], destinations: [] };

/** The principal the request was authenticated as; anonymous when no authentication step set one (deny by default). */
export function principalOf(req: RequestWithPrincipal): Principal {
  return req.principal ?? ANONYMOUS_PRINCIPAL;
}

/** Parameter decorator: the calling Principal, for the use case to check scopes and patterns. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => principalOf(ctx.switchToHttp().getRequest<RequestWithPrincipal>()));
