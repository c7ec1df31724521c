import { DomainError } from '../../errors/domain-error';
import { digestOf, isDigest, digestAlgorithm } from '../../image-spec/digest';
import { MANIFEST_MEDIA_TYPES } from '../../image-spec/media-types';
import { normalizeManifestMediaType, MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import type { BlobStream, ManifestBlob } from '../transport';
import { assertBlobDigest, assertManifestReference, assertRepository } from './registry-names';
import { ContentCache } from './content-cache';
import { nextPagePath } from './link-header';
import { sanitizeUpstreamText } from './upstream-text';
import type { RegistryCallContext } from './registry-auth';
import { discardBody, header } from './registry-exchange';
import type { RegistryHttp, RequestOptions } from './registry-http';
import type { RateLimitState } from './registry-state';

/** A bound on what a (possibly hostile) tag list can make us hold in memory. */
const MAX_TAGS = 1_000_000;

/**
 * Registry v2 operations on one repository of one registry. Every tag, digest and repository
 * name is validated here before it is put into a URL, whatever validated it before.
 */
export class RegistryClient {
  constructor(
    private readonly http: RegistryHttp,
    readonly registry: string,
    private readonly ctx: RegistryCallContext,
  ) {}

  private repoPath(repository: string): string {
    return assertRepository(repository);
  }

  private referencePath(reference: string): string {
    return assertManifestReference(reference);
  }

  private scope(repository: string, actions: string): string {
    return `repository:${repository}:${actions}`;
  }

  /**
   * The registry's rate limit as its answers last announced it (limit, remaining, window,
   * reset) to this client's credentials, without a request: what a sync checks before pulling
   * more. Undefined when the registry announced none to them (or skiff has not talked to it).
   */
  knownRateLimit(): RateLimitState | undefined {
    return this.http.rateLimitFor(this.registry, this.ctx.auth);
  }

  /** Checks that the registry answers and that our credentials (if any) are accepted. */
  async checkAccess(): Promise<void> {
    await this.http.request(this.registry, this.ctx, {
      method: 'GET',
      path: '/v2/',
      operation: 'ping',
      accept: [200],
      what: `checking credentials for ${this.registry}`,
    });
  }

  /**
   * GETs a manifest by tag or digest, capped at 4 MiB. A manifest fetched by digest must hash
   * to that digest; the returned digest is always computed from the bytes.
   */
  async getManifest(repository: string, reference: string, signal?: AbortSignal, opts: { cached?: boolean } = {}): Promise<ManifestBlob> {
    const cacheKey = opts.cached && isDigest(reference) ? ContentCache.key(this.registry, repository, reference) : undefined;
    const hit = cacheKey ? this.http.contentCache.get(cacheKey) : undefined;
    if (hit) return { bytes: hit.bytes, mediaType: hit.mediaType, digest: reference };
    const what = `reading manifest ${reference} in ${this.registry}/${repository}`;
    // A tag fetched before: ask with If-None-Match for the digest we hold (verified) bytes of.
    // The registry still authorises the request and resolves the tag; a 304 only spares the
    // body. Nothing is served from memory without the registry's say-so.
    const tagKey = isDigest(reference) ? undefined : `${this.registry}/${repository}:${reference}`;
    const knownDigest = tagKey ? this.http.tagDigests.get(tagKey) : undefined;
    const known = knownDigest ? this.http.contentCache.get(ContentCache.key(this.registry, repository, knownDigest)) : undefined;
    const { res, bytes } = await this.http.requestBytes(
      this.registry,
      { ...this.ctx, signal: signal ?? this.ctx.signal },
      {
        method: 'GET',
        path: `/v2/${this.repoPath(repository)}/manifests/${this.referencePath(reference)}`,
        scope: this.scope(repository, 'pull'),
        operation: 'manifest',
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', '), ...(known ? { 'if-none-match': `"${knownDigest}"` } : {}) },
        accept: known ? [200, 304] : [200],
        what,
      },
      MANIFEST_SIZE_LIMIT,
    );
    if (res.status === 304 && known && knownDigest) return { bytes: known.bytes, mediaType: known.mediaType, digest: knownDigest };
    let digest = digestOf(bytes, 'sha256');
    if (isDigest(reference)) {
      const algo = digestAlgorithm(reference);
      const actual = algo === 'sha256' ? digest : digestOf(bytes, algo);
      if (actual !== reference) {
        throw new DomainError('DIGEST_MISMATCH', `${what}: the registry returned a manifest whose digest is ${actual}`, { registry: this.registry });
      }
      digest = reference;
    }
    const mediaType = normalizeManifestMediaType(header(res, 'content-type'), bytes);
    if (cacheKey) this.http.contentCache.set(cacheKey, bytes, mediaType);
    if (tagKey) {
      this.http.contentCache.set(ContentCache.key(this.registry, repository, digest), bytes, mediaType);
      this.http.tagDigests.set(tagKey, digest);
    }
    return { bytes, mediaType, digest };
  }

  /** HEADs a manifest; returns its digest as announced, or undefined when it does not exist. */
  async headManifest(repository: string, reference: string, signal?: AbortSignal): Promise<{ digest?: string; mediaType?: string; size?: number } | undefined> {
    const res = await this.http.request(this.registry, signal ? { ...this.ctx, signal } : this.ctx, {
      method: 'HEAD',
      path: `/v2/${this.repoPath(repository)}/manifests/${this.referencePath(reference)}`,
      scope: this.scope(repository, 'pull'),
      operation: 'manifest',
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      accept: [200, 404],
      what: `checking manifest ${reference} in ${this.registry}/${repository}`,
    });
    void discardBody(res);
    if (res.status === 404) return undefined;
    const d = header(res, 'docker-content-digest');
    const size = Number(header(res, 'content-length'));
    return { digest: d && isDigest(d) ? d : undefined, mediaType: header(res, 'content-type'), size: Number.isFinite(size) ? size : undefined };
  }

  /** The shared cache of verified small blobs (configs) for this repository. */
  cachedBlob(repository: string, digest: string): Buffer | undefined {
    return this.http.contentCache.get(ContentCache.key(this.registry, repository, digest))?.bytes;
  }

  rememberBlob(repository: string, digest: string, bytes: Buffer): void {
    this.http.contentCache.set(ContentCache.key(this.registry, repository, digest), bytes, 'application/octet-stream');
  }

  /** The GET of a blob, its digest validated before it goes into the URL. */
  private blobGet(repository: string, digest: string): RequestOptions {
    assertBlobDigest(digest);
    return {
      method: 'GET',
      path: `/v2/${this.repoPath(repository)}/blobs/${digest}`,
      scope: this.scope(repository, 'pull'),
      operation: 'blob',
      accept: [200],
      what: `reading blob ${digest} in ${this.registry}/${repository}`,
    };
  }

  /** GETs a small blob (a config) whole, capped at `limit`; unverified: the caller checks its digest. */
  async readBlob(repository: string, digest: string, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const req = this.blobGet(repository, digest);
    const { bytes } = await this.http.requestBytes(this.registry, { ...this.ctx, signal: signal ?? this.ctx.signal }, req, limit);
    return bytes;
  }

  /** GETs a blob as a stream (unverified: the caller wraps it in the verifying stream). */
  async getBlob(repository: string, digest: string, signal?: AbortSignal): Promise<BlobStream> {
    const req = this.blobGet(repository, digest);
    const res = await this.http.request(this.registry, { ...this.ctx, signal: signal ?? this.ctx.signal }, req);
    const size = Number(header(res, 'content-length'));
    return { stream: res.body, size: Number.isFinite(size) ? size : -1 };
  }

  /**
   * Lists every tag, following `Link: <…>; rel="next"` on the same host only, with a guard
   * against loops. The registry's order is kept; names are listed as the registry gives them,
   * valid tags or not (as skopeo), so a caller building references must check them.
   */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    const seen = new Set<string>();
    let path: string | undefined = `/v2/${this.repoPath(repository)}/tags/list${this.http.tagsPageSize ? `?n=${this.http.tagsPageSize}` : ''}`;
    const what = `listing tags of ${this.registry}/${repository}`;
    while (path) {
      if (seen.has(path) || seen.size > 10_000) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the registry's pagination loops`, { registry: this.registry });
      }
      seen.add(path);
      const { res, bytes: body } = await this.http.requestBytes(
        this.registry,
        this.ctx,
        { method: 'GET', path, scope: this.scope(repository, 'pull'), operation: 'tags', headers: { accept: 'application/json' }, accept: [200], what },
        MANIFEST_SIZE_LIMIT,
      );
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString('utf8'));
      } catch {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the answer is not JSON`, { registry: this.registry });
      }
      const page = (doc as { tags?: unknown } | null)?.tags;
      if (page !== null && page !== undefined && !Array.isArray(page)) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: "tags" is not a list`, { registry: this.registry });
      }
      // Every string is listed, as skopeo lists it (a name that is not a valid tag included: it is
      // the registry's answer); users that build references from tags check them (a sync).
      for (const t of page ?? []) {
        if (typeof t !== 'string') {
          throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the registry listed an invalid tag ${sanitizeUpstreamText(JSON.stringify(t) ?? String(t), 300)}`, { registry: this.registry });
        }
        tags.push(t);
      }
      if (tags.length > MAX_TAGS) {
        throw new DomainError('BODY_TOO_LARGE', `${what}: more than ${MAX_TAGS} tags; refusing to hold more`, { registry: this.registry });
      }
      path = nextPagePath(header(res, 'link'), res.url, what, this.registry);
    }
    return tags;
  }

  /** DELETEs a manifest by digest (`repository:…:*` scope, as skopeo asks for). */
  async deleteManifest(repository: string, digest: string): Promise<void> {
    if (!isDigest(digest)) throw new DomainError('INVALID_REFERENCE', `invalid manifest digest ${JSON.stringify(digest)}`);
    const res = await this.http.request(this.registry, this.ctx, {
      method: 'DELETE',
      path: `/v2/${this.repoPath(repository)}/manifests/${digest}`,
      scope: this.scope(repository, '*'),
      operation: 'delete',
      accept: [200, 202],
      what: `deleting manifest ${digest} in ${this.registry}/${repository}`,
    });
    void discardBody(res);
  }
}
