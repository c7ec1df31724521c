import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { FleetBlobGate } from '../operations/fleet-blob-gate';
import { OPERATION_STORE, type OperationStore } from '../operations/operation-store';
import { OperationsModule } from '../operations/operations.module';
import { CopyEngine } from './copy-engine';
import { HostLimiter, InFlightBlobs } from './host-limiter';

/**
 * Wires the one CopyEngine of the process into Nest. Every feature that copies (copies,
 * syncs) injects this instance, so they all share its HostLimiter (blob transfers per registry
 * host, across jobs) and its InFlightBlobs (a blob goes to a destination once, across jobs).
 */
@Global()
@Module({
  imports: [OperationsModule],
  providers: [
    {
      provide: CopyEngine,
      inject: [APP_CONFIG, OPERATION_STORE],
      // Replicas sharing PostgreSQL also push a blob to a repository once across the fleet.
      useFactory: (config: AppConfig, store: OperationStore) =>
        new CopyEngine({
          limiter: new HostLimiter(config.copy.perHostConcurrency),
          inflight: new InFlightBlobs(store.engine === 'postgres' ? new FleetBlobGate(store, config.operations.replicaId, config.operations.leaseSeconds * 1000) : undefined),
        }),
    },
  ],
  exports: [CopyEngine],
})
export class CopyEngineModule {}
