import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomainError, InvalidArgumentError } from '../../errors/domain-error';
import { fsErrorCode } from '../../storage/storage-errors';
import { type DockerReference, familiarString, parseDockerReference } from '../../image-spec/docker-reference';
import { type DockerArchiveImageReference, type ImageReference, formatImageReference, expectTransport } from '../../image-spec/image-reference';
import { InvalidReferenceError } from '../../image-spec/invalid-reference-error';
import type { LocalStorage } from '../../storage/local-storage';
import { resolveInStorageRoot } from '../../storage/storage-root';
import type { ArchiveLimits } from '../archive/tar-policy';
import type { DestinationOptions, ImageDestination, ImageSource, ImageTransport, TransportContext } from '../transport';
import { DockerArchiveReader } from './docker-archive-reader';
import { DockerArchiveDestination, existingArchiveError } from './docker-archive.destination';
import { DockerArchiveSource } from './docker-archive.source';

export interface DockerArchiveTransportOptions {
  /** The storage root (every archive path is relative to it) and the staging area (staged blobs, decompressed archives). */
  local: LocalStorage;
  limits: Required<ArchiveLimits>;
}

/**
 * skopeo's `--additional-tag` values: each a `name:tag` (normalised as docker does, e.g.
 * `busybox:1` → `docker.io/library/busybox:1`). Refused (400): a name without a tag, a digest.
 */
export function parseAdditionalTags(tags: readonly string[] | undefined): DockerReference[] {
  return (tags ?? []).map((t) => {
    let ref: DockerReference;
    try {
      ref = parseDockerReference(t);
    } catch (e) {
      if (e instanceof InvalidReferenceError) throw new InvalidArgumentError(`additionalTags: ${JSON.stringify(t)}: ${e.reason}`);
      throw e;
    }
    if (ref.digest !== undefined) throw new InvalidArgumentError(`additionalTags: ${JSON.stringify(t)} must be name:tag, without a digest`);
    if (ref.tag === undefined) throw new InvalidArgumentError(`additionalTags: ${JSON.stringify(t)} must be a tagged reference (name:tag)`);
    return ref;
  });
}

/**
 * The `docker-archive:PATH[:NAME:TAG|:@N]` transport: `docker save` tarballs in the storage root,
 * read (plain or gzip) and written as skopeo 1.9 / containers/image do.
 */
export class DockerArchiveTransport implements ImageTransport {
  readonly name = 'docker-archive' as const;

  constructor(private readonly opts: DockerArchiveTransportOptions) {}

  /** skopeo's --additional-tag: more `name:tag` references recorded in the archive. */
  additionalTagReferences(ref: ImageReference, tags: readonly string[]): ImageReference[] {
    const archive = expectTransport(ref, 'docker-archive');
    return parseAdditionalTags(tags).map((named) => ({ transport: 'docker-archive', path: archive.path, named }));
  }

  private openReader(ref: DockerArchiveImageReference, ctx: TransportContext, path: string): Promise<DockerArchiveReader> {
    return DockerArchiveReader.open(path, { local: this.opts.local, limits: this.opts.limits, signal: ctx.signal, displayName: `docker-archive:${ref.path}` });
  }

  async openSource(ref: ImageReference, ctx: TransportContext): Promise<ImageSource> {
    const archive = expectTransport(ref, 'docker-archive');
    const path = await resolveInStorageRoot(this.opts.local.storageRoot, archive.path);
    const reader = await this.openReader(archive, ctx, path);
    try {
      return await DockerArchiveSource.open(archive, reader, ctx.signal);
    } catch (e) {
      await reader.close();
      throw e;
    }
  }

  async openDestination(ref: ImageReference, _ctx: TransportContext, options: DestinationOptions = {}): Promise<ImageDestination> {
    const archive = expectTransport(ref, 'docker-archive');
    if (archive.sourceIndex !== undefined) {
      throw new InvalidArgumentError(`${formatImageReference(archive)}: a destination reference must not contain an image index @${archive.sourceIndex}`);
    }
    const repoTags = [...(archive.named ? [archive.named] : []), ...parseAdditionalTags(options.additionalTags)];
    const local = this.opts.local;
    const path = await resolveInStorageRoot(local.storageRoot, archive.path);
    const existing = await stat(path).catch((e: unknown) => {
      if (fsErrorCode(e) === 'ENOENT') return undefined;
      throw e;
    });
    if (existing && !(existing.isFile() && existing.size === 0)) {
      if (existing.isDirectory()) throw new DomainError('STORAGE_CONFLICT', `docker-archive:${archive.path} is a directory, not an archive file`);
      throw existingArchiveError(archive.path);
    }
    const name = `docker-archive:${archive.path}`;
    await local.storage.guard({ what: name, dir: local.storageRoot }, () => mkdir(dirname(path), { recursive: true }));
    await local.sweepDirectory(dirname(path));
    const stagingDir = await local.makeStagingDir('docker-archive-dst', name);
    try {
      return new DockerArchiveDestination(archive, path, stagingDir, dedupe(repoTags), local);
    } catch (e) {
      await rm(stagingDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** skopeo list-tags docker-archive:PATH — every image's tags as stored, `@N` for untagged images. */
  async listTags(ref: ImageReference, ctx: TransportContext): Promise<{ repository: string; tags: string[] }> {
    const archive = expectTransport(ref, 'docker-archive');
    const path = await resolveInStorageRoot(this.opts.local.storageRoot, archive.path);
    const reader = await this.openReader(archive, ctx, path);
    try {
      // skopeo prints no Repository for an archive (the field is empty and omitted)
      return { repository: '', tags: reader.listTags() };
    } finally {
      await reader.close();
    }
  }
}

/** RepoTags keep their first occurrence (containers/image skips a tag already recorded). */
function dedupe(refs: DockerReference[]): DockerReference[] {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const key = familiarString(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
