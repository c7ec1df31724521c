import { Inject, Injectable } from '@nestjs/common';
import { type Principal, requireScope } from '../auth/principal';
import { referenceAllowed, referenceTarget, requireReferenceAccess } from '../auth/reference-access';
import { type ReferenceCheck, ReferenceAuthorizer } from '../auth/reference-authorizer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { dockerRepositoryTarget } from '../image-spec/reference-pattern';
import { BusyLimit } from './busy-limit';
import { CredentialService } from '../credentials/credential.service';
import { DomainError, OperationNotSupportedError } from '../errors/domain-error';
import { isNameOnly, parseDockerReference, repositoryName, trimNamed } from '../image-spec/docker-reference';
import { InvalidReferenceError } from '../image-spec/invalid-reference-error';
import { parseImageReference, registryImageOf, type ImageReference } from '../image-spec/image-reference';
import { chooseInstance, type ImageManifest, type Manifest, type PlatformChoice, parseManifest } from '../image-spec/manifest';
import { isImageConfigMediaType } from '../image-spec/media-types';
import { type OciImageConfig, parseConfigJson, toOciImageConfig } from '../image-spec/oci-config';
import { TransportRegistry } from '../transports/transport-registry';
import { type TagFilter, checkTagFilter, filterTags } from '../tags/tag-filter';
import type { ImageSource, RegistryAuth, TransportContext } from '../transports/transport';
import { assemble, type InspectOutput, type InspectParts, inspectImageParts, inspectSchema1, renderInspectTemplate } from './inspect-output';

/** As the skopeo CLI prepares `--format`: `\t` becomes a tab and a final newline is ensured. */
function normalizeFormat(format: string): string {
  const f = format.replaceAll('\\t', '\t');
  return f.endsWith('\n') ? f : f + '\n';
}

/*
 * Parsed forms of manifest and config bytes, keyed by the byte buffers themselves. A registry
 * source hands out the same verified Buffer for content it already holds (revalidated tags,
 * cached configs), so a warm inspect parses nothing again; an entry goes when its buffer is
 * collected. The values are shared between requests and never mutated.
 */
const parsedManifests = new WeakMap<Uint8Array, { mediaType: string; manifest: Manifest }>();
const imageParts = new WeakMap<Uint8Array, WeakMap<Uint8Array, InspectParts>>();

function parseManifestOnce(bytes: Uint8Array, mediaType: string): Manifest {
  const hit = parsedManifests.get(bytes);
  if (hit && hit.mediaType === mediaType) return hit.manifest;
  const manifest = parseManifest(bytes, mediaType);
  parsedManifests.set(bytes, { mediaType, manifest });
  return manifest;
}

export interface ImageAccess {
  /** Who is asking: scopes, reference patterns, and which stored credentials apply. */
  principal: Principal;
  auth?: RegistryAuth;
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

export interface InspectRequest extends ImageAccess {
  image: string;
  raw?: boolean;
  config?: boolean;
  platform?: PlatformChoice;
  noTags?: boolean;
  format?: string;
}

/** What an inspect produces: skopeo's JSON, raw bytes (manifest or config), an OCI config, or text. */
export type InspectResult =
  | { kind: 'inspect'; output: InspectOutput }
  | { kind: 'raw'; bytes: Buffer; mediaType: string; digest: string }
  | { kind: 'config'; config: OciImageConfig }
  | { kind: 'text'; text: string };

/**
 * skopeo inspect / list-tags / delete over any transport. Transport-agnostic: the transport
 * registry supplies sources; the rules (which instance, which fields) are skopeo's.
 *
 * Access: reads need `images:read` and a reference inside the principal's source patterns
 * (list-tags: the whole repository or archive); delete needs `images:delete` and a reference
 * inside its destination patterns; a transport must be enabled (and the daemon ones need
 * `daemons`). Opening an archive (docker-archive:, oci-archive:) is bounded
 * (SKIFF_ARCHIVE_INSPECT_CONCURRENCY): beyond it, 503 SERVICE_BUSY with Retry-After.
 */
@Injectable()
export class ImagesService {
  private readonly archiveOpens: BusyLimit;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transports: TransportRegistry,
    private readonly credentials: CredentialService,
    private readonly authorizer: ReferenceAuthorizer,
  ) {
    const max = config.security.archiveInspectConcurrency;
    this.archiveOpens = new BusyLimit({
      max,
      perCaller: Math.max(1, Math.ceil(max / 2)),
      what: 'archive inspects',
      setting: 'SKIFF_ARCHIVE_INSPECT_CONCURRENCY',
      retryAfterSeconds: 5,
    });
  }

  /** Parses a reference and checks scope, transport, storage path and patterns for `side` (see ReferenceAuthorizer). */
  private authorize(image: string, access: ImageAccess, check: ReferenceCheck): Promise<ImageReference> {
    return this.authorizer.authorize(image, access.principal, check);
  }

  /** Runs `work` under the archive bound when the transport opens whole archives. */
  private async bounded<T>(ref: ImageReference, principal: Principal, work: () => Promise<T>): Promise<T> {
    if (!this.transports.opensArchive(ref.transport)) return work();
    const release = this.archiveOpens.acquire(principal.name);
    try {
      return await work();
    } finally {
      release();
    }
  }

  private context(access: ImageAccess): TransportContext {
    return { credentials: this.credentials.resolver(access.principal, access.auth), tlsVerify: access.tlsVerify, signal: access.signal };
  }

  async inspect(req: InspectRequest): Promise<InspectResult> {
    if (req.format !== undefined && (req.raw || req.config)) {
      throw new DomainError('INVALID_ARGUMENT', 'format cannot be combined with raw or config');
    }
    const ref = await this.authorize(req.image, req, { scope: 'images:read', side: 'source', action: 'inspecting images' });
    return this.bounded(ref, req.principal, () => this.inspectReference(ref, req));
  }

  private async inspectReference(ref: ImageReference, req: InspectRequest): Promise<InspectResult> {
    const transport = this.transports.get(ref.transport, 'inspect');
    const ctx = this.context(req);
    const source = await transport.openSource(ref, ctx);
    try {
      // RepoTags lists a registry's whole repository: only for a caller whose patterns cover all of it.
      const registry = registryImageOf(ref);
      const wantTags =
        registry !== undefined &&
        !req.noTags &&
        !req.raw &&
        !req.config &&
        transport.listTags !== undefined &&
        referenceAllowed(req.principal, 'source', dockerRepositoryTarget(trimNamed(registry.named)));
      const tagsPromise = wantTags ? this.repoTagsForInspect(ref, ctx) : Promise.resolve([] as string[]);
      tagsPromise.catch(() => undefined);

      const top = await source.getManifest({ signal: req.signal });
      if (req.raw && !req.config) return { kind: 'raw', bytes: top.bytes, mediaType: top.mediaType, digest: top.digest };

      let manifestBytes = top.bytes;
      let manifest = parseManifestOnce(top.bytes, top.mediaType);
      if (manifest.kind === 'index') {
        const chosen = chooseInstance(manifest, req.platform);
        const instance = await source.getManifest({ instanceDigest: chosen.digest, signal: req.signal });
        manifestBytes = instance.bytes;
        manifest = parseManifestOnce(instance.bytes, instance.mediaType);
        if (manifest.kind === 'index') throw new DomainError('MANIFEST_INVALID', `instance ${chosen.digest} of the index is itself an index`);
      }

      if (req.config) {
        if (manifest.kind !== 'image') throw new OperationNotSupportedError('config is not available for schema1 images');
        const bytes = await source.readBlob(manifest.config, { signal: req.signal });
        if (req.raw) return { kind: 'raw', bytes, mediaType: manifest.config.mediaType || 'application/json', digest: manifest.config.digest };
        return { kind: 'config', config: toOciImageConfig(parseConfigJson(bytes)) };
      }

      const inputs = { name: source.dockerReference ? repositoryName(source.dockerReference) : undefined, digest: top.digest, repoTags: [] as string[] };
      let output: InspectOutput;
      if (manifest.kind === 'image') {
        // As skopeo: an artifact's config is not an image config (GET /v1/images/descriptor describes it).
        if (!isImageConfigMediaType(manifest.config.mediaType)) {
          throw new OperationNotSupportedError(`unsupported image-specific operation on artifact with type ${JSON.stringify(manifest.config.mediaType)}; GET /v1/images/descriptor describes any artifact`);
        }
        const parts = await this.imageParts(source, manifestBytes, manifest, req.signal);
        inputs.repoTags = await tagsPromise;
        output = assemble(inputs, parts);
      } else {
        inputs.repoTags = await tagsPromise;
        output = inspectSchema1(inputs, manifest);
      }
      if (req.format !== undefined) return { kind: 'text', text: renderInspectTemplate(normalizeFormat(req.format), output) };
      return { kind: 'inspect', output };
    } finally {
      await source.close();
    }
  }

  /** The inspect fields an image's manifest and config determine, computed once per pair of buffers. */
  private async imageParts(source: ImageSource, manifestBytes: Uint8Array, manifest: ImageManifest, signal?: AbortSignal): Promise<InspectParts> {
    const configBytes = await source.readBlob(manifest.config, { signal });
    let byConfig = imageParts.get(manifestBytes);
    const hit = byConfig?.get(configBytes);
    if (hit) return hit;
    const parts = inspectImageParts(manifest, parseConfigJson(configBytes));
    if (!byConfig) imageParts.set(manifestBytes, (byConfig = new WeakMap()));
    byConfig.set(configBytes, parts);
    return parts;
  }

  /**
   * RepoTags for inspect, as skopeo: the full list for docker://; a registry that refuses the
   * tag list (DENIED) or does not implement it (404) gives an empty list instead of an error.
   */
  private async repoTagsForInspect(ref: ImageReference, ctx: TransportContext): Promise<string[]> {
    const transport = this.transports.get(ref.transport, 'list-tags');
    try {
      return (await transport.listTags!(ref, ctx)).tags;
    } catch (e) {
      if (e instanceof DomainError && (e.code === 'REGISTRY_DENIED' || e.code === 'IMAGE_NOT_FOUND')) return [];
      throw new DomainError(e instanceof DomainError ? e.code : 'UPSTREAM_UNAVAILABLE', `determining repository tags: ${(e as Error).message}`, e instanceof DomainError ? e.upstream : {});
    }
  }

  /** skopeo list-tags: `docker://NAME` (no tag or digest) or a docker-archive. */
  async listTags(repository: string, access: ImageAccess, filter: TagFilter = {}): Promise<{ Repository: string; Tags: string[] }> {
    const action = 'listing tags';
    requireScope(access.principal, 'images:read', action);
    checkTagFilter(filter);
    let ref: ImageReference;
    if (repository.startsWith('docker://')) {
      const named = parseDockerReference(repository.slice('docker://'.length));
      if (!isNameOnly(named)) {
        throw new InvalidReferenceError({ input: repository, subject: 'image name', reason: 'no tag or digest allowed in a repository reference' });
      }
      ref = { transport: 'docker', named };
      this.transports.authorize(ref.transport, access.principal, action);
      requireReferenceAccess(access.principal, 'source', dockerRepositoryTarget(named));
    } else {
      ref = parseImageReference(repository);
      this.transports.authorize(ref.transport, access.principal, action);
      const target = await referenceTarget(ref, this.config.storageRoot);
      if (!this.transports.get(ref.transport, 'list-tags').listTags) {
        throw new OperationNotSupportedError(`listing tags is not supported for the "${ref.transport}" transport (skopeo supports docker:// and docker-archive:)`);
      }
      requireReferenceAccess(access.principal, 'source', { ...target, item: undefined });
    }
    const transport = this.transports.get(ref.transport, 'list-tags');
    if (!transport.listTags) throw new OperationNotSupportedError(`listing tags is not supported for the "${ref.transport}" transport`);
    const listTags = transport.listTags.bind(transport);
    const { repository: name, tags } = await this.bounded(ref, access.principal, () => listTags(ref, this.context(access)));
    return { Repository: name, Tags: await filterTags(tags, filter) };
  }

  /** skopeo delete: resolves a tag to its digest and deletes that manifest. */
  async delete(image: string, access: ImageAccess): Promise<{ image: string; digest: string }> {
    const ref = await this.authorize(image, access, { scope: 'images:delete', side: 'destination', action: 'deleting images' });
    const transport = this.transports.get(ref.transport, 'delete');
    if (!transport.deleteImage) throw new OperationNotSupportedError(`deleting images is not supported for the "${ref.transport}" transport`);
    const digest = await transport.deleteImage(ref, this.context(access));
    return { image, digest };
  }
}
