import type { RegistrySettings } from '../../config/app-config';
import { InvalidArgumentError } from '../../errors/domain-error';
import { isValidTag, withTag } from '../../image-spec/docker-reference';
import { type ImageReference, expectTransport } from '../../image-spec/image-reference';
import type { DestinationOptions, DestinationProbe, ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { DockerDestination } from './docker.destination';
import { RegistryWriter } from './registry-writer';
import { RegistryClient } from './registry-client';
import { RegistryExtensions } from './registry-extensions';
import type { RegistryHttp } from './registry-http';
import type { RateLimitState } from './registry-state';
import { DockerSource } from './docker.source';

/** The `docker://` transport: images in registries speaking the distribution v2 API. */
export class DockerTransport implements ImageTransport {
  readonly name = 'docker' as const;

  constructor(private readonly http: RegistryHttp) {}

  /**
   * This transport for one registry with settings of its own (a sync's cert-dir), sharing this
   * one's egress policy, registry knowledge, hold-offs and caches; `close` closes only the
   * connections it opened.
   */
  forRegistry(settings: RegistrySettings): { transport: DockerTransport; close(): Promise<void> } {
    const http = this.http.forRegistry(settings);
    return { transport: new DockerTransport(http), close: () => http.close() };
  }

  /**
   * A registry's rate limit as last announced to requests sent with the credentials `ctx` gives
   * for it (no request to the registry); undefined if none was. Another caller's credentials
   * have quotas of their own: what they were told is not used.
   */
  async rateLimit(registry: string, ctx: TransportContext | undefined): Promise<RateLimitState | undefined> {
    const auth = ctx ? await ctx.credentials(registry) : undefined;
    return this.http.rateLimitFor(registry, auth);
  }

  /** A client for one registry with the caller's credentials and TLS choice. */
  async client(registry: string, ctx: TransportContext): Promise<RegistryClient> {
    const auth = await ctx.credentials(registry);
    return new RegistryClient(this.http, registry, { auth, tlsVerify: ctx.tlsVerify, signal: ctx.signal });
  }

  /** The calls beyond skopeo's (referrers, tag delete, catalog) for one registry, with the caller's credentials. */
  async extensions(registry: string, ctx: TransportContext): Promise<RegistryExtensions> {
    const auth = await ctx.credentials(registry);
    return new RegistryExtensions(this.http, registry, { auth, tlsVerify: ctx.tlsVerify, signal: ctx.signal });
  }

  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const docker = expectTransport(ref, 'docker');
    return new DockerSource(docker, await this.client(docker.named.domain, ctx));
  }

  /** `opts.additionalTags`: more tags of the destination repository that get the manifest (checked by the caller). */
  async openDestination(ref: ImageReference, ctx: TransportContext, opts: DestinationOptions = {}): Promise<ImageDestination> {
    const docker = expectTransport(ref, 'docker');
    const auth = await ctx.credentials(docker.named.domain);
    const writer = new RegistryWriter(this.http, docker.named.domain, docker.named.path, { auth, tlsVerify: ctx.tlsVerify, signal: ctx.signal });
    const own = docker.named.tag;
    return new DockerDestination(docker, writer, [...new Set(opts.additionalTags ?? [])].filter((t) => t !== own));
  }

  /** Opening a registry destination sends no request: the destination is its own probe (HEAD requests only). */
  probeDestination(ref: ImageReference, ctx: TransportContext): Promise<DestinationProbe> {
    return this.openDestination(ref, ctx);
  }

  /** More tags of the destination repository (`1.2`, `latest`), written after the reference's own. */
  additionalTagReferences(ref: ImageReference, tags: readonly string[]): ImageReference[] {
    const docker = expectTransport(ref, 'docker');
    return tags.map((t) => {
      if (!isValidTag(t)) {
        throw new InvalidArgumentError(`additionalTags: ${JSON.stringify(t.slice(0, 200))} is not a tag (a registry destination takes tags of its own repository, e.g. "1.2" or "latest")`);
      }
      return { transport: 'docker', named: withTag(docker.named, t) };
    });
  }

  async listTags(ref: ImageReference, ctx: TransportContext): Promise<{ repository: string; tags: string[] }> {
    const docker = expectTransport(ref, 'docker');
    const client = await this.client(docker.named.domain, ctx);
    const tags = await client.listTags(docker.named.path);
    return { repository: `${docker.named.domain}/${docker.named.path}`, tags };
  }

  /** Resolves a tag to the digest of what it points at, then deletes that manifest (as skopeo). */
  async deleteImage(ref: ImageReference, ctx: TransportContext): Promise<string> {
    const docker = expectTransport(ref, 'docker');
    const client = await this.client(docker.named.domain, ctx);
    let digest = docker.named.digest;
    if (!digest) {
      const manifest = await client.getManifest(docker.named.path, docker.named.tag ?? 'latest');
      digest = manifest.digest;
    }
    await client.deleteManifest(docker.named.path, digest);
    return digest;
  }
}
