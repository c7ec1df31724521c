import type { ReferrersRecordedBy } from '../copy-engine/referrers-step';
import { DomainError } from '../errors/domain-error';
import { digestOf } from '../image-spec/digest';
import type { DockerReference } from '../image-spec/docker-reference';
import type { DockerImageReference, ImageReference } from '../image-spec/image-reference';
import { parseManifest } from '../image-spec/manifest';
import { COSIGN_TAG_SUFFIXES, type ReferrerDescriptor, cosignTag, fallbackTag, listsAll, parseReferrersIndex, referrerDescriptor } from '../image-spec/referrers';
import type { RegistryExtensions } from '../transports/docker/registry-extensions';
import { type TagIndexStore, addToFallbackIndex } from './fallback-tag-index';
import type { DigestTagReferrer, ReferrerTarget, ReferrersDestination, ReferrersListing, ReferrersSource } from './referrers-access';

/** A repository's reference to one of its manifests, by digest or by tag. */
function inRepository(repository: DockerReference, target: ReferrerTarget): DockerImageReference {
  const { tag: _t, digest: _d, ...name } = repository;
  return { transport: 'docker', named: 'digest' in target ? { ...name, digest: target.digest } : { ...name, tag: target.tag } };
}

/**
 * Referrers in a registry repository. Listing: the OCI 1.1 referrers API when the registry
 * serves it, else the fallback tag `<alg>-<hex>`; plus cosign's `.sig`/`.att`/`.sbom` digest
 * tags. Recording (as a destination): nothing when the registry's own referrers API lists what
 * was written; else the fallback tag index is brought up to date (see fallback-tag-index).
 */
export class RegistryReferrers implements ReferrersSource, ReferrersDestination {
  constructor(
    private readonly repository: DockerReference,
    private readonly client: RegistryExtensions,
    private readonly opts: { settleMs?: number } = {},
  ) {}

  private get path(): string {
    return this.repository.path;
  }

  get registry(): string {
    return this.client.registry;
  }

  async list(subject: string, opts: { artifactType?: string; signal?: AbortSignal } = {}): Promise<ReferrersListing> {
    const [api, digestTags] = await Promise.all([this.client.listReferrers(this.path, subject, opts), this.digestTags(subject, opts.signal)]);
    if (api.supported) return { referrers: api.referrers, foundBy: 'referrers-api', digestTags };
    const index = await this.client.readManifest(this.path, fallbackTag(subject), opts.signal);
    let referrers: ReferrerDescriptor[] = [];
    if (index) {
      try {
        referrers = parseReferrersIndex(index.bytes, `the referrers tag ${fallbackTag(subject)} in ${this.client.registry}/${this.path}`);
      } catch (e) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', (e as Error).message, { registry: this.client.registry });
      }
    }
    return { referrers, foundBy: 'tag-schema', digestTags };
  }

  /** The cosign digest tags of a subject that exist, with the descriptors of what they hold. */
  private async digestTags(subject: string, signal?: AbortSignal): Promise<DigestTagReferrer[]> {
    if (!subject.startsWith('sha256:')) return [];
    const found = await Promise.all(
      COSIGN_TAG_SUFFIXES.map(async (suffix) => {
        const tag = cosignTag(subject, suffix);
        const m = await this.client.readManifest(this.path, tag, signal);
        if (!m) return undefined;
        let parsed;
        try {
          parsed = parseManifest(m.bytes, m.mediaType);
        } catch (e) {
          throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `the digest tag ${tag} in ${this.client.registry}/${this.path}: ${(e as Error).message}`, { registry: this.client.registry });
        }
        return { tag, descriptor: referrerDescriptor(m, parsed) };
      }),
    );
    return found.filter((f): f is DigestTagReferrer => f !== undefined);
  }

  async referenceOf(target: ReferrerTarget): Promise<ImageReference> {
    return inRepository(this.repository, target);
  }

  async record(subject: string, referrers: readonly ReferrerDescriptor[], signal: AbortSignal): Promise<ReferrersRecordedBy> {
    const api = await this.client.listReferrers(this.path, subject, { signal });
    if (api.supported && listsAll(api.referrers, referrers)) return 'referrers-api';
    const store: TagIndexStore = {
      read: async (tag, s) => {
        const m = await this.client.readManifest(this.path, tag, s);
        return m ? { digest: digestOf(m.bytes), bytes: m.bytes } : undefined;
      },
      write: async (tag, bytes, mediaType, cond, s) => {
        const r = await this.client.putManifest(this.path, tag, bytes, mediaType, { ...cond, signal: s });
        return r.status;
      },
    };
    await addToFallbackIndex(store, fallbackTag(subject), referrers, { signal, settleMs: this.opts.settleMs });
    return 'tag-schema';
  }
}
