import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { resolveInStorageRoot } from '../storage/storage-root';
import { CredentialService } from '../credentials/credential.service';
import { DomainError, OperationNotSupportedError } from '../errors/domain-error';
import { isNameOnly, parseDockerReference, repositoryName } from '../image-spec/docker-reference';
import { InvalidReferenceError } from '../image-spec/invalid-reference-error';
import { parseImageReference, type ImageReference } from '../image-spec/image-reference';
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
 */
@Injectable()
export class ImagesService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transports: TransportRegistry,
    private readonly credentials: CredentialService,
  ) {}

  /** Parses a reference and refuses paths that leave the storage root (400 before anything else). */
  private async parse(image: string): Promise<ImageReference> {
    const ref = parseImageReference(image);
    if ('path' in ref) await resolveInStorageRoot(this.config.storageRoot, ref.path);
    return ref;
  }

  private context(access: ImageAccess): TransportContext {
    return { credentials: this.credentials.resolver(access.auth), tlsVerify: access.tlsVerify, signal: access.signal };
  }

  async inspect(req: InspectRequest): Promise<InspectResult> {
    if (req.format !== undefined && (req.raw || req.config)) {
      throw new DomainError('INVALID_ARGUMENT', 'format cannot be combined with raw or config');
    }
    const ref = await this.parse(req.image);
    const transport = this.transports.get(ref.transport, 'inspect');
    const ctx = this.context(req);
    const source = await transport.openSource(ref, ctx);
    try {
      const wantTags = ref.transport === 'docker' && !req.noTags && !req.raw && !req.config && transport.listTags !== undefined;
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
    checkTagFilter(filter);
    let ref: ImageReference;
    if (repository.startsWith('docker://')) {
      const named = parseDockerReference(repository.slice('docker://'.length));
      if (!isNameOnly(named)) {
        throw new InvalidReferenceError({ input: repository, subject: 'image name', reason: 'no tag or digest allowed in a repository reference' });
      }
      ref = { transport: 'docker', named };
    } else {
      ref = await this.parse(repository);
      if (ref.transport !== 'docker-archive') {
        throw new OperationNotSupportedError(`listing tags is not supported for the "${ref.transport}" transport (skopeo supports docker:// and docker-archive:)`);
      }
    }
    const transport = this.transports.get(ref.transport, 'list-tags');
    if (!transport.listTags) throw new OperationNotSupportedError(`listing tags is not supported for the "${ref.transport}" transport`);
    const { repository: name, tags } = await transport.listTags(ref, this.context(access));
    return { Repository: name, Tags: await filterTags(tags, filter) };
  }

  /** skopeo delete: resolves a tag to its digest and deletes that manifest. */
  async delete(image: string, access: ImageAccess): Promise<{ image: string; digest: string }> {
    const ref = await this.parse(image);
    const transport = this.transports.get(ref.transport, 'delete');
    if (!transport.deleteImage) throw new OperationNotSupportedError(`deleting images is not supported for the "${ref.transport}" transport`);
    const digest = await transport.deleteImage(ref, this.context(access));
    return { image, digest };
  }
}
