import { Global, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { DockerTransport } from './docker/docker.transport';
import { RegistryHttp } from './docker/registry-http';
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
    { provide: TransportRegistry, inject: [DockerTransport], useFactory: (docker: DockerTransport) => new TransportRegistry([docker]) },
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
