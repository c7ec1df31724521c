import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule, createLogger } from './app.module';
import type { AppConfig } from './config/app-config';
import { ApiValidationPipe } from './http/api-validation.pipe';
import { requestObserver } from './http/request-observer';
import { RequestValidationError } from './http/request-validation.error';
import { MetricsService } from './metrics/metrics.service';
import { buildOpenApiDocument } from './openapi/openapi-document';

export const SERVICE_VERSION = '0.1.0';

/** Builds the configured application (not yet listening): used by main.ts and the OpenAPI script. */
export async function createApp(config: AppConfig, opts: { logs?: boolean; afterShutdown?: () => void } = {}): Promise<NestExpressApplication> {
  const logger = createLogger(config);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger, opts.afterShutdown), {
    // The API takes JSON only: the one body parser is registered below (no urlencoded parser).
    bodyParser: false,
    bufferLogs: true,
    logger: opts.logs === false ? false : undefined,
  });
  if (opts.logs !== false) app.useLogger(app.get(Logger));
  // Mounted before Nest's routes and middleware: it sees every request, matched or not.
  app.use(requestObserver(logger, app.get(MetricsService)));
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.useBodyParser('json', { limit: '1mb', type: ['application/json', 'application/*+json'] });
  app.useGlobalPipes(
    new ApiValidationPipe({
      transform: true,
      whitelist: true,
      forbidNonWhitelisted: true,
      exceptionFactory: (errors) => RequestValidationError.fromClassValidator(errors),
    }),
  );
  app.enableShutdownHooks();
  const document = buildOpenApiDocument(app, SERVICE_VERSION);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml' });
  return app;
}
