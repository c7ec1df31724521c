import { Global, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ReferenceAuthorizer } from '../auth/reference-authorizer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { LocalStorage } from '../storage/local-storage';
import { StorageModule } from '../storage/storage.module';
import { DirTransport } from './dir/dir.transport';
import { ContainersStorageTransport } from './containers-storage/containers-storage.transport';
import { DockerArchiveTransport } from './docker-archive/docker-archive.transport';
import { DockerDaemonTransport } from './docker-daemon/docker-daemon.transport';
import { DockerTransport } from './docker/docker.transport';
import { RegistryHttp, registryHttpOptions } from './docker/registry-http';
import { UPSTREAM_OBSERVER, type UpstreamObserver } from './docker/upstream-observer';
import { OciArchiveTransport } from './oci/oci-archive.transport';
import { OciTransport } from './oci/oci.transport';
import { TransportRegistry } from './transport-registry';

export const USER_AGENT = 'skiff/0.1 (+containers image operations service)';

/** Wires the transports (framework-free classes) into Nest. */
@Global()
@Module({
  imports: [StorageModule],
  providers: [
    // The check every image use case makes before touching a reference (scope, transport, storage path, patterns).
    { provide: ReferenceAuthorizer, inject: [APP_CONFIG, TransportRegistry], useFactory: (config: AppConfig, transports: TransportRegistry) => new ReferenceAuthorizer(config.storageRoot, transports) },
    {
      provide: RegistryHttp,
      inject: [APP_CONFIG, UPSTREAM_OBSERVER],
      useFactory: (config: AppConfig, observer: UpstreamObserver) => new RegistryHttp(registryHttpOptions(config, { userAgent: USER_AGENT, observer })),
    },
    { provide: DockerTransport, inject: [RegistryHttp], useFactory: (http: RegistryHttp) => new DockerTransport(http) },
    {
      provide: DockerDaemonTransport,
      inject: [APP_CONFIG, LocalStorage],
      useFactory: (config: AppConfig, local: LocalStorage) => new DockerDaemonTransport({ host: config.dockerHost, tls: config.dockerTls, local }),
    },
    {
      provide: ContainersStorageTransport,
      inject: [APP_CONFIG, LocalStorage],
      useFactory: (config: AppConfig, local: LocalStorage) => new ContainersStorageTransport({ host: config.containerHost, local }),
    },
    {
      provide: TransportRegistry,
      inject: [DockerTransport, APP_CONFIG, DockerDaemonTransport, ContainersStorageTransport, LocalStorage],
      useFactory: (docker: DockerTransport, config: AppConfig, dockerDaemon: DockerDaemonTransport, containersStorage: ContainersStorageTransport, local: LocalStorage) =>
        new TransportRegistry([
          docker,
          new OciTransport(local),
          new OciArchiveTransport({
            local,
            limits: { maxEntries: config.archive.maxEntries, maxEntrySize: config.archive.maxBytes, maxTotalSize: config.archive.maxBytes },
          }),
          new DirTransport(local),
          new DockerArchiveTransport({
            local,
            limits: { maxEntries: config.archive.maxEntries, maxEntrySize: config.archive.maxBytes, maxTotalSize: config.archive.maxBytes },
          }),
          dockerDaemon,
          containersStorage,
        ], { enabled: config.security.transports }),
    },
  ],
  exports: [RegistryHttp, DockerTransport, TransportRegistry, DockerDaemonTransport, ContainersStorageTransport, ReferenceAuthorizer],
})
export class TransportsModule implements OnApplicationShutdown {
  constructor(
    private readonly http: RegistryHttp,
    private readonly dockerDaemon: DockerDaemonTransport,
    private readonly containersStorage: ContainersStorageTransport,
  ) {}

  /** Closes the keep-alive pools so the process can exit promptly. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.http.close(), this.dockerDaemon.close(), this.containersStorage.close()]);
  }
}
