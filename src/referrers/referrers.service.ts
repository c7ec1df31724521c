import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ReferenceAuthorizer } from '../auth/reference-authorizer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CopyEngine } from '../copy-engine/copy-engine';
import { CredentialService } from '../credentials/credential.service';
import { DomainError, OperationNotSupportedError } from '../errors/domain-error';
import { type ImageReference, layoutImageOf, registryImageOf } from '../image-spec/image-reference';
import { type ReferrerDescriptor, matchesArtifactTypes } from '../image-spec/referrers';
import { DockerTransport } from '../transports/docker/docker.transport';
import { TransportRegistry } from '../transports/transport-registry';
import type { ImageTransport, RegistryAuth, TransportContext } from '../transports/transport';
import { LayoutReferrers, LayoutReferrersSource } from './layout-referrers';
import type { ReferrersDestination, ReferrersFoundBy, ReferrersSource } from './referrers-access';
import { ReferrersCopier } from './referrers-copier';
import { RegistryReferrers } from './registry-referrers';

export interface ListReferrersRequest {
  image: string;
  artifactType?: string;
  tlsVerify?: boolean;
  auth?: RegistryAuth;
  signal?: AbortSignal;
}

/** One referrer as GET /v1/images/referrers lists it. */
export interface ListedReferrer extends ReferrerDescriptor {
  /** A cosign-style digest tag (`sha256-<hex>.sig`) this manifest was found under, instead of through its subject. */
  tag?: string;
}

export interface ReferrersAnswer {
  image: string;
  digest: string;
  foundBy: ReferrersFoundBy;
  referrers: ListedReferrer[];
}

/** Everything a copy needs to bring referrers along, on both sides. */
export interface ReferrersStepRequest {
  source: ImageReference;
  destination: ImageReference;
  sourceContext: TransportContext;
  destinationContext: TransportContext;
  artifactTypes?: readonly string[];
  retryTimes?: number;
  /** The transport that reads the source (a sync's YAML registry may have its own). */
  sourceTransport?: ImageTransport;
}

/**
 * Referrers (OCI 1.1 `subject`, fallback tag schema, cosign digest tags): the listing of
 * GET /v1/images/referrers, and the step copies and syncs run to bring them along.
 */
@Injectable()
export class ReferrersService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transports: TransportRegistry,
    private readonly docker: DockerTransport,
    private readonly credentials: CredentialService,
    private readonly engine: CopyEngine,
    private readonly authorizer: ReferenceAuthorizer,
  ) {}

  /** Refuses (at submit time) a copy with referrers between transports that cannot hold them. */
  assertSupported(source: ImageReference, destination: ImageReference): void {
    for (const [side, ref] of [['source', source], ['destination', destination]] as const) {
      // Referrers live in registries and OCI layouts.
      if (!registryImageOf(ref) && !layoutImageOf(ref)) {
        throw new OperationNotSupportedError(`referrers can be copied between docker:// and oci: images only; the ${side} is ${ref.transport}:`);
      }
    }
  }

  async list(principal: Principal, req: ListReferrersRequest): Promise<ReferrersAnswer> {
    const ref = await this.authorizer.authorize(req.image, principal, { scope: 'images:read', side: 'source', action: 'listing referrers' });
    const ctx: TransportContext = { credentials: this.credentials.resolver(principal, req.auth), tlsVerify: req.tlsVerify, signal: req.signal };
    let side: ReferrersSource;
    let digest: string;
    const registry = registryImageOf(ref);
    const layout = layoutImageOf(ref);
    if (registry) {
      const named = registry.named;
      const client = await this.docker.client(named.domain, ctx);
      digest = named.digest ?? (await client.headManifest(named.path, named.tag ?? 'latest', req.signal))?.digest ?? (await client.getManifest(named.path, named.tag ?? 'latest', req.signal)).digest;
      if (!digest) throw new DomainError('IMAGE_NOT_FOUND', `${req.image}: not found`);
      side = new RegistryReferrers(named, await this.docker.extensions(named.domain, ctx));
    } else if (layout) {
      const source = await this.transports.get(layout.transport, 'list referrers').openSource(layout, ctx);
      try {
        digest = (await source.getManifest({ signal: req.signal })).digest;
      } finally {
        await source.close();
      }
      side = await LayoutReferrers.open(this.config.storageRoot, layout.path);
    } else {
      throw new OperationNotSupportedError(`listing referrers is supported for docker:// and oci: images, not ${ref.transport}:`);
    }
    const listing = await side.list(digest, { artifactType: req.artifactType, signal: req.signal });
    const filter = req.artifactType ? [req.artifactType] : undefined;
    const referrers: ListedReferrer[] = [
      ...listing.referrers.filter((r) => matchesArtifactTypes(r, filter)),
      ...listing.digestTags.filter((t) => matchesArtifactTypes(t.descriptor, filter)).map((t) => ({ ...t.descriptor, tag: t.tag })),
    ];
    return { image: req.image, digest, foundBy: listing.foundBy, referrers };
  }

  /** The referrers step of one copy (see ReferrersCopier). */
  async step(req: ReferrersStepRequest): Promise<ReferrersCopier> {
    this.assertSupported(req.source, req.destination);
    const sourceTransport = req.sourceTransport ?? this.transports.get(req.source.transport, 'copy referrers from');
    const destinationTransport = this.transports.get(req.destination.transport, 'copy referrers to');
    const sourceRegistry = registryImageOf(req.source)?.named;
    const destinationRegistry = registryImageOf(req.destination)?.named;
    let source: ReferrersSource;
    if (sourceRegistry) {
      const docker = sourceTransport instanceof DockerTransport ? sourceTransport : this.docker;
      source = new RegistryReferrers(sourceRegistry, await docker.extensions(sourceRegistry.domain, req.sourceContext));
    } else {
      source = new LayoutReferrersSource(await LayoutReferrers.open(this.config.storageRoot, layoutImageOf(req.source)!.path));
    }
    let destination: ReferrersDestination;
    if (destinationRegistry) {
      destination = new RegistryReferrers(destinationRegistry, await this.docker.extensions(destinationRegistry.domain, req.destinationContext));
    } else {
      destination = await LayoutReferrers.open(this.config.storageRoot, layoutImageOf(req.destination)!.path);
    }
    return new ReferrersCopier({
      engine: this.engine,
      source,
      destination,
      openSource: (ref) => sourceTransport.openSource(ref, req.sourceContext),
      openDestination: (ref) => {
        if (!destinationTransport.openDestination) throw new OperationNotSupportedError(`cannot write to ${ref.transport}:`);
        return destinationTransport.openDestination(ref, req.destinationContext);
      },
      artifactTypes: req.artifactTypes,
      retryTimes: req.retryTimes,
    });
  }
}
