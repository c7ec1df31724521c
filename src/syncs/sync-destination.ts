import type { Readable } from 'node:stream';
import type { DockerReference } from '../image-spec/docker-reference';
import { registryImageOf } from '../image-spec/image-reference';
import { abortReason, untilAborted } from '../errors/abortable-wait';
import type { BlobInfo, ImageDestination, MountSource } from '../transports/transport';

/**
 * Where the blobs a sync has written into one registry are, so that a blob shared by images of
 * several destination repositories is uploaded once and mounted into the others (what
 * containers/image's blob-info cache gives skopeo). One per sync run.
 *
 * Contract: a destination that finds a blob missing claims it for its repository and uploads
 * it; another repository of the same registry needing the blob meanwhile waits for that claim
 * and then mounts from there. A claim ends when the upload succeeds (the blob is recorded), fails,
 * or the claiming image's copy ends (`release`), so a waiter never waits on a copy that is gone;
 * waiting never holds a transfer slot, so it cannot starve the upload it waits for.
 */
export class RegistryBlobLocations {
  private readonly known = new Map<string, string>();
  private readonly claims = new Map<string, { owner: object; repository: string; done: Promise<string | undefined>; settle: (repo: string | undefined) => void }>();

  private key(registry: string, digest: string): string {
    return `${registry}|${digest}`;
  }

  /** A repository of `registry` known to hold the blob, other than `except`. */
  knownIn(registry: string, digest: string, except: string): string | undefined {
    const repo = this.known.get(this.key(registry, digest));
    return repo !== except ? repo : undefined;
  }

  record(registry: string, digest: string, repository: string): void {
    this.known.set(this.key(registry, digest), repository);
  }

  /** Claims the upload of a blob for `owner`, or returns the claim of another owner to wait for. */
  claim(registry: string, digest: string, repository: string, owner: object): { claimed: true } | { claimed: false; wait: Promise<string | undefined> } {
    const key = this.key(registry, digest);
    const existing = this.claims.get(key);
    if (existing && existing.owner !== owner) return { claimed: false, wait: existing.done };
    if (!existing) {
      let settle!: (repo: string | undefined) => void;
      const done = new Promise<string | undefined>((resolve) => (settle = resolve));
      this.claims.set(key, { owner, repository, done, settle });
    }
    return { claimed: true };
  }

  /** Ends `owner`'s claim on a blob: `uploaded` records where it now is. */
  settle(registry: string, digest: string, owner: object, uploaded: boolean): void {
    const key = this.key(registry, digest);
    const c = this.claims.get(key);
    if (!c || c.owner !== owner) return;
    this.claims.delete(key);
    if (uploaded) this.record(registry, digest, c.repository);
    c.settle(uploaded ? c.repository : undefined);
  }

  /** Ends every claim `owner` still holds (its copy ended). */
  release(owner: object): void {
    for (const [key, c] of [...this.claims]) {
      if (c.owner !== owner) continue;
      this.claims.delete(key);
      c.settle(undefined);
    }
  }
}

/**
 * The ImageDestination a sync hands to the copy engine for one image: the transport's own
 * destination, plus (for registries) blob sharing across the sync's destination repositories
 * through RegistryBlobLocations, and a note of whether a manifest was written (an image the
 * engine found up to date is reported `skipped`).
 *
 * A digest destination (a YAML digest entry) is written under the digest of the manifest
 * actually written: the same digest unless the copy changed the manifest (a format
 * conversion, or one instance picked from a multi-arch image), which skopeo refuses.
 */
export class SyncDestination implements ImageDestination {
  readonly reference: ImageDestination['reference'];
  readonly layerCompression?: ImageDestination['layerCompression'];
  readonly acceptsIndexes?: boolean;
  readonly hostKey: string;
  readonly blobScope: string;
  /** Set once a manifest was written under the destination reference. */
  written?: { digest: string };
  private readonly registry?: { host: string; repository: string; named: DockerReference };

  constructor(
    private readonly inner: ImageDestination,
    private readonly locations: RegistryBlobLocations,
    private readonly digestOf: (bytes: Buffer) => string,
  ) {
    this.reference = inner.reference;
    this.layerCompression = inner.layerCompression;
    this.acceptsIndexes = inner.acceptsIndexes;
    this.hostKey = inner.hostKey;
    this.blobScope = inner.blobScope;
    const registry = registryImageOf(inner.reference);
    if (registry) this.registry = { host: registry.registry, repository: registry.repository, named: registry.named };
  }

  supportedManifestTypes(): readonly string[] {
    return this.inner.supportedManifestTypes();
  }

  async tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | 'mounted' | undefined> {
    const reg = this.registry;
    if (!reg) return this.inner.tryReuseBlob(blob, opts);
    for (;;) {
      const known = this.locations.knownIn(reg.host, blob.digest, reg.repository);
      if (known) {
        const r = await this.inner.tryReuseBlob(blob, { ...opts, mountFrom: { registry: reg.host, repository: known } });
        if (r) return r;
      }
      const claim = this.locations.claim(reg.host, blob.digest, reg.repository, this);
      if (!claim.claimed) {
        const from = await untilAborted(claim.wait, opts.signal, signalReason);
        if (from !== undefined) {
          const r = await this.inner.tryReuseBlob(blob, { ...opts, mountFrom: { registry: reg.host, repository: from } });
          if (r) return r;
        }
        continue;
      }
      let r: 'present' | 'mounted' | undefined;
      try {
        r = await this.inner.tryReuseBlob(blob, opts);
      } catch (e) {
        this.locations.settle(reg.host, blob.digest, this, false);
        throw e;
      }
      // Present or mounted: others may mount from here. Missing: the claim stays until putBlob.
      if (r) this.locations.settle(reg.host, blob.digest, this, true);
      return r;
    }
  }

  async putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    const reg = this.registry;
    try {
      const info = await this.inner.putBlob(stream, blob, opts);
      if (reg) {
        this.locations.settle(reg.host, info.digest, this, true);
        this.locations.record(reg.host, info.digest, reg.repository);
      }
      return info;
    } catch (e) {
      if (reg && blob.known) this.locations.settle(reg.host, blob.known.digest, this, false);
      throw e;
    }
  }

  async currentManifestDigest(opts: { signal?: AbortSignal }): Promise<string | undefined> {
    return this.inner.currentManifestDigest ? this.inner.currentManifestDigest(opts) : undefined;
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    if (opts.instanceDigest) return this.inner.putManifest(bytes, mediaType, opts);
    const digest = this.digestOf(bytes);
    const named = this.registry?.named;
    if (named?.digest !== undefined && named.digest !== digest) {
      // Pushed by what it is: a manifest PUT by digest must match its digest.
      await this.inner.putManifest(bytes, mediaType, { ...opts, instanceDigest: digest });
    } else {
      await this.inner.putManifest(bytes, mediaType, opts);
    }
    this.written = { digest };
  }

  /** Ends the claims this image still holds; then closes the transport's destination. */
  async close(): Promise<void> {
    this.locations.release(this);
    await this.inner.close();
  }
}

/** The sync's own reason when its signal carries one (kept from before the shared helper). */
const signalReason = (signal: AbortSignal): Error => (signal.reason instanceof Error ? signal.reason : abortReason(signal));
