import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Principal, requireScope } from '../auth/principal';
import { referenceAllowed, referenceTarget, requireReferenceAccess } from '../auth/reference-access';
import { type ReferenceCheck, ReferenceAuthorizer } from '../auth/reference-authorizer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { VerifyingStream } from '../copy-engine/verifying-stream';
import { isDigest } from '../image-spec/digest';
import { dockerRepositoryTarget } from '../image-spec/reference-pattern';
import { BusyLimit } from './busy-limit';
import { CredentialService } from '../credentials/credential.service';
import { DomainError, OperationNotSupportedError } from '../errors/domain-error';
import { isNameOnly, parseDockerReference, repositoryName, trimNamed } from '../image-spec/docker-reference';
import { InvalidReferenceError } from '../image-spec/invalid-reference-error';
import { parseImageReference, registryImageOf, type ImageReference } from '../image-spec/image-reference';
import { chooseInstance, type ImageManifest, type Manifest, type PlatformChoice, type Schema1Manifest, parseManifest } from '../image-spec/manifest';
import { isImageManifestConfig } from '../image-spec/media-types';
import { type OciImageConfig, parseConfigJson, toOciImageConfig } from '../image-spec/oci-config';
import { TransportRegistry } from '../transports/transport-registry';
import { type TagFilter, checkTagFilter, filterTags } from '../tags/tag-filter';
import type { ImageSource, ManifestBlob, RegistryAuth, TransportContext } from '../transports/transport';
import { assemble, checkInspectTemplate, type InspectOutput, type InspectParts, inspectImageParts, inspectSchema1, renderInspectTemplate } from './inspect-output';

/** As skopeo: an artifact's config is not an image config (GET /v1/images/descriptor describes it). */
function refuseArtifact(manifest: ImageManifest): void {
  if (!isImageManifestConfig(manifest)) {
    throw new OperationNotSupportedError(`unsupported image-specific operation on artifact with type ${JSON.stringify(manifest.config.mediaType)}; GET /v1/images/descriptor describes any artifact`);
  }
}

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

export interface ImageRead extends ImageAccess {
  image: string;
  /** Which instance of a multi-arch index (skopeo's --override-os/arch/variant). */
  platform?: PlatformChoice;
}

export interface InspectRequest extends ImageRead {
  noTags?: boolean;
}

export interface BlobRequest extends ImageAccess {
  /** A repository (`docker://host/name`, no tag or digest) or an image of a layout or archive (`oci:PATH[:NAME]`, `dir:PATH`, …). */
  repository: string;
  digest: string;
}

/** One blob as it streams: verified on the way (the stream errors, DIGEST_MISMATCH, instead of ending when the bytes do not match). */
export interface BlobAnswer {
  digest: string;
  /** Bytes the source announced (-1 when unknown); the stream fails if it delivers another count. */
  size: number;
  stream: Readable;
}

/** An instance was asked for explicitly (any of os, architecture, variant). */
function platformGiven(p: PlatformChoice | undefined): p is PlatformChoice {
  return p !== undefined && (p.os !== undefined || p.architecture !== undefined || p.variant !== undefined);
}

/**
 * skopeo inspect / list-tags / delete over any transport, plus what `skopeo inspect --raw`,
 * `--config` and `--config --raw` print, each as its own operation (manifest, config, blob).
 * Transport-agnostic: the transport registry supplies sources; the rules (which instance,
 * which fields) are skopeo's.
 *
 * Access: reads need `images:read` and a reference inside the principal's source patterns
 * (list-tags and blobs: the whole repository, layout or archive); delete needs `images:delete`
 * and a reference inside its destination patterns; a transport must be enabled (and the daemon
 * ones need `daemons`). Opening an archive (docker-archive:, oci-archive:) is bounded
 * (SKIFF_ARCHIVE_INSPECT_CONCURRENCY): beyond it, 503 SERVICE_BUSY with Retry-After; a blob
 * read from an archive holds its slot until its stream ends.
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

  /** Opens a source of `image` for reading (scope, patterns, transport checked) and runs `work` with it, under the archive bound. */
  private async reading<T>(req: ImageRead, action: string, work: (source: ImageSource, ref: ImageReference) => Promise<T>): Promise<T> {
    const ref = await this.authorize(req.image, req, { scope: 'images:read', side: 'source', action });
    return this.bounded(ref, req.principal, async () => {
      const source = await this.transports.get(ref.transport, 'inspect').openSource(ref, this.context(req));
      try {
        return await work(source, ref);
      } finally {
        await source.close();
      }
    });
  }

  /** The image manifest inspect, config and text describe: the top-level one, or the instance of an index `platform` chooses (skopeo's rule). */
  private async imageManifest(source: ImageSource, req: ImageRead): Promise<{ top: ManifestBlob; bytes: Uint8Array; manifest: ImageManifest | Schema1Manifest }> {
    const top = await source.getManifest({ signal: req.signal });
    const manifest = parseManifestOnce(top.bytes, top.mediaType);
    if (manifest.kind !== 'index') return { top, bytes: top.bytes, manifest };
    const chosen = chooseInstance(manifest, req.platform);
    const instance = await source.getManifest({ instanceDigest: chosen.digest, signal: req.signal });
    const parsed = parseManifestOnce(instance.bytes, instance.mediaType);
    if (parsed.kind === 'index') throw new DomainError('MANIFEST_INVALID', `instance ${chosen.digest} of the index is itself an index`);
    return { top, bytes: instance.bytes, manifest: parsed };
  }

  /** skopeo inspect: the JSON, field for field. */
  async inspect(req: InspectRequest): Promise<InspectOutput> {
    return this.reading(req, 'inspecting images', (source, ref) => this.inspectSource(source, ref, req));
  }

  /** skopeo inspect --format: the template is checked before anything is read (400 INVALID_TEMPLATE). */
  async inspectText(req: InspectRequest & { format: string }): Promise<string> {
    const template = normalizeFormat(req.format);
    checkInspectTemplate(template);
    const output = await this.inspect(req);
    return renderInspectTemplate(template, output);
  }

  private async inspectSource(source: ImageSource, ref: ImageReference, req: InspectRequest): Promise<InspectOutput> {
    const transport = this.transports.get(ref.transport, 'inspect');
    const ctx = this.context(req);
    // RepoTags lists a registry's whole repository: only for a caller whose patterns cover all of it.
    const registry = registryImageOf(ref);
    const wantTags =
      registry !== undefined &&
      !req.noTags &&
      transport.listTags !== undefined &&
      referenceAllowed(req.principal, 'source', dockerRepositoryTarget(trimNamed(registry.named)));
    const tagsPromise = wantTags ? this.repoTagsForInspect(ref, ctx) : Promise.resolve([] as string[]);
    tagsPromise.catch(() => undefined);

    const { top, bytes, manifest } = await this.imageManifest(source, req);
    const inputs = { name: source.dockerReference ? repositoryName(source.dockerReference) : undefined, digest: top.digest, repoTags: [] as string[] };
    if (manifest.kind === 'image') {
      refuseArtifact(manifest);
      const parts = await this.imageParts(source, bytes, manifest, req.signal);
      inputs.repoTags = await tagsPromise;
      return assemble(inputs, parts);
    }
    inputs.repoTags = await tagsPromise;
    return inspectSchema1(inputs, manifest);
  }

  /**
   * skopeo inspect --raw: the manifest bytes as stored, with their media type and digest. The
   * top-level manifest (an index for a multi-arch image), or with `platform` the instance it chooses.
   */
  async manifest(req: ImageRead): Promise<ManifestBlob> {
    return this.reading(req, 'reading manifests', async (source) => {
      const top = await source.getManifest({ signal: req.signal });
      if (!platformGiven(req.platform)) return top;
      const manifest = parseManifestOnce(top.bytes, top.mediaType);
      if (manifest.kind !== 'index') return top;
      return source.getManifest({ instanceDigest: chooseInstance(manifest, req.platform).digest, signal: req.signal });
    });
  }

  /** skopeo inspect --config: the image config as OCI, with its digest. Artifacts are refused as inspect refuses them. */
  async imageConfig(req: ImageRead): Promise<{ config: OciImageConfig; digest: string }> {
    return this.reading(req, 'reading image configs', async (source) => {
      const { manifest } = await this.imageManifest(source, req);
      if (manifest.kind !== 'image') throw new OperationNotSupportedError('config is not available for schema1 images');
      refuseArtifact(manifest);
      const bytes = await source.readBlob(manifest.config, { signal: req.signal });
      return { config: toOciImageConfig(parseConfigJson(bytes)), digest: manifest.config.digest };
    });
  }

  /**
   * One blob of a repository (docker://, name only) or of a layout or archive, streamed through
   * the engine's verifying stream: the last chunk is held back until digest and size are
   * checked, so a mismatch ends the stream with an error instead of a complete body. The source
   * (and the archive slot) is released when the stream ends, fails or is destroyed.
   */
  async blob(req: BlobRequest): Promise<BlobAnswer> {
    if (!isDigest(req.digest)) {
      throw new DomainError('INVALID_ARGUMENT', `digest ${JSON.stringify(req.digest.slice(0, 200))} is not sha256:<64 hex> or sha512:<128 hex>`);
    }
    const ref = await this.authorizer.authorizeRepository(req.repository, req.principal, { scope: 'images:read', side: 'source', action: 'reading blobs' });
    const release = this.transports.opensArchive(ref.transport) ? this.archiveOpens.acquire(req.principal.name) : () => undefined;
    let source: ImageSource | undefined;
    try {
      source = await this.transports.get(ref.transport, 'read blobs').openSource(ref, this.context(req));
      // Every source but a registry repository reads its manifest first (the ImageSource call order).
      if (registryImageOf(ref) === undefined) await source.getManifest({ signal: req.signal });
      const blob = await source.getBlob({ digest: req.digest, size: -1 }, { signal: req.signal });
      const verified = new VerifyingStream({ digest: req.digest, size: blob.size });
      const opened = source;
      let closed = false;
      const finish = (): void => {
        if (closed) return;
        closed = true;
        opened.close().then(release, release);
      };
      verified.once('close', finish);
      pipeline(blob.stream, verified).catch(() => undefined);
      return { digest: req.digest, size: blob.size, stream: verified };
    } catch (e) {
      try {
        await source?.close();
      } finally {
        release();
      }
      throw e;
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
