import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CopyEngine } from './copy-engine';
import { type BlobTransferGate, HostLimiter, InFlightBlobs } from './host-limiter';

/**
 * Nest token of the BlobTransferGate that serialises blob transfers across the processes of a
 * fleet, or null when this process is alone (provided by the module given to forRoot()).
 */
export const BLOB_TRANSFER_GATE = Symbol('BLOB_TRANSFER_GATE');

/**
 * Wires the one CopyEngine of the process into Nest. Every feature that copies (copies,
 * syncs) injects this instance, so they all share its HostLimiter (blob transfers per registry
 * host, across jobs) and its InFlightBlobs (a blob goes to a destination once, across jobs).
 */
@Module({})
export class CopyEngineModule {
  /** `fleet`: the module that provides BLOB_TRANSFER_GATE (operations: replicas sharing PostgreSQL push a blob to a repository once). */
  static forRoot(fleet: Type | DynamicModule): DynamicModule {
    return {
      module: CopyEngineModule,
      global: true,
      imports: [fleet],
      providers: [
        {
          provide: CopyEngine,
          inject: [APP_CONFIG, BLOB_TRANSFER_GATE],
          useFactory: (config: AppConfig, gate: BlobTransferGate | null) =>
            new CopyEngine({ limiter: new HostLimiter(config.copy.perHostConcurrency), inflight: new InFlightBlobs(gate ?? undefined) }),
        },
      ],
      exports: [CopyEngine],
    };
  }
}
