import { join } from 'node:path';
import { Global, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { DirTransport } from './dir/dir.transport';
import { DockerArchiveTransport } from './docker-archive/docker-archive.transport';
import { DockerTransport } from './docker/docker.transport';
import { RegistryHttp } from './docker/registry-http';
import { OciArchiveTransport } from './oci/oci-archive.transport';
import { OciTransport } from './oci/oci.transport';
import { TransportRegistry } from './transport-registry';

export const USER_AGENT = 'skiff/0.1 (+containers image operations service)';

/** Wires the transports (framework-free classes) into Nest. */
@Global()
@Module({
  providers: [
    {
      provide: RegistryHttp,
      inject: [APP_CONFIG, MetricsService],
      useFactory: (config: AppConfig, metrics: MetricsService) =>
        new RegistryHttp({ registries: config.registries, ...config.upstream, userAgent: USER_AGENT, observer: metrics }),
    },
    { provide: DockerTransport, inject: [RegistryHttp], useFactory: (http: RegistryHttp) => new DockerTransport(http) },
    {
      provide: TransportRegistry,
      inject: [DockerTransport, APP_CONFIG],
      useFactory: (docker: DockerTransport, config: AppConfig) =>
        new TransportRegistry([
          docker,
          new OciTransport(config.storageRoot),
          new OciArchiveTransport({
            storageRoot: config.storageRoot,
            tempDir: join(config.dataDir, 'tmp'),
            limits: { maxEntries: config.archive.maxEntries, maxEntrySize: config.archive.maxBytes, maxTotalSize: config.archive.maxBytes },
          }),
          new DirTransport(config.storageRoot),
          new DockerArchiveTransport({
            storageRoot: config.storageRoot,
            tempDir: join(config.dataDir, 'tmp'),
            limits: { maxEntries: config.archive.maxEntries, maxEntrySize: config.archive.maxBytes, maxTotalSize: config.archive.maxBytes },
          }),
        ]),
    },
  ],
  exports: [RegistryHttp, DockerTransport, TransportRegistry],
})
export class TransportsModule implements OnApplicationShutdown {
  constructor(private readonly http: RegistryHttp) {}

  /** Closes the keep-alive pools so the process can exit promptly. */
  async onApplicationShutdown(): Promise<void> {
    await this.http.close();
  }
}
