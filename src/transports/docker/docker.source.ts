import { DomainError } from '../../errors/domain-error';
import { type DockerReference } from '../../image-spec/docker-reference';
import type { DockerImageReference } from '../../image-spec/image-reference';
import { digestAlgorithm, digestOf } from '../../image-spec/digest';
import type { BlobReadOptions, BlobStream, ImageSource, ManifestBlob } from '../transport';

import type { RegistryClient } from './registry-client';
import { MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import { MANIFEST_MEDIA_TYPES } from '../../image-spec/media-types';

/**
 * ImageSource over a registry repository. The top-level manifest is fetched once and kept;
 * instance manifests are fetched by digest (and verified by the client).
 */
export class DockerSource implements ImageSource {
  private topLevel?: Promise<ManifestBlob>;

  constructor(
    readonly reference: DockerImageReference,
    private readonly client: RegistryClient,
  ) {}

  get dockerReference(): DockerReference {
    return this.reference.named;
  }

  private get repository(): string {
    return this.reference.named.path;
  }

  getManifest(opts: { instanceDigest?: string; signal?: AbortSignal } = {}): Promise<ManifestBlob> {
    // Instances are fetched by digest after the top-level manifest authorised this repository: cacheable.
    if (opts.instanceDigest) return this.client.getManifest(this.repository, opts.instanceDigest, opts.signal, { cached: true });
    if (!this.topLevel) {
      const named = this.reference.named;
      const ref = named.digest ?? named.tag ?? 'latest';
      this.topLevel = this.client.getManifest(this.repository, ref, opts.signal);
      this.topLevel.catch(() => {
        this.topLevel = undefined;
      });
    }
    return this.topLevel;
  }

  getBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions = {}): Promise<BlobStream> {
    return this.client.getBlob(this.repository, descriptor.digest, opts.signal);
  }

  async readBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions & { limit?: number } = {}): Promise<Buffer> {
    const limit = opts.limit ?? MANIFEST_SIZE_LIMIT;
    const what = `reading blob ${descriptor.digest}`;
    if (descriptor.size > limit) throw new DomainError('BODY_TOO_LARGE', `${what}: ${descriptor.size} bytes exceed the ${limit}-byte limit`);
    const cached = this.client.cachedBlob(this.repository, descriptor.digest);
    if (cached && cached.length === descriptor.size && this.topLevel && (await this.topLevel.then(() => true, () => false))) return cached;
    const bytes = await this.client.readBlob(this.repository, descriptor.digest, limit, opts.signal);
    const actual = digestOf(bytes, digestAlgorithm(descriptor.digest));
    if (actual !== descriptor.digest) {
      throw new DomainError('DIGEST_MISMATCH', `${what}: the content hashes to ${actual}`, { registry: this.client.registry });
    }
    if (descriptor.size >= 0 && bytes.length !== descriptor.size) {
      throw new DomainError('DIGEST_MISMATCH', `${what}: expected ${descriptor.size} bytes, got ${bytes.length}`, { registry: this.client.registry });
    }
    this.client.rememberBlob(this.repository, descriptor.digest, bytes);
    return bytes;
  }

  /**
   * One HEAD of the reference (registries that meter pulls count none), with verified bytes of
   * that digest when this process holds them already. Undefined when the registry does not say
   * the digest or names no manifest type we read.
   */
  async headManifest(opts: { signal?: AbortSignal } = {}): Promise<{ digest: string; mediaType: string; bytes?: Buffer } | undefined> {
    const named = this.reference.named;
    const head = await this.client.headManifest(this.repository, named.digest ?? named.tag ?? 'latest', opts.signal);
    const mediaType = head?.mediaType?.split(';')[0]!.trim().toLowerCase();
    if (!head?.digest || !mediaType || !MANIFEST_MEDIA_TYPES.includes(mediaType)) return undefined;
    if (named.digest && head.digest !== named.digest) return undefined;
    const bytes = this.client.cachedBlob(this.repository, head.digest);
    return { digest: head.digest, mediaType, ...(bytes ? { bytes } : {}) };
  }

  async close(): Promise<void> {
    // connections belong to the shared pool
  }
}
