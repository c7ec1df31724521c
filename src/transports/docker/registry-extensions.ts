import { DomainError } from '../../errors/domain-error';
import { digestOf, isDigest } from '../../image-spec/digest';
import { MANIFEST_SIZE_LIMIT, normalizeManifestMediaType } from '../../image-spec/manifest';
import { MANIFEST_MEDIA_TYPES, MediaType } from '../../image-spec/media-types';
import { MAX_REFERRERS_PER_SUBJECT, type ReferrerDescriptor, parseReferrersIndex } from '../../image-spec/referrers';
import type { ManifestBlob } from '../transport';
import { nextLink, nextPagePath } from './link-header';
import { header } from './registry-exchange';
import type { RegistryHttp, RequestOptions } from './registry-http';
import { TAG, assertBlobDigest, assertManifestReference, assertRepository, isRepositoryName } from './registry-names';

/**
 * Registry calls skiff makes beyond skopeo's: the OCI 1.1 referrers API, manifest reads that
 * tell "absent" from an error, manifest writes with preconditions that report the registry's
 * `OCI-Subject`, tag deletion, small blob uploads, and the catalog. Every name, tag and digest
 * is validated before it goes into a URL (as in RegistryClient); every answer is read with a
 * limit and validated before use.
 */

/** The per-call context RegistryHttp takes (credentials, TLS choice, signal). */
export type RegistryCallContext = Parameters<RegistryHttp['request']>[1];

/** Pages of one paginated answer we follow at most (a loop guard against hostile registries). */
const MAX_PAGES = 100;
const CATALOG_PAGE_LIMIT = 4 * 1024 * 1024;

export type ReferrersListing = { supported: false } | { supported: true; referrers: ReferrerDescriptor[]; filtersApplied: string[] };

export class RegistryExtensions {
  constructor(
    private readonly http: RegistryHttp,
    readonly registry: string,
    private readonly ctx: RegistryCallContext,
  ) {}

  private call(signal: AbortSignal | undefined): RegistryCallContext {
    return signal ? { ...this.ctx, signal } : this.ctx;
  }

  /**
   * The referrers of `subject` through the OCI 1.1 referrers API, every page (same host only).
   * `supported: false` when the registry does not serve the API (404, as distribution-spec
   * says such registries answer; 405 and 501 too). `filtersApplied` is what the registry says
   * it filtered on (`OCI-Filters-Applied`); callers filter again anyway.
   */
  async listReferrers(repository: string, subject: string, opts: { artifactType?: string; signal?: AbortSignal } = {}): Promise<ReferrersListing> {
    assertRepository(repository);
    assertBlobDigest(subject);
    const what = `listing referrers of ${subject} in ${this.registry}/${repository}`;
    const query = opts.artifactType ? `?artifactType=${encodeURIComponent(opts.artifactType)}` : '';
    let path: string | undefined = `/v2/${repository}/referrers/${subject}${query}`;
    const referrers: ReferrerDescriptor[] = [];
    let filtersApplied: string[] = [];
    for (let page = 0; path !== undefined; page++) {
      if (page >= MAX_PAGES) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: more than ${MAX_PAGES} pages`, { registry: this.registry });
      const { res, bytes } = await this.http.requestBytes(
        this.registry,
        this.call(opts.signal),
        { method: 'GET', path, scope: `repository:${repository}:pull`, operation: 'referrers', headers: { accept: MediaType.ociIndex }, accept: [200, 404, 405, 501], what },
        MANIFEST_SIZE_LIMIT,
      );
      if (res.status !== 200) {
        if (page === 0) return { supported: false };
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: a next page answered HTTP ${res.status}`, { registry: this.registry, upstreamStatus: res.status });
      }
      try {
        referrers.push(...parseReferrersIndex(bytes, `${what}: the answer`));
      } catch (e) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', (e as Error).message, { registry: this.registry });
      }
      if (referrers.length > MAX_REFERRERS_PER_SUBJECT) throw new DomainError('BODY_TOO_LARGE', `${what}: more than ${MAX_REFERRERS_PER_SUBJECT} referrers`, { registry: this.registry });
      if (page === 0) {
        filtersApplied = (header(res, 'oci-filters-applied') ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '');
      }
      path = nextPagePath(header(res, 'link'), res.url, what, this.registry);
    }
    return { supported: true, referrers, filtersApplied };
  }

  /**
   * A manifest by tag or digest, read whole (4 MiB cap) and not cached: undefined when the
   * registry says it is not there. A manifest read by digest must hash to it.
   */
  async readManifest(repository: string, reference: string, signal?: AbortSignal): Promise<ManifestBlob | undefined> {
    assertRepository(repository);
    assertManifestReference(reference);
    const what = `reading manifest ${reference} in ${this.registry}/${repository}`;
    const { res, bytes } = await this.http.requestBytes(
      this.registry,
      this.call(signal),
      {
        method: 'GET',
        path: `/v2/${repository}/manifests/${reference}`,
        scope: `repository:${repository}:pull`,
        operation: 'manifest',
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
        accept: [200, 404],
        what,
      },
      MANIFEST_SIZE_LIMIT,
    );
    if (res.status === 404) return undefined;
    const digest = digestOf(bytes);
    if (isDigest(reference) && reference !== digest) {
      throw new DomainError('DIGEST_MISMATCH', `${what}: the registry returned a manifest whose digest is ${digest}`, { registry: this.registry });
    }
    return { bytes, mediaType: normalizeManifestMediaType(header(res, 'content-type'), bytes), digest };
  }

  /**
   * PUTs a manifest under a tag or its digest, with a precondition when given (`ifMatch`: the
   * digest the tag must still point at; `ifNoneMatch`: the tag must not exist). A registry that
   * honours preconditions answers 412 when one fails (`precondition-failed`); others ignore
   * them. `subject` is the registry's `OCI-Subject` answer: set when the registry processed the
   * manifest's subject itself (it serves the referrers API).
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
    opts: { ifMatch?: string; ifNoneMatch?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ status: 'written'; subject?: string } | { status: 'precondition-failed' }> {
    assertRepository(repository);
    assertManifestReference(reference);
    if (opts.ifMatch !== undefined) assertBlobDigest(opts.ifMatch);
    const headers: Record<string, string> = { 'content-type': mediaType };
    if (opts.ifMatch) headers['if-match'] = `"${opts.ifMatch}"`;
    else if (opts.ifNoneMatch) headers['if-none-match'] = '*';
    const { res } = await this.http.requestBytes(
      this.registry,
      this.call(opts.signal),
      {
        method: 'PUT',
        path: `/v2/${repository}/manifests/${reference}`,
        scope: `repository:${repository}:pull,push`,
        operation: 'manifest-put',
        headers,
        body: bytes,
        accept: [200, 201, 412],
        what: `writing manifest ${reference} to ${this.registry}/${repository}`,
      },
      64 * 1024,
    );
    if (res.status === 412) return { status: 'precondition-failed' };
    const subject = header(res, 'oci-subject');
    return { status: 'written', ...(subject && isDigest(subject) ? { subject } : {}) };
  }

  /**
   * DELETE of a tag (distribution-spec 1.1: removes that tag only). `deleted: false` when the
   * registry does not delete by tag (CNCF distribution 2.8 answers 400 DIGEST_INVALID; others
   * 400/405 UNSUPPORTED), with what it answered; a missing tag is IMAGE_NOT_FOUND.
   */
  async deleteTag(repository: string, tag: string, signal?: AbortSignal): Promise<{ deleted: true } | { deleted: false; status: number; code?: string }> {
    assertRepository(repository);
    if (!TAG.test(tag)) throw new DomainError('INVALID_REFERENCE', `invalid tag ${JSON.stringify(tag)}`);
    const { res, bytes } = await this.http.requestBytes(
      this.registry,
      this.call(signal),
      {
        method: 'DELETE',
        path: `/v2/${repository}/manifests/${tag}`,
        scope: `repository:${repository}:*`,
        operation: 'delete',
        accept: [200, 202, 204, 400, 405],
        what: `deleting tag ${tag} in ${this.registry}/${repository}`,
      },
      64 * 1024,
    );
    if (res.status < 300) return { deleted: true };
    let code: string | undefined;
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { errors?: { code?: unknown }[] };
      const c = doc.errors?.[0]?.code;
      if (typeof c === 'string') code = c.slice(0, 64);
    } catch {
      // no JSON: the status says it all
    }
    return { deleted: false, status: res.status, ...(code ? { code } : {}) };
  }

  /** DELETE of a manifest by digest (every tag on it goes); a missing manifest is IMAGE_NOT_FOUND. */
  async deleteManifest(repository: string, digest: string, signal?: AbortSignal): Promise<void> {
    assertRepository(repository);
    assertBlobDigest(digest);
    await this.http.requestBytes(
      this.registry,
      this.call(signal),
      {
        method: 'DELETE',
        path: `/v2/${repository}/manifests/${digest}`,
        scope: `repository:${repository}:*`,
        operation: 'delete',
        accept: [200, 202, 204],
        what: `deleting manifest ${digest} in ${this.registry}/${repository}`,
      },
      64 * 1024,
    );
  }

  /** Uploads a small blob in one request (POST, then PUT `?digest=`), unless the repository has it. */
  async ensureBlob(repository: string, bytes: Buffer, signal?: AbortSignal): Promise<string> {
    assertRepository(repository);
    const digest = digestOf(bytes);
    const what = `uploading blob ${digest} to ${this.registry}/${repository}`;
    const scope = `repository:${repository}:pull,push`;
    const head = await this.http.requestBytes(
      this.registry,
      this.call(signal),
      { method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, scope, operation: 'blob-head', accept: [200, 404], what },
      1024,
    );
    if (head.res.status === 200) return digest;
    const start = await this.http.requestBytes(
      this.registry,
      this.call(signal),
      { method: 'POST', path: `/v2/${repository}/blobs/uploads/`, scope, operation: 'blob-upload', headers: { 'content-length': '0' }, accept: [202], what },
      64 * 1024,
    );
    const location = header(start.res, 'location');
    if (!location) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: no upload Location`, { registry: this.registry });
    const target = new URL(location, start.res.url);
    target.searchParams.set('digest', digest);
    await this.http.requestBytes(
      this.registry,
      this.call(signal),
      { method: 'PUT', path: target.toString(), scope, operation: 'blob-upload', headers: { 'content-type': 'application/octet-stream' }, body: bytes, accept: [201], what },
      64 * 1024,
    );
    return digest;
  }

  /**
   * One page of the registry's catalog (`/v2/_catalog?n=&last=`). `more` when the registry
   * announces a next page (Link rel="next"). A registry that does not serve the catalog (404,
   * 405) is UPSTREAM_UNSUPPORTED; one that refuses it is REGISTRY_DENIED.
   */
  async catalog(opts: { pageSize?: number; last?: string; signal?: AbortSignal } = {}): Promise<{ repositories: string[]; more: boolean }> {
    const what = `listing the catalog of ${this.registry}`;
    const params = new URLSearchParams();
    if (opts.pageSize !== undefined) params.set('n', String(opts.pageSize));
    if (opts.last !== undefined) {
      if (!isRepositoryName(opts.last)) throw new DomainError('INVALID_ARGUMENT', `invalid page token ${JSON.stringify(opts.last.slice(0, 300))}`);
      params.set('last', opts.last);
    }
    const query = params.size > 0 ? `?${params.toString()}` : '';
    const req: RequestOptions = { method: 'GET', path: `/v2/_catalog${query}`, scope: 'registry:catalog:*', operation: 'catalog', headers: { accept: 'application/json' }, accept: [200, 404, 405], what };
    const { res, bytes } = await this.http.requestBytes(this.registry, this.call(opts.signal), req, CATALOG_PAGE_LIMIT);
    if (res.status !== 200) {
      throw new DomainError('UPSTREAM_UNSUPPORTED', `${what}: registry ${this.registry} does not serve its catalog (/v2/_catalog answered HTTP ${res.status})`, {
        registry: this.registry,
        upstreamStatus: res.status,
        retryable: false,
      });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the answer is not JSON`, { registry: this.registry });
    }
    const list = (doc as { repositories?: unknown } | null)?.repositories;
    if (list !== undefined && list !== null && !Array.isArray(list)) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: "repositories" is not a list`, { registry: this.registry });
    const repositories = (list ?? []) as unknown[];
    for (const r of repositories) {
      if (typeof r !== 'string' || !isRepositoryName(r)) {
        throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: the registry listed an invalid repository name ${JSON.stringify(String(r).slice(0, 300))}`, { registry: this.registry });
      }
    }
    return { repositories: repositories as string[], more: nextLink(header(res, 'link'), res.url) !== undefined };
  }
}
