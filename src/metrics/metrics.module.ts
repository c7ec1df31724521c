import { Global, Module } from '@nestjs/common';
import { UPSTREAM_OBSERVER } from '../transports/docker/upstream-observer';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Global()
@Module({
  providers: [MetricsService, { provide: UPSTREAM_OBSERVER, useExisting: MetricsService }],
  controllers: [MetricsController],
  exports: [MetricsService, UPSTREAM_OBSERVER],
})
export class MetricsModule {}
