import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DomainError } from '../errors/domain-error';

/**
 * Bearer-token protection of /v1/* when API tokens are configured. Tokens are compared in
 * constant time (as SHA-256 digests, so lengths leak nothing). Service endpoints (/healthz,
 * /readyz, /metrics, /docs, /openapi.json) stay open.
 */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  private readonly tokenDigests: Buffer[];

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.tokenDigests = config.apiTokens.map((t) => createHash('sha256').update(t).digest());
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.tokenDigests.length === 0) return true;
    const req = context.switchToHttp().getRequest<Request>();
    if (!req.path.startsWith('/v1/') && req.path !== '/v1') return true;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m) {
      const given = createHash('sha256').update(m[1]!).digest();
      let ok = false;
      for (const d of this.tokenDigests) ok = timingSafeEqual(d, given) || ok;
      if (ok) return true;
    }
    throw new DomainError('UNAUTHORIZED', m ? 'the API token is not valid' : 'this endpoint needs an API token: Authorization: Bearer <token>');
  }
}
