import { InvalidArgumentError } from '../../errors/domain-error';
import { formatDockerReference } from '../../image-spec/docker-reference';
import { type ContainersStorageImageReference, type ImageReference, type StoreSpecifier, expectTransport, formatImageReference } from '../../image-spec/image-reference';
import { DaemonExportSource } from '../docker-daemon/daemon-export.source';
import { openLoadDestination } from '../docker-daemon/docker-daemon.transport';
import { EngineClient } from '../docker-daemon/engine-client';
import type { LocalStorage } from '../../storage/local-storage';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';

export interface ContainersStorageTransportOptions {
  /** CONTAINER_HOST syntax (`unix:///run/podman/podman.sock`). Server configuration only. */
  host: string;
  /** Where destinations stage blobs (the data directory's staging area). */
  local: LocalStorage;
}

interface PodmanInfo {
  store?: { graphRoot?: string; runRoot?: string; graphDriverName?: string };
}

/**
 * `containers-storage:[driver@root+runroot:options]NAME` through Podman's REST API: the
 * Docker-compatible export (`/images/{name}/get`) and load (`/images/load`), with docker-daemon's
 * source and destination. The store is the one the Podman service uses: a store specifier is
 * compared with `GET /libpod/info` (driver, graph root, run root) and refused (400) when it names
 * another store, or when it sets options (the API cannot choose them).
 */
export class ContainersStorageTransport implements ImageTransport {
  readonly name = 'containers-storage' as const;
  readonly client: EngineClient;

  constructor(private readonly opts: ContainersStorageTransportOptions) {
    this.client = new EngineClient({ host: opts.host, label: 'Podman' });
  }


  private async checkStore(ref: ContainersStorageImageReference, signal?: AbortSignal): Promise<void> {
    const info = await this.client.json<PodmanInfo>('/v4.0.0/libpod/info', 'reading the Podman store', signal);
    const spec: StoreSpecifier | undefined = ref.store;
    if (!spec) return;
    const store = info.store ?? {};
    const wrong: string[] = [];
    if (spec.driver !== undefined && spec.driver !== store.graphDriverName) wrong.push(`driver ${JSON.stringify(spec.driver)} (the service uses ${JSON.stringify(store.graphDriverName)})`);
    if (spec.graphRoot !== undefined && spec.graphRoot !== store.graphRoot) wrong.push(`graph root ${JSON.stringify(spec.graphRoot)} (the service uses ${JSON.stringify(store.graphRoot)})`);
    if (spec.runRoot !== undefined && spec.runRoot !== store.runRoot) wrong.push(`run root ${JSON.stringify(spec.runRoot)} (the service uses ${JSON.stringify(store.runRoot)})`);
    if (spec.options !== undefined && spec.options.some((o) => o !== '')) wrong.push(`options ${JSON.stringify(spec.options.join(','))} (store options cannot be chosen through the Podman API)`);
    if (wrong.length) throw new InvalidArgumentError(`${formatImageReference(ref)}: the store specifier does not match the store of the Podman service at ${this.opts.host}: ${wrong.join('; ')}`);
  }

  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const cs = expectTransport(ref, 'containers-storage');
    await this.checkStore(cs, ctx.signal);
    const imageName = cs.id ?? formatDockerReference(cs.named!);
    return DaemonExportSource.open({ reference: cs, dockerReference: cs.named, client: this.client, imageName, displayName: formatImageReference(cs), signal: ctx.signal });
  }

  async openDestination(ref: ImageReference, ctx: TransportContext): Promise<ImageDestination> {
    const cs = expectTransport(ref, 'containers-storage');
    if (!cs.named || cs.id !== undefined || cs.named.digest !== undefined) {
      throw new InvalidArgumentError(`${formatImageReference(cs)}: a containers-storage destination must be NAME[:TAG] (skiff cannot choose an image ID or digest through the Podman API)`);
    }
    await this.checkStore(cs, ctx.signal);
    return openLoadDestination(cs, this.client, this.opts.local, [cs.named], 'daemon:podman');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
