import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import express from 'express';
import type { Server } from 'node:http';
import { Logger } from 'nestjs-pino';
import { AppModule, createLogger } from './app.module';
import { PrincipalDirectory } from './auth/principal-directory';
import { type AppConfig, isLoopbackHost } from './config/app-config';
import { ApiValidationPipe } from './http/api-validation.pipe';
import { auditMiddleware, createAuditLogger } from './http/audit-log';
import { AuthFailureLimiter } from './http/auth-failure-limiter';
import { ClientAddresses } from './http/client-address';
import { authenticationMiddleware } from './http/authentication.middleware';
import { answerClientErrors } from './http/client-error';
import { corsMiddleware } from './http/cors.middleware';
import { jsonBodyMiddleware, queryLimitMiddleware } from './http/json-body.middleware';
import { buildOpenApiDocument } from './http/openapi-document';
import { requestObserver } from './http/request-observer';
import { RequestValidationError } from './http/request-validation.error';
import { MetricsService } from './metrics/metrics.service';

export const SERVICE_VERSION = '0.1.0';

/** Request bodies, checked before validation: bytes, nesting, members of one object or array, members in all. */
const BODY_LIMITS = { limitBytes: 1024 * 1024, maxDepth: 32, maxMembers: 1000, maxValues: 10_000 };
/** Query parameters per request (no operation takes more than a dozen). */
const MAX_QUERY_PARAMS = 64;

/** Builds the configured application (not yet listening): used by main.ts and the OpenAPI script. */
export async function createApp(config: AppConfig, opts: { logs?: boolean; afterShutdown?: () => void } = {}): Promise<NestExpressApplication> {
  const logger = createLogger(config);
  // Routes match exactly: `/V1/credentials` or `/v1/credentials/` is not `/v1/credentials`.
  // Set before anything touches the router, which Express creates with these settings.
  const server = express();
  server.set('case sensitive routing', true);
  server.set('strict routing', true);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger, opts.afterShutdown), new ExpressAdapter(server), {
    // The API takes JSON only, through jsonBodyMiddleware below (no Express body parser).
    bodyParser: false,
    bufferLogs: true,
    logger: opts.logs === false ? false : undefined,
  });
  if (opts.logs !== false) app.useLogger(app.get(Logger));
  // Mounted before Nest's routes and middleware, in this order, so they see every request,
  // matched or not: request id + access log + metrics, the audit log (which must also see
  // refusals), CORS (preflights need no token), who is calling (deny by default), the body.
  app.use(requestObserver(logger, app.get(MetricsService)));
  const audit = createAuditLogger(config.security.auditLog);
  if (audit) app.use(auditMiddleware(audit));
  if (config.security.corsOrigins.length > 0) app.use(corsMiddleware(config.security.corsOrigins));
  app.use(
    authenticationMiddleware({
      directory: app.get(PrincipalDirectory),
      metricsPublic: config.security.metricsPublic,
      checkHost: isLoopbackHost(config.host),
      allowedHosts: [config.host, ...config.security.allowedHosts],
      ...(config.security.authFailuresPerMinute > 0 ? { failureLimiter: new AuthFailureLimiter({ limitPerMinute: config.security.authFailuresPerMinute }) } : {}),
      failureLimitExemptsLoopback: config.security.authFailuresExemptLoopback,
      clientAddresses: new ClientAddresses(config.security.trustedProxies),
    }),
  );
  app.use(queryLimitMiddleware(MAX_QUERY_PARAMS));
  app.use(jsonBodyMiddleware(BODY_LIMITS));
  answerClientErrors(app.getHttpServer() as Server);
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.useGlobalPipes(
    new ApiValidationPipe({
      transform: true,
      whitelist: true,
      forbidNonWhitelisted: true,
      exceptionFactory: (errors) => RequestValidationError.fromClassValidator(errors),
    }),
  );
  app.enableShutdownHooks();
  // Built on the first request for it, not at start: an idle service does not hold it.
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, SERVICE_VERSION), { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml' });
  return app;
}
