import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ReferenceAuthorizer } from '../auth/reference-authorizer';
import { CredentialService } from '../credentials/credential.service';
import { DomainError } from '../errors/domain-error';
import { type ArtifactDescription, describeManifest, platformOfConfig } from '../image-spec/artifact-descriptor';
import { registryImageOf } from '../image-spec/image-reference';
import { type PlatformChoice, chooseInstance, parseManifest } from '../image-spec/manifest';
import { isImageConfigMediaType, isIndexMediaType } from '../image-spec/media-types';
import { DockerTransport } from '../transports/docker/docker.transport';
import { TransportRegistry } from '../transports/transport-registry';
import type { RegistryAuth, TransportContext } from '../transports/transport';

export interface ArtifactAccess {
  auth?: RegistryAuth;
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

/**
 * Any manifest as descriptors (GET /v1/images/descriptor) and cheap digest lookups
 * (GET /v1/images/digest: one HEAD on a registry, which registries that meter pulls do not count).
 */
@Injectable()
export class ArtifactsService {
  constructor(
    private readonly transports: TransportRegistry,
    private readonly docker: DockerTransport,
    private readonly credentials: CredentialService,
    private readonly authorizer: ReferenceAuthorizer,
  ) {}

  private context(principal: Principal, access: ArtifactAccess): TransportContext {
    return { credentials: this.credentials.resolver(principal, access.auth), tlsVerify: access.tlsVerify, signal: access.signal };
  }

  /** The top-level manifest as descriptors; an image's platform read from its (image) config. */
  async describe(principal: Principal, image: string, access: ArtifactAccess): Promise<ArtifactDescription> {
    const ref = await this.authorizer.authorize(image, principal, { scope: 'images:read', side: 'source', action: 'describing an image' });
    const source = await this.transports.get(ref.transport, 'describe').openSource(ref, this.context(principal, access));
    try {
      const top = await source.getManifest({ signal: access.signal });
      const manifest = parseManifest(top.bytes, top.mediaType);
      let platform: { os?: string; architecture?: string; variant?: string } | undefined;
      if (manifest.kind === 'image' && isImageConfigMediaType(manifest.config.mediaType) && !manifest.artifactType) {
        platform = platformOfConfig(await source.readBlob(manifest.config, { signal: access.signal }));
      }
      return describeManifest(top, manifest, platform);
    } finally {
      await source.close();
    }
  }

  /**
   * The digest a reference resolves to: on a registry one HEAD (a GET only when the registry
   * does not say the digest, or to choose an instance of an index); elsewhere the manifest read.
   */
  async digest(principal: Principal, image: string, platform: PlatformChoice | undefined, access: ArtifactAccess): Promise<{ image: string; digest: string; mediaType: string; indexDigest?: string }> {
    const ref = await this.authorizer.authorize(image, principal, { scope: 'images:read', side: 'source', action: 'resolving a digest' });
    const choose = platform && (platform.os || platform.architecture || platform.variant) ? platform : undefined;
    const named = registryImageOf(ref)?.named;
    if (named && (!named.digest || !choose)) {
      const client = await this.docker.client(named.domain, this.context(principal, access));
      const reference = named.digest ?? named.tag ?? 'latest';
      const head = await client.headManifest(named.path, reference, access.signal);
      if (!head) throw new DomainError('IMAGE_NOT_FOUND', `${image}: no manifest ${reference} in ${named.domain}/${named.path}`, { registry: named.domain, upstreamStatus: 404 });
      const mediaType = head.mediaType?.split(';')[0]!.trim().toLowerCase();
      if (head.digest && mediaType && (!choose || !isIndexMediaType(mediaType))) return { image, digest: head.digest, mediaType };
    }
    const source = await this.transports.get(ref.transport, 'resolve a digest').openSource(ref, this.context(principal, access));
    try {
      const top = await source.getManifest({ signal: access.signal });
      if (!choose) return { image, digest: top.digest, mediaType: top.mediaType };
      const manifest = parseManifest(top.bytes, top.mediaType);
      if (manifest.kind !== 'index') return { image, digest: top.digest, mediaType: top.mediaType };
      const chosen = chooseInstance(manifest, choose);
      return { image, digest: chosen.digest, mediaType: chosen.mediaType, indexDigest: top.digest };
    } finally {
      await source.close();
    }
  }
}
