import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { storageReplicaOf } from './data-dir';
import { LocalStorage } from './local-storage';

const log = new Logger('Storage');

/**
 * Provides the process's LocalStorage (storage root and staging volumes, the storage owner
 * and its lease) to the transports and the health check. The lease is created when the module
 * starts and removed once the application has shut down (running operations have finished or
 * been handed back by then).
 */
@Global()
@Module({
  providers: [
    {
      provide: LocalStorage,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        LocalStorage.open({
          storageRoot: config.storageRoot,
          dataDir: config.dataDir,
          replica: storageReplicaOf({ dataDir: config.dataDir, configured: config.operations.replicaIdConfigured ? config.operations.replicaId : undefined, warn: (m) => log.warn(m) }),
          replicaId: config.operations.replicaId,
          leaseMs: config.storage.leaseSeconds * 1000,
          minFreeBytes: config.storage.minFreeBytes,
          warn: (m) => log.warn(m),
        }),
    },
  ],
  exports: [LocalStorage],
})
export class StorageModule implements OnApplicationShutdown {
  constructor(@Inject(LocalStorage) private readonly local: LocalStorage) {}

  async onApplicationShutdown(): Promise<void> {
    await this.local.close();
  }
}
