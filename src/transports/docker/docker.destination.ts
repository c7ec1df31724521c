import type { Readable } from 'node:stream';
import type { DockerImageReference } from '../../image-spec/image-reference';
import { MANIFEST_MEDIA_TYPES, isSchema1MediaType } from '../../image-spec/media-types';
import type { BlobInfo, ImageDestination, MountSource } from '../transport';
import type { RegistryWriter } from './registry-writer';

/**
 * ImageDestination over a registry repository. Registries accept every manifest type we write.
 * `additionalTags` (other tags of the same repository) get the committed manifest too, after
 * the reference's own tag: manifests last, so none of them ever names a partial image.
 */
export class DockerDestination implements ImageDestination {
  readonly hostKey: string;
  readonly blobScope: string;

  constructor(
    readonly reference: DockerImageReference,
    private readonly writer: RegistryWriter,
    private readonly additionalTags: readonly string[] = [],
  ) {
    this.hostKey = `docker://${reference.named.domain}`;
    this.blobScope = `docker://${reference.named.domain}/${reference.named.path}`;
  }

  supportedManifestTypes(): readonly string[] {
    return MANIFEST_MEDIA_TYPES.filter((t) => !isSchema1MediaType(t));
  }

  async tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | 'mounted' | undefined> {
    if (await this.writer.hasBlob(blob.digest, opts.signal)) return 'present';
    const from = opts.mountFrom;
    if (from && from.registry === this.reference.named.domain && from.repository !== this.reference.named.path) {
      if (await this.writer.mountBlob(blob.digest, from.repository, opts.signal)) return 'mounted';
    }
    return undefined;
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.writer.uploadBlob(stream, blob, opts.signal);
  }

  /** The digest under the reference, when every additional tag holds the same one too (else undefined: something to write). */
  async currentManifestDigest(opts: { signal?: AbortSignal }): Promise<string | undefined> {
    const named = this.reference.named;
    const digests = await Promise.all([named.tag ?? named.digest ?? 'latest', ...this.additionalTags].map((t) => this.writer.manifestDigest(t, opts.signal)));
    return digests.every((d) => d === digests[0]) ? digests[0] : undefined;
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    const named = this.reference.named;
    const reference = opts.instanceDigest ?? named.tag ?? named.digest ?? 'latest';
    await this.writer.putManifest(reference, bytes, mediaType, opts.signal);
    if (opts.instanceDigest) return;
    for (const tag of this.additionalTags) await this.writer.putManifest(tag, bytes, mediaType, opts.signal);
  }

  async close(): Promise<void> {
    // connections belong to the shared pool
  }
}
