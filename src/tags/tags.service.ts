import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ReferenceAuthorizer } from '../auth/reference-authorizer';
import { CredentialService } from '../credentials/credential.service';
import { DomainError, InvalidArgumentError } from '../errors/domain-error';
import { digestOf } from '../image-spec/digest';
import { registryImageOf } from '../image-spec/image-reference';
import { MediaType } from '../image-spec/media-types';
import { DockerTransport } from '../transports/docker/docker.transport';
import type { RegistryAuth } from '../transports/transport';

export interface TagAccess {
  auth?: RegistryAuth;
  tlsVerify?: boolean;
  signal?: AbortSignal;
}

/** The `{}` blob OCI 1.1 names the empty descriptor. */
const EMPTY_JSON = Buffer.from('{}');

/**
 * A manifest no other tag can point at (a random annotation makes its digest unique): what a tag
 * is moved to before that manifest is deleted by digest, on registries that do not delete tags.
 */
function placeholderManifest(): Buffer {
  const empty = { mediaType: MediaType.ociEmpty, digest: digestOf(EMPTY_JSON), size: EMPTY_JSON.length };
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: 'application/vnd.skiff.tag-deletion.v1',
      config: empty,
      layers: [empty],
      annotations: { 'dev.skiff.purpose': 'tag deletion placeholder', 'dev.skiff.nonce': randomBytes(16).toString('hex') },
    }),
  );
}

/**
 * Safe tag delete (DELETE /v1/tags): removes one tag, leaving every other tag of the same
 * manifest (and the manifest) alone — unlike skopeo delete, which deletes the manifest.
 *
 * How: the registry's own tag deletion (`DELETE /v2/<name>/manifests/<tag>`, distribution-spec
 * 1.1) when it has it. Otherwise (CNCF distribution 2.8 answers 400): a placeholder manifest
 * unique to this call is pushed by digest and deleted again (so a registry that forbids deletes
 * fails here, with nothing changed), then the tag is moved to it (`If-Match` the digest it had,
 * for registries that honour it) and it is deleted by digest, which takes only that tag along.
 * Between those two requests a reader of the tag sees the placeholder (an empty OCI artifact),
 * never another image. The placeholder's `{}` config blob stays in the repository (shared by
 * every OCI 1.1 artifact).
 */
@Injectable()
export class TagsService {
  constructor(
    private readonly docker: DockerTransport,
    private readonly credentials: CredentialService,
    private readonly authorizer: ReferenceAuthorizer,
  ) {}

  async deleteTag(principal: Principal, image: string, access: TagAccess): Promise<{ image: string; digest: string; method: 'tag-delete' | 'placeholder' }> {
    const ref = await this.authorizer.authorize(image, principal, { scope: 'images:delete', side: 'destination', action: 'deleting a tag' });
    const named = registryImageOf(ref)?.named;
    if (named?.tag === undefined || named.digest !== undefined) {
      throw new InvalidArgumentError(`DELETE /v1/tags takes a registry tag, docker://REPOSITORY:TAG (got ${JSON.stringify(image.slice(0, 300))}); DELETE /v1/images deletes a manifest by digest`);
    }
    const { domain, path, tag } = named;
    const ctx = { credentials: this.credentials.resolver(principal, access.auth), tlsVerify: access.tlsVerify, signal: access.signal };
    const client = await this.docker.client(domain, ctx);
    const ext = await this.docker.extensions(domain, ctx);
    const head = await client.headManifest(path, tag, access.signal);
    if (!head) throw new DomainError('IMAGE_NOT_FOUND', `${image}: the tag does not exist`, { registry: domain, upstreamStatus: 404 });
    const digest = head.digest ?? (await client.getManifest(path, tag, access.signal)).digest;

    const attempt = await ext.deleteTag(path, tag, access.signal);
    if (attempt.deleted) return { image, digest, method: 'tag-delete' };

    const bytes = placeholderManifest();
    const placeholder = digestOf(bytes);
    await ext.ensureBlob(path, EMPTY_JSON, access.signal);
    await ext.putManifest(path, placeholder, bytes, MediaType.ociManifest, { signal: access.signal });
    try {
      await ext.deleteManifest(path, placeholder, access.signal);
    } catch (e) {
      if (e instanceof DomainError && (e.code === 'UPSTREAM_UNSUPPORTED' || e.code === 'REGISTRY_DENIED')) {
        throw new DomainError(
          e.code,
          `${image}: the registry deletes neither tags (it answered HTTP ${attempt.status}${attempt.code ? ` ${attempt.code}` : ''}) nor manifests (${e.message}); no tag was changed (an untagged placeholder manifest, ${placeholder}, stays behind)`,
          e.upstream,
          { cause: e },
        );
      }
      throw e;
    }
    const moved = await ext.putManifest(path, tag, bytes, MediaType.ociManifest, { ifMatch: digest, signal: access.signal });
    if (moved.status === 'precondition-failed') {
      throw new DomainError('UPSTREAM_REFUSED', `${image}: the tag moved to another manifest while it was being deleted; nothing was deleted`, { registry: domain, upstreamStatus: 412 });
    }
    try {
      await ext.deleteManifest(path, placeholder, access.signal);
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      throw new DomainError(e.code, `${image}: the tag now points at an empty placeholder manifest (${placeholder}) that could not be deleted (${e.message}); delete the tag again to finish`, e.upstream, { cause: e });
    }
    return { image, digest, method: 'placeholder' };
  }
}
