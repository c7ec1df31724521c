import { type DynamicModule, Inject, Injectable, Logger as NestLogger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import pino, { type Logger } from 'pino';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { CredentialsModule } from './credentials/credentials.module';
import { HealthModule } from './health/health.module';
import { AuthModule } from './auth/auth.module';
import { RateLimitGuard } from './http/rate-limit.guard';
import { rateLimitOptions } from './http/rate-limit-storage';
import { DATABASE, type Database, DatabaseModule } from './database/database.module';
import { ProblemFilter } from './http/problem.filter';
import { ImagesModule } from './images/images.module';
import { MetricsModule } from './metrics/metrics.module';
import { OperationsModule } from './operations/operations.module';
import { CopiesModule } from './copies/copies.module';
import { CopyEngineModule } from './copy-engine/copy-engine.module';
import { SyncsModule } from './syncs/syncs.module';
import { TransportsModule } from './transports/transports.module';
import { ArtifactsModule } from './artifacts/artifacts.module';
import { ReferrersModule } from './referrers/referrers.module';
import { RepositoriesModule } from './repositories/repositories.module';
import { TagsModule } from './tags/tags.module';
import { RegistriesModule } from './registries/registries.module';

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

/** The process's one pino logger: Nest's logs (through nestjs-pino) and the access log (requestObserver). */
export function createLogger(config: AppConfig): Logger {
  // The replica id is on every line, so a fleet's logs say which replica wrote them.
  return pino({ level: config.logLevel, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' }, mixin: () => ({ replicaId: config.operations.replicaId }) });
}

const AFTER_SHUTDOWN = Symbol('AFTER_SHUTDOWN');

/** Runs the process's own clean-up (the data-directory lock) once Nest has shut down. */
@Injectable()
class AfterShutdown implements OnApplicationShutdown {
  constructor(@Inject(AFTER_SHUTDOWN) private readonly run: () => void) {}

  onApplicationShutdown(): void {
    this.run();
  }
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger = createLogger(config), afterShutdown?: () => void): DynamicModule {
    // Rate limits apply to authenticated principals: only when tokens or principals exist.
    const rateLimited = config.security.rateLimitPerMinute > 0 && (config.apiTokens.length > 0 || config.security.principals.length > 0);
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        // Nest's logs go through this pino instance; the access log is requestObserver's, so
        // nestjs-pino's own per-request middleware is not mounted on any route.
        LoggerModule.forRoot({ pinoHttp: { logger }, forRoutes: [] }),
        AuthModule,
        // Counted in the shared database on PostgreSQL (fleet-wide), in memory on SQLite (one process).
        ...(rateLimited
          ? [
              ThrottlerModule.forRootAsync({
                imports: [DatabaseModule],
                inject: [DATABASE],
                useFactory: (db: Database) => rateLimitOptions(config.security.rateLimitPerMinute, db, (m) => new NestLogger('RateLimit').warn(m)),
              }),
            ]
          : []),
        MetricsModule,
        TransportsModule,
        HealthModule,
        CredentialsModule,
        ImagesModule,
        OperationsModule,
        CopyEngineModule.forRoot(OperationsModule),
        CopiesModule,
        SyncsModule,
        ArtifactsModule,
        ReferrersModule,
        TagsModule,
        RepositoriesModule,
        RegistriesModule,
      ],
      providers: [
        // Who is calling is decided before routing (authenticationMiddleware, bootstrap.ts); this guard only counts.
        ...(rateLimited ? [{ provide: APP_GUARD, useClass: RateLimitGuard }] : []),
        { provide: APP_FILTER, useClass: ProblemFilter },
        ...(afterShutdown ? [{ provide: AFTER_SHUTDOWN, useValue: afterShutdown }, AfterShutdown] : []),
      ],
    };
  }
}
