import type { Readable } from 'node:stream';
import type { CopyEngine } from '../copy-engine/copy-engine';
import type { ProgressCounters } from '../copy-engine/transfer-progress';
import type { CopiedReferrer, ReferrersReport, ReferrersStep } from '../copy-engine/referrers-step';
import { AbortedError, DomainError } from '../errors/domain-error';
import type { ImageReference } from '../image-spec/image-reference';
import { type ReferrerDescriptor, matchesArtifactTypes } from '../image-spec/referrers';
import type { BlobInfo, ImageDestination, ImageSource, MountSource } from '../transports/transport';
import type { ReferrerTarget, ReferrersDestination, ReferrersSource } from './referrers-access';

/** How deep referrers of referrers are followed (a signature of an SBOM of an image is depth 2). */
export const MAX_REFERRER_DEPTH = 8;
/** Most referrers one copy brings along. */
export const MAX_REFERRERS_COPIED = 1_000;

export interface ReferrersCopierDeps {
  engine: CopyEngine;
  source: ReferrersSource;
  destination: ReferrersDestination;
  openSource(ref: ImageReference): Promise<ImageSource>;
  openDestination(ref: ImageReference): Promise<ImageDestination>;
  /** Only referrers (and digest tags) of these artifact types, at every depth; all when empty. */
  artifactTypes?: readonly string[];
  retryTimes?: number;
}

type Counter = keyof ProgressCounters;

/**
 * Copies the referrers of an image's manifests (ReferrersStep), breadth first: for each subject
 * its referrers (filtered by artifact type) are copied unchanged, by digest — blobs first,
 * manifest last, through the copy engine with preserveDigests, so signatures still verify —
 * then the destination is told (its own referrers API, the fallback tag index, or a layout's
 * index.json); cosign digest tags are copied under the same tag. What was copied is a subject
 * in turn (a signature of an SBOM), down to MAX_REFERRER_DEPTH. Subjects are handled one after
 * the other; each referrer copy uses the engine's shared per-host limits.
 */
export class ReferrersCopier implements ReferrersStep {
  constructor(private readonly deps: ReferrersCopierDeps) {}

  async copy(subjects: readonly string[], run: { signal: AbortSignal; progress(delta: Partial<ProgressCounters>): void }): Promise<ReferrersReport> {
    const report: ReferrersReport = { copied: [], recorded: [], notCopied: [] };
    const seen = new Set(subjects);
    const types = this.deps.artifactTypes;
    // A registry filters for one type at most; more are filtered here.
    const artifactType = types?.length === 1 ? types[0] : undefined;
    let frontier = [...subjects];
    for (let depth = 0; frontier.length > 0; depth++) {
      if (depth >= MAX_REFERRER_DEPTH) {
        report.notCopied.push(...frontier.map((subject) => ({ subject, reason: `referrers nested deeper than ${MAX_REFERRER_DEPTH} levels are not followed` })));
        break;
      }
      const next: string[] = [];
      for (const subject of frontier) {
        if (run.signal.aborted) throw new AbortedError('the copy was cancelled');
        const listing = await this.deps.source.list(subject, { artifactType, signal: run.signal });
        const wanted = listing.referrers.filter((r) => matchesArtifactTypes(r, types));
        const written: ReferrerDescriptor[] = [];
        for (const r of wanted) {
          if (seen.has(r.digest)) continue;
          seen.add(r.digest);
          let state: 'copied' | 'present';
          try {
            state = await this.copyOne({ digest: r.digest }, run);
          } catch (e) {
            if (!this.missingAtSource(e)) throw e;
            // Fallback tag indexes go stale (a referrer deleted, its entry left): not a reason to fail the copy.
            report.notCopied.push({ subject, reason: `referrer ${r.digest} is listed but the source does not hold it (a stale fallback tag index?)` });
            continue;
          }
          this.note(report, { digest: r.digest, mediaType: r.mediaType, ...(r.artifactType ? { artifactType: r.artifactType } : {}), subject, state });
          written.push(r);
          next.push(r.digest);
        }
        if (written.length > 0) report.recorded.push({ subject, by: await this.deps.destination.record(subject, written, run.signal) });
        for (const t of listing.digestTags.filter((t) => matchesArtifactTypes(t.descriptor, types))) {
          const d = t.descriptor;
          const state = await this.copyOne({ tag: t.tag }, run);
          this.note(report, { digest: d.digest, mediaType: d.mediaType, ...(d.artifactType ? { artifactType: d.artifactType } : {}), subject, tag: t.tag, state });
          if (!seen.has(d.digest)) {
            seen.add(d.digest);
            next.push(d.digest);
          }
        }
      }
      frontier = next;
    }
    return report;
  }

  /** A referrer the source lists but cannot produce (not an error of the destination). */
  private missingAtSource(e: unknown): boolean {
    return e instanceof DomainError && e.code === 'IMAGE_NOT_FOUND' && (e.upstream.registry === undefined || e.upstream.registry !== this.deps.destination.registry);
  }

  private note(report: ReferrersReport, copied: CopiedReferrer): void {
    report.copied.push(copied);
    if (report.copied.length > MAX_REFERRERS_COPIED) {
      throw new DomainError('INVALID_ARGUMENT', `the image has more than ${MAX_REFERRERS_COPIED} referrers to copy; narrow them with artifactTypes`);
    }
  }

  /** Copies one referrer manifest (by digest) or digest tag, unchanged. */
  private async copyOne(target: ReferrerTarget, run: { signal: AbortSignal; progress(delta: Partial<ProgressCounters>): void }): Promise<'copied' | 'present'> {
    const source = await this.deps.openSource(await this.deps.source.referenceOf(target));
    try {
      const inner = await this.deps.openDestination(await this.deps.destination.referenceOf(target));
      const dest = new WriteWatch(inner);
      const last: Partial<ProgressCounters> = {};
      try {
        await this.deps.engine.copy(
          source,
          dest,
          { multiArch: 'all', preserveDigests: true, retryTimes: this.deps.retryTimes },
          {
            signal: run.signal,
            onProgress: (p) => {
              const delta: Partial<ProgressCounters> = {};
              for (const [k, v] of Object.entries(p) as [Counter, number | string][]) {
                if (typeof v !== 'number') continue;
                delta[k] = v - (last[k] ?? 0);
                last[k] = v;
              }
              run.progress(delta);
            },
          },
        );
        await dest.close();
      } catch (e) {
        await dest.close().catch(() => undefined);
        throw e;
      }
      return dest.wroteManifest ? 'copied' : 'present';
    } finally {
      await source.close().catch(() => undefined);
    }
  }
}

/** An ImageDestination that notes whether a manifest was written (a referrer already present is not). */
class WriteWatch implements ImageDestination {
  wroteManifest = false;

  constructor(private readonly inner: ImageDestination) {}

  get reference(): ImageDestination['reference'] {
    return this.inner.reference;
  }
  get layerCompression(): ImageDestination['layerCompression'] {
    return this.inner.layerCompression;
  }
  get acceptsIndexes(): boolean | undefined {
    return this.inner.acceptsIndexes;
  }
  get hostKey(): string {
    return this.inner.hostKey;
  }
  get blobScope(): string {
    return this.inner.blobScope;
  }
  supportedManifestTypes(): readonly string[] {
    return this.inner.supportedManifestTypes();
  }
  tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource; signal?: AbortSignal }): Promise<'present' | 'mounted' | undefined> {
    return this.inner.tryReuseBlob(blob, opts);
  }
  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.inner.putBlob(stream, blob, opts);
  }
  async currentManifestDigest(opts: { signal?: AbortSignal }): Promise<string | undefined> {
    return this.inner.currentManifestDigest ? this.inner.currentManifestDigest(opts) : undefined;
  }
  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    await this.inner.putManifest(bytes, mediaType, opts);
    this.wroteManifest = true;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
