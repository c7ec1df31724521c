import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { CredentialsModule } from './credentials/credentials.module';
import { HealthModule } from './health/health.module';
import { ApiTokenGuard } from './http/api-token.guard';
import { ProblemFilter } from './http/problem.filter';
import { ImagesModule } from './images/images.module';
import { HttpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { MetricsModule } from './metrics/metrics.module';
import { OperationsModule } from './operations/operations.module';
import { CopiesModule } from './copies/copies.module';
import { CopyEngineModule } from './copy-engine/copy-engine.module';
import { SyncsModule } from './syncs/syncs.module';
import { TransportsModule } from './transports/transports.module';

/** Paths redacted from every log line: credentials never reach the logs. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["x-registry-auth"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.identityToken',
  '*.identitytoken',
  '*.registryToken',
  '*.sourceAuth',
  '*.destinationAuth',
];

@Module({})
export class AppModule implements NestModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
            autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
            customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
            serializers: {
              req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
            },
          },
        }),
        MetricsModule,
        TransportsModule,
        HealthModule,
        CredentialsModule,
        ImagesModule,
        OperationsModule,
        CopyEngineModule,
        CopiesModule,
        SyncsModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: ApiTokenGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
  }
}
