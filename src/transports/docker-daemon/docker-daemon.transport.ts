import { InvalidArgumentError } from '../../errors/domain-error';
import { type DockerReference, formatDockerReference } from '../../image-spec/docker-reference';
import { type ImageReference, expectTransport, formatImageReference } from '../../image-spec/image-reference';
import type { LocalStorage } from '../../storage/local-storage';
import type { ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { DaemonExportSource } from './daemon-export.source';
import { DaemonLoadDestination } from './daemon-load.destination';
import { EngineClient } from './engine-client';

export interface DaemonTransportOptions {
  /** DOCKER_HOST syntax: `unix:///var/run/docker.sock`, `tcp://host:2376`. Server configuration only. */
  host: string;
  tls?: { certPath?: string; verify: boolean };
  /** Where destinations stage blobs (the data directory's staging area). */
  local: LocalStorage;
}

/**
 * `docker-daemon:NAME:TAG` / `docker-daemon:sha256:<image ID>` over the Docker Engine API:
 * sources stream the engine's export (DaemonExportSource), destinations feed its load
 * (DaemonLoadDestination). The daemon is the one of the server's configuration (DOCKER_HOST);
 * requests never choose it.
 */
export class DockerDaemonTransport implements ImageTransport {
  readonly name = 'docker-daemon' as const;
  readonly client: EngineClient;

  constructor(private readonly opts: DaemonTransportOptions) {
    this.client = new EngineClient({ host: opts.host, label: 'Docker Engine', tls: opts.tls });
  }


  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const daemon = expectTransport(ref, 'docker-daemon');
    const imageName = daemon.named ? formatDockerReference(daemon.named) : daemon.id!;
    return DaemonExportSource.open({ reference: daemon, dockerReference: daemon.named, client: this.client, imageName, displayName: formatImageReference(daemon), signal: ctx.signal });
  }

  async openDestination(ref: ImageReference, ctx: TransportContext): Promise<ImageDestination> {
    const daemon = expectTransport(ref, 'docker-daemon');
    if (!daemon.named) throw new InvalidArgumentError(`${formatImageReference(daemon)}: a docker-daemon destination must be NAME:TAG, not an image ID`);
    // fail fast (before any blob is copied) when the daemon is not there
    await this.client.ping(ctx.signal);
    return openLoadDestination(daemon, this.client, this.opts.local, [daemon.named], 'daemon:docker');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** A DaemonLoadDestination with its own staging directory; repeated tags are recorded once. */
export async function openLoadDestination(
  ref: ImageReference,
  client: EngineClient,
  local: LocalStorage,
  repoTags: readonly DockerReference[],
  hostKey: string,
): Promise<DaemonLoadDestination> {
  const name = formatImageReference(ref);
  const stagingDir = await local.makeStagingDir('daemon-load', name);
  const seen = new Set<string>();
  const tags = repoTags.filter((r) => {
    const k = formatDockerReference(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return new DaemonLoadDestination(ref, hostKey, client, stagingDir, tags, name, local.stagingTarget(name));
}
