import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CopyEngine } from './copy-engine';
import { HostLimiter, InFlightBlobs } from './host-limiter';

/**
 * Wires the one CopyEngine of the process into Nest. Every feature that copies (copies,
 * syncs) injects this instance, so they all share its HostLimiter (blob transfers per registry
 * host, across jobs) and its InFlightBlobs (a blob goes to a destination once, across jobs).
 */
@Global()
@Module({
  providers: [
    {
      provide: CopyEngine,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new CopyEngine({ limiter: new HostLimiter(config.copy.perHostConcurrency), inflight: new InFlightBlobs() }),
    },
  ],
  exports: [CopyEngine],
})
export class CopyEngineModule {}
