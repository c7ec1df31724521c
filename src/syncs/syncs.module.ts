import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { OperationsModule } from '../operations/operations.module';
import { RATE_LIMIT_GAUGE, type RateLimitGauge } from '../rate-limits/rate-limit-floor';
import { ReferrersModule } from '../referrers/referrers.module';
import { DockerTransport } from '../transports/docker/docker.transport';
import { SyncsController } from './syncs.controller';
import { SyncsService } from './syncs.service';

@Module({
  imports: [CredentialsModule, OperationsModule, ReferrersModule],
  controllers: [SyncsController],
  providers: [
    SyncsService,
    // What the registry transport knows of each registry's rate limit: a sync's rateLimitFloor reads it, never asking the registry.
    { provide: RATE_LIMIT_GAUGE, inject: [DockerTransport], useFactory: (docker: DockerTransport): RateLimitGauge => (registry, ctx) => docker.rateLimit(registry, ctx) },
  ],
})
export class SyncsModule {}
