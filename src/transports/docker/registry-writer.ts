import type { Readable } from 'node:stream';
import { DomainError } from '../../errors/domain-error';
import { isDigest } from '../../image-spec/digest';
import { MANIFEST_MEDIA_TYPES } from '../../image-spec/media-types';
import type { BlobInfo } from '../transport';
import { assertBlobDigest, assertManifestReference, assertRepository, isRepositoryName } from './registry-names';
import type { RegistryCallContext } from './registry-auth';
import { LIMIT_SMALL, discardBody, header, readLimited } from './registry-exchange';
import type { RegistryHttp } from './registry-http';


/**
 * Registry v2 write operations on one repository: blob existence, cross-repository mount,
 * streamed upload (the final `PUT ?digest=` only after the verified stream ended), manifest PUT.
 */
export class RegistryWriter {
  constructor(
    private readonly http: RegistryHttp,
    readonly registry: string,
    private readonly repository: string,
    private readonly ctx: RegistryCallContext,
  ) {
    assertRepository(repository);
  }

  private scope(extra: string[] = []): string[] {
    return [`repository:${this.repository}:pull,push`, ...extra];
  }

  private ctxWith(signal?: AbortSignal): RegistryCallContext {
    return signal ? { ...this.ctx, signal } : this.ctx;
  }

  async hasBlob(digest: string, signal?: AbortSignal): Promise<boolean> {
    assertBlobDigest(digest);
    const res = await this.http.request(this.registry, this.ctxWith(signal), {
      method: 'HEAD',
      path: `/v2/${this.repository}/blobs/${digest}`,
      scope: this.scope(),
      operation: 'blob-head',
      accept: [200, 404],
      what: `checking blob ${digest} in ${this.registry}/${this.repository}`,
    });
    void discardBody(res);
    return res.status === 200;
  }

  /** Cross-repository mount; false when the registry started an upload instead (cancelled here). */
  async mountBlob(digest: string, fromRepository: string, signal?: AbortSignal): Promise<boolean> {
    assertBlobDigest(digest);
    if (!isRepositoryName(fromRepository)) return false;
    const res = await this.http.request(this.registry, this.ctxWith(signal), {
      method: 'POST',
      path: `/v2/${this.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`,
      scope: this.scope([`repository:${fromRepository}:pull`]),
      operation: 'blob-mount',
      headers: { 'content-length': '0' },
      accept: [201, 202],
      what: `mounting blob ${digest} into ${this.registry}/${this.repository}`,
    });
    void discardBody(res);
    if (res.status === 201) return true;
    const location = header(res, 'location');
    if (location) await this.cancelUpload(location);
    return false;
  }

  /**
   * Uploads a blob from a stream. Known digest: POST, then one PUT with the body and
   * `?digest=`. Unknown digest: POST, PATCH with the body, then PUT `?digest=` of `final()`.
   * A failure cancels the upload session, so nothing partial is published.
   */
  async uploadBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, signal?: AbortSignal): Promise<BlobInfo> {
    const what = `uploading a blob to ${this.registry}/${this.repository}`;
    const start = await this.http.request(this.registry, this.ctxWith(signal), {
      method: 'POST',
      path: `/v2/${this.repository}/blobs/uploads/`,
      scope: this.scope(),
      operation: 'blob-upload',
      headers: { 'content-length': '0' },
      accept: [202],
      what,
    });
    void discardBody(start);
    let location = header(start, 'location');
    if (!location) throw new DomainError('UPSTREAM_PROTOCOL_ERROR', `${what}: no upload Location`, { registry: this.registry });
    location = new URL(location, start.url).toString();
    try {
      if (blob.known) {
        assertBlobDigest(blob.known.digest);
        const put = await this.http.request(this.registry, this.ctxWith(signal), {
          method: 'PUT',
          path: withDigest(location, blob.known.digest),
          scope: this.scope(),
          operation: 'blob-upload',
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.known.size) },
          body: stream,
          accept: [201],
          what,
          commitsBytes: blob.known.size,
        });
        void discardBody(put);
        return blob.known;
      }
      const patch = await this.http.request(this.registry, this.ctxWith(signal), {
        method: 'PATCH',
        path: location,
        scope: this.scope(),
        operation: 'blob-upload',
        headers: { 'content-type': 'application/octet-stream' },
        body: stream,
        accept: [202],
        what,
      });
      void discardBody(patch);
      const next = header(patch, 'location');
      if (next) location = new URL(next, patch.url).toString();
      const info = blob.final();
      const put = await this.http.request(this.registry, this.ctxWith(signal), {
        method: 'PUT',
        path: withDigest(location, info.digest),
        scope: this.scope(),
        operation: 'blob-upload',
        headers: { 'content-length': '0' },
        accept: [201],
        what,
        commitsBytes: info.size,
      });
      void discardBody(put);
      return info;
    } catch (e) {
      stream.destroy();
      await this.cancelUpload(location);
      throw e;
    }
  }

  private async cancelUpload(location: string): Promise<void> {
    try {
      const res = await this.http.request(this.registry, { ...this.ctx, signal: undefined }, {
        method: 'DELETE',
        path: location,
        scope: this.scope(),
        operation: 'blob-upload',
        accept: [200, 202, 204, 404, 405],
        what: 'cancelling an upload',
      });
      void discardBody(res);
    } catch {
      // best effort: an abandoned upload session expires on the registry
    }
  }

  /**
   * HEADs a manifest and returns the digest the registry announces (undefined when absent).
   * Only used to decide that nothing needs copying, never to trust content.
   */
  async manifestDigest(reference: string, signal?: AbortSignal): Promise<string | undefined> {
    assertManifestReference(reference);
    const res = await this.http.request(this.registry, this.ctxWith(signal), {
      method: 'HEAD',
      path: `/v2/${this.repository}/manifests/${reference}`,
      scope: this.scope(),
      operation: 'manifest-head',
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      accept: [200, 404],
      what: `checking manifest ${reference} in ${this.registry}/${this.repository}`,
    });
    void discardBody(res);
    const digest = header(res, 'docker-content-digest');
    return res.status === 200 && digest && isDigest(digest) ? digest : undefined;
  }

  /** PUTs a manifest under a tag or its digest. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<void> {
    assertManifestReference(reference);
    const res = await this.http.request(this.registry, this.ctxWith(signal), {
      method: 'PUT',
      path: `/v2/${this.repository}/manifests/${reference}`,
      scope: this.scope(),
      operation: 'manifest-put',
      headers: { 'content-type': mediaType },
      body: bytes,
      accept: [201, 200],
      what: `writing manifest ${reference} to ${this.registry}/${this.repository}`,
    });
    await readLimited(res.body, LIMIT_SMALL, 'manifest PUT answer').catch(() => undefined);
  }
}


function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}
