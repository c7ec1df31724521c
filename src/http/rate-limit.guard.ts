import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { DomainError } from '../errors/domain-error';
import { ANONYMOUS_PRINCIPAL, LOCAL_PRINCIPAL, principalOf, type RequestWithPrincipal } from './current-principal.decorator';

/**
 * Per-principal request rate (SKIFF_RATE_LIMIT_PER_MINUTE; counted fleet-wide in the shared
 * database on PostgreSQL, in memory on SQLite: rate-limit-storage.ts): every request of one
 * principal counts against one budget,
 * whatever the route. Beyond it: 429 TOO_MANY_REQUESTS with `Retry-After`. The local user
 * (no tokens configured) and anonymous callers of the open routes are not limited; answers
 * carry `X-RateLimit-Limit/Remaining/Reset`.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    const principal = principalOf(context.switchToHttp().getRequest<RequestWithPrincipal>());
    return principal === LOCAL_PRINCIPAL || principal === ANONYMOUS_PRINCIPAL;
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    return principalOf(req as RequestWithPrincipal).name;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const seconds = Math.max(1, Math.ceil(detail.timeToBlockExpire));
    throw new DomainError(
      'TOO_MANY_REQUESTS',
      `principal ${detail.tracker} sent more than ${detail.limit} requests in ${Math.round(detail.ttl / 1000)} s (SKIFF_RATE_LIMIT_PER_MINUTE); retry after ${seconds} s`,
      { retryable: true, retryAfterSeconds: seconds },
    );
  }
}
