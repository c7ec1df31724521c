import { pipeline, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { AbortedError, DomainError } from '../errors/domain-error';
import { digestOf } from '../image-spec/digest';
import { registryImageOf } from '../image-spec/image-reference';
import { type Descriptor, type ImageManifest, type IndexManifest, type Platform, parseManifest } from '../image-spec/manifest';
import { convertImageManifest, convertIndex, formatOfManifestType, indexMediaType, manifestMediaType, serializeImageManifest } from '../image-spec/manifest-conversion';
import { goJson } from '../image-spec/go-json';
import { MediaType, isImageManifestConfig, isIndexMediaType } from '../image-spec/media-types';
import { parseConfigJson, toOciImageConfig } from '../image-spec/oci-config';
import type { BlobInfo, DestinationProbe, ImageDestination, ImageSource, ManifestBlob, MountSource } from '../transports/transport';
import type { HostLimiter, InFlightBlobs } from './host-limiter';
import { type CompressionChoice, type LayerCompression, compressionOf, compressor, decompressor, recompressedLayerType, uncompressedLayerType } from './recompress';
import { asDomainError, isRetryable, sparseRefusal } from './copy-errors';
import { type CopyOptions, checkCopyOptions, mayBeUpToDate } from './copy-options';
import {
  type CopyPlan,
  type CopyTarget,
  type TargetDecision,
  assertAcceptsIndexes,
  blobsOf,
  chooseTarget,
  decide,
  filteredIndex,
  indexFormat,
  keepsType,
  manifestCandidates,
} from './copy-plan';
import type { ReferrersReport } from './referrers-step';
import { type ProgressCounters, type TransferProgress, emptyProgress } from './transfer-progress';
import { DigestingStream, VerifyingStream } from './verifying-stream';

/**
 * The copy engine (plain TypeScript, no Nest): plan from the source manifest (copy-plan.ts),
 * copy blobs (reuse → mount → verified streamed upload, concurrently under shared per-host
 * limits, each blob once per destination across jobs), then write manifests last — instances
 * before the index — so no tag ever points at a partial image. Every call takes the run's
 * AbortSignal.
 */
export interface CopyRun {
  signal?: AbortSignal;
  /** Called with the absolute counters whenever they change. */
  onProgress?: (p: TransferProgress) => void;
}

export interface WrittenManifest {
  digest: string;
  mediaType: string;
  size: number;
  platform?: Platform;
}

export interface CopyResult {
  /** Digest of the manifest written under the destination reference. */
  digest: string;
  mediaType: string;
  /** The instances written (multiArch=all, filtered, sparse), in index order. */
  manifests: WrittenManifest[];
  /**
   * multiArch=filtered: the digest of the source index, which the written index (holding only
   * the chosen platforms) replaces; `digest` is the new index's.
   */
  sourceDigest?: string;
  /** The referrers brought along (CopyOptions.referrers). */
  referrers?: ReferrersReport;
}

export interface CopyEngineDeps {
  limiter: HostLimiter;
  inflight: InFlightBlobs;
}

/** How a layer changes on its way: decompressed from `from`, then compressed to `to` when set. */
interface LayerTransform {
  from: LayerCompression;
  to?: CompressionChoice;
}

/** The media type of a transformed layer in a manifest of the given format. */
function transformedLayerType(t: LayerTransform, ociManifest: boolean): string {
  return t.to ? recompressedLayerType(t.to, ociManifest) : uncompressedLayerType(ociManifest);
}

class Counters {
  readonly p: TransferProgress = emptyProgress('planning');
  constructor(private readonly sink?: (p: TransferProgress) => void) {}
  add(u: Partial<ProgressCounters>, phase?: string): void {
    for (const [k, v] of Object.entries(u) as [keyof ProgressCounters, number | undefined][]) this.p[k] += v ?? 0;
    if (phase) this.p.phase = phase;
    this.sink?.({ ...this.p });
  }
}

function writtenOf(d: Descriptor): WrittenManifest {
  return { digest: d.digest, mediaType: d.mediaType, size: d.size, ...(d.platform ? { platform: d.platform } : {}) };
}

/**
 * Manifests that must not be converted: artifacts and referrers (their `subject` would be lost).
 * An artifact is what containers/image takes for one: a manifest whose config is not an image
 * config. An `artifactType` beside an image config does not make one (skopeo converts such an
 * image to v2s2, which has no `artifactType`, and keeps it in OCI manifests).
 */
function conversionRefusal(manifest: ImageManifest): string | undefined {
  if (manifest.subject) return `it refers to ${manifest.subject.digest} (OCI subject), which a conversion would drop`;
  if (!isImageManifestConfig(manifest)) return `it is an artifact (config ${manifest.config.mediaType}), not an image`;
  return undefined;
}

export class CopyEngine {
  constructor(private readonly deps: CopyEngineDeps) {}

  async copy(source: ImageSource, dest: ImageDestination, opts: CopyOptions, run: CopyRun = {}): Promise<CopyResult> {
    const counters = new Counters(run.onProgress);
    const ctx = new CopyContext(this.deps, source, dest, opts, run.signal, counters);
    const result = await this.copyManifests(ctx, source, dest, opts, run, counters);
    if (!opts.referrers) return result;
    const signal = run.signal ?? new AbortController().signal;
    let report: ReferrersReport;
    try {
      report = await opts.referrers.copy([...ctx.unchanged], { signal, progress: (delta) => counters.add(delta) });
    } catch (e) {
      if (!(e instanceof DomainError) || e.code === 'ABORTED') throw e;
      throw new DomainError(e.code, `the image was copied (${result.digest}), but bringing its referrers along failed: ${e.message}`, e.upstream, { cause: e });
    }
    report.notCopied.unshift(...ctx.changed.map((c) => ({ subject: c, reason: 'the copy changed this manifest (format, compression or platform filter), so referrers of the source manifest would not refer to what was written' })));
    counters.add({}, 'done');
    return { ...result, referrers: report };
  }

  /**
   * What copy() would do with these arguments, decided by the same functions, with nothing
   * written and no HEAD-only shortcut (the manifests are read). `dest` may be a probe of a
   * destination not opened yet. `blobs: 'list'` lists the blobs of what is written (reading the
   * instances' manifests); `'check'`, when copying, also asks the destination which it lacks.
   */
  async plan(source: ImageSource, dest: DestinationProbe, opts: CopyOptions, run: { signal?: AbortSignal; blobs?: 'none' | 'list' | 'check' } = {}): Promise<CopyPlan> {
    checkCopyOptions(opts);
    const { target, decision } = await this.decide(source, dest, opts, run.signal, this.currentDigest(dest, opts, run.signal));
    const plan: CopyPlan = {
      action: decision.upToDate ? 'skip' : 'copy',
      digest: decision.digest,
      mediaType: decision.mediaType,
      ...(decision.sourceDigest ? { sourceDigest: decision.sourceDigest } : {}),
      instances: decision.instances,
    };
    const asked = run.blobs ?? 'none';
    if (asked === 'none' || (asked === 'check' && plan.action === 'skip')) return plan;
    plan.blobs = await blobsOf(source, target, decision, run.signal);
    if (asked === 'check') {
      const present = await Promise.all(plan.blobs.map((b) => dest.tryReuseBlob({ digest: b.digest, size: b.size }, { signal: run.signal })));
      plan.transfer = plan.blobs.filter((_, i) => !present[i]);
    }
    return plan;
  }

  /** What the destination reference holds, asked only when the copy may find it up to date. */
  private currentDigest(dest: DestinationProbe, opts: CopyOptions, signal: AbortSignal | undefined): Promise<string | undefined> {
    return mayBeUpToDate(opts) && dest.currentManifestDigest ? dest.currentManifestDigest({ signal }).catch(() => undefined) : Promise.resolve(undefined);
  }

  /** Reads the source (after beforePull) and decides what is written and whether it is there already. */
  private async decide(source: ImageSource, dest: DestinationProbe, opts: CopyOptions, signal: AbortSignal | undefined, current: Promise<string | undefined>): Promise<{ target: CopyTarget; decision: TargetDecision }> {
    await opts.beforePull?.(signal);
    const target = await chooseTarget(source, opts, signal);
    return { target, decision: decide(target, dest, opts, await current) };
  }

  private async copyManifests(ctx: CopyContext, source: ImageSource, dest: ImageDestination, opts: CopyOptions, run: CopyRun, counters: Counters): Promise<CopyResult> {
    checkCopyOptions(opts);
    // Fetched together: the destination's current digest lets an up-to-date copy end here.
    const current = this.currentDigest(dest, opts, run.signal);
    const headOnly = await ctx.upToDateByHead(current);
    if (headOnly) return headOnly;
    const { target, decision } = await this.decide(source, dest, opts, run.signal, current);
    if (target.kind === 'image') counters.add({ imagesTotal: 1 }, 'copying');
    if (decision.upToDate) return ctx.alreadyThere(target, decision);
    switch (target.kind) {
      case 'image': {
        const written = await ctx.copyImage(target.image, target.manifest, {});
        ctx.noteWritten(target.image.digest, written.digest);
        counters.add({ imagesDone: 1 }, 'done');
        return { digest: written.digest, mediaType: written.mediaType, manifests: [] };
      }
      case 'filtered':
        return ctx.copyFiltered(target.top, target.index, decision.instances);
      case 'sparse':
        return ctx.copySparse(target.top, target.index, decision.instances);
      case 'index-only':
        return ctx.writeIndexOnly(target.top, target.index);
      case 'all':
        return ctx.copyAll(target.top, target.index);
    }
  }
}

/** The state of one copy run. */
class CopyContext {
  private readonly sourceHost: string;
  private readonly mountFrom?: MountSource;
  /** Stops the run's other transfers once one failed (see all()). */
  private readonly stop = new AbortController();
  /** The first failure of the run's concurrent tasks: the one that triggered `stop`. */
  private failure?: { error: unknown };
  /** The run's signal (cancel) or our own stop: every call of this copy takes it. */
  private readonly signal: AbortSignal;
  /** Source manifests present at the destination with the same digest (subjects whose referrers may follow). */
  readonly unchanged = new Set<string>();
  /** Source manifests written with another digest (their referrers cannot follow). */
  readonly changed: string[] = [];

  constructor(
    private readonly deps: CopyEngineDeps,
    private readonly source: ImageSource,
    private readonly dest: ImageDestination,
    private readonly opts: CopyOptions,
    runSignal: AbortSignal | undefined,
    private readonly counters: Counters,
  ) {
    this.signal = runSignal ? AbortSignal.any([runSignal, this.stop.signal]) : this.stop.signal;
    const registry = registryImageOf(source.reference);
    this.sourceHost = registry ? `docker://${registry.registry}` : `local:${source.reference.transport}`;
    if (registry) this.mountFrom = { registry: registry.registry, repository: registry.repository };
  }

  private checkAborted(): void {
    if (this.signal.aborted) throw new AbortedError('the copy was cancelled');
  }

  /**
   * Awaits concurrent tasks of this copy. On the first failure the others are stopped (through
   * the context's signal) and awaited, then the failure that stopped the run is thrown — also
   * from an enclosing all() (instances of an index), whose other tasks may have failed first
   * only because they were stopped: when the caller closes the destination, nothing of this
   * copy is still writing into it, and the error is the cause, not the stop.
   */
  private async all<T>(tasks: Promise<T>[]): Promise<T[]> {
    let failed = false;
    const settled = await Promise.all(
      tasks.map((t) =>
        t.then(
          (value) => ({ value }),
          (error: unknown) => {
            failed = true;
            this.failure ??= { error };
            this.stop.abort();
            return undefined;
          },
        ),
      ),
    );
    if (failed) throw this.failure!.error;
    return settled.map((r) => r!.value);
  }

  /** Records what a source manifest became at the destination. */
  noteWritten(sourceDigest: string, writtenDigest: string): void {
    if (sourceDigest === writtenDigest) this.unchanged.add(sourceDigest);
    else if (!this.changed.includes(sourceDigest)) this.changed.push(sourceDigest);
  }

  /**
   * The up-to-date check with HEAD requests only (a registry that meters pulls counts none):
   * the source's and the destination's digests, when both can tell and the manifest would be
   * written unchanged (no conversion, no instance to choose, no referrers to follow, which
   * needs the manifest's content). Undefined when the manifest has to be read.
   */
  async upToDateByHead(current: Promise<string | undefined>): Promise<CopyResult | undefined> {
    if (this.opts.referrers || !this.source.headManifest || !this.dest.currentManifestDigest) return undefined;
    const mode = this.opts.multiArch ?? 'system';
    const head = await this.source.headManifest({ signal: this.signal }).catch(() => undefined);
    if (!head || (await current) !== head.digest) return undefined;
    const isIndex = isIndexMediaType(head.mediaType);
    if (isIndex ? mode !== 'all' && mode !== 'index-only' && mode !== 'sparse' : !this.keepsType(head.mediaType)) return undefined;
    if (isIndex && !this.dest.supportedManifestTypes().includes(head.mediaType)) return undefined;
    const known = head.bytes ? parseManifest(head.bytes, head.mediaType) : undefined;
    this.noteWritten(head.digest, head.digest);
    if (known?.kind === 'image') {
      this.counters.add({ imagesTotal: 1 });
      return this.upToDate({ bytes: head.bytes!, mediaType: head.mediaType, digest: head.digest }, known);
    }
    const instances = known?.kind === 'index' && mode === 'all' ? known.manifests : [];
    const images = isIndex ? instances.length : 1;
    this.counters.add({ imagesTotal: images, imagesDone: images }, 'done');
    return { digest: head.digest, mediaType: head.mediaType, manifests: instances.map(writtenOf) };
  }

  /** Whether an image of this manifest type would be written unchanged. */
  private keepsType(mediaType: string): boolean {
    return keepsType(mediaType, this.dest, this.opts);
  }

  /** The destination already has exactly this image under its reference: report every blob as skipped. */
  private upToDate(blob: ManifestBlob, manifest: ImageManifest): CopyResult {
    this.noteWritten(blob.digest, blob.digest);
    const blobs = [manifest.config, ...manifest.layers].filter((b, i, all) => all.findIndex((x) => x.digest === b.digest) === i);
    const bytes = blobs.reduce((n, b) => n + b.size, 0);
    this.counters.add({ blobsTotal: blobs.length, blobsSkipped: blobs.length, bytesTotal: bytes, bytesSkipped: bytes, imagesDone: 1 }, 'done');
    return { digest: blob.digest, mediaType: blob.mediaType, manifests: [] };
  }

  /**
   * The destination already holds what `decision` writes: reports it as copy() would have
   * written it (an image's blobs as skipped; an index's instances as done).
   */
  alreadyThere(target: CopyTarget, decision: TargetDecision): CopyResult {
    if (target.kind === 'image') return this.upToDate(target.image, target.manifest);
    const instances = decision.instances;
    this.counters.add({ imagesTotal: instances.length, imagesDone: instances.length }, 'done');
    this.noteWritten(target.top.digest, decision.digest);
    for (const d of instances) this.noteWritten(d.digest, d.digest);
    return { digest: decision.digest, mediaType: decision.mediaType, manifests: instances.map(writtenOf), ...(decision.sourceDigest ? { sourceDigest: decision.sourceDigest } : {}) };
  }

  /** The manifest formats to try for an image, in order (skopeo's choice). */
  private candidates(sourceType: string, isIndex: boolean): string[] {
    return manifestCandidates(sourceType, isIndex, this.dest, this.opts);
  }

  async copyImage(blob: ManifestBlob, manifest: ImageManifest, where: { instanceDigest?: string; preserve?: string }): Promise<WrittenManifest> {
    const preserve = where.preserve ?? (this.opts.preserveDigests ? 'preserveDigests' : undefined);
    const refusal = conversionRefusal(manifest);
    const candidates = refusal ? [manifest.mediaType] : this.candidates(manifest.mediaType, false);
    if (refusal && (!this.dest.supportedManifestTypes().includes(manifest.mediaType) || (this.opts.format && manifestMediaType(this.opts.format) !== manifest.mediaType))) {
      throw new DomainError('OPERATION_NOT_SUPPORTED', `manifest ${blob.digest} cannot be stored as ${this.opts.format ? this.opts.format : `one of ${this.dest.supportedManifestTypes().join(', ')}`}: ${refusal}; artifacts are copied unchanged only`);
    }
    if (preserve && candidates[0] !== manifest.mediaType) {
      throw new DomainError('INVALID_ARGUMENT', `${preserve}: the destination cannot store ${manifest.mediaType} manifests unchanged`);
    }
    if (refusal && this.opts.compression) {
      throw new DomainError('OPERATION_NOT_SUPPORTED', `manifest ${blob.digest} cannot be recompressed: ${refusal}; artifacts are copied unchanged only`);
    }
    // An artifact's layers are moved as they are: no recompression, no decompression attempt.
    const planOf = (d: Descriptor): LayerTransform | undefined => (refusal ? undefined : this.layerPlan(d, { keepDigests: preserve !== undefined }));
    if (preserve && manifest.layers.some((l) => planOf(l))) {
      throw new DomainError('INVALID_ARGUMENT', `${preserve}: the destination stores layers with another compression, which changes their digests`);
    }
    // Docker → OCI only (e.g. into an OCI layout): the config is rewritten, so the original is not copied (as skopeo).
    const configRewritten = manifest.mediaType === MediaType.dockerV2S2 && candidates.every((t) => formatOfManifestType(t) === 'oci');
    const blobs = configRewritten ? [...manifest.layers] : [manifest.config, ...manifest.layers];
    const fresh = blobs.filter((b, i) => blobs.findIndex((x) => x.digest === b.digest) === i);
    this.counters.add({ blobsTotal: fresh.length, bytesTotal: fresh.reduce((n, b) => n + b.size, 0) }, 'copying');

    const results = await this.all(
      fresh.map((d) => {
        if (d === manifest.config) return this.copyBlob(d);
        const plan = planOf(d);
        return plan ? this.transformLayer(d, plan) : this.copyBlob(d);
      }),
    );
    const replaced = new Map(fresh.map((d, i) => [d.digest, results[i]!]));

    this.checkAborted();
    this.counters.add({}, 'writing-manifests');
    let lastError: unknown;
    for (const type of candidates) {
      let bytes: Buffer;
      const layersChanged = [...replaced.values()].some((r) => r.transformed !== undefined);
      if (type === manifest.mediaType && !layersChanged) {
        bytes = blob.bytes;
      } else {
        const format = formatOfManifestType(type)!;
        const converted = convertImageManifest(manifest, format);
        converted.layers = converted.layers.map((l, i) => {
          const r = replaced.get(manifest.layers[i]!.digest)!;
          // the layer's type in the format written now (a fallback type may differ from the first)
          return r.transformed ? { ...l, digest: r.digest, size: r.size, mediaType: transformedLayerType(r.transformed, format === 'oci') } : l;
        });
        if (format === 'oci' && manifest.mediaType === MediaType.dockerV2S2) {
          converted.config = { ...converted.config, ...(await this.ociConfigFor(manifest.config)) };
        }
        bytes = serializeImageManifest(converted);
      }
      const digest = digestOf(bytes);
      try {
        await this.dest.putManifest(bytes, type, { instanceDigest: where.instanceDigest ? digest : undefined, signal: this.signal });
        return { digest, mediaType: type, size: bytes.length };
      } catch (e) {
        lastError = e;
        const rejectedType = e instanceof DomainError && (e.upstream.upstreamCode === 'MANIFEST_INVALID' || e.upstream.upstreamStatus === 415);
        if (!rejectedType || this.opts.format || this.opts.preserveDigests) throw e;
      }
    }
    throw lastError;
  }

  /**
   * Converting Docker → OCI rewrites the config as containers/image does (decoded into the OCI
   * structure and marshalled again), which is a new blob with a new digest.
   */
  private async ociConfigFor(config: Descriptor): Promise<BlobInfo> {
    const raw = await this.source.readBlob(config, { signal: this.signal });
    const bytes = Buffer.from(goJson(toOciImageConfig(parseConfigJson(raw))));
    const info = { digest: digestOf(bytes), size: bytes.length };
    const key = `${this.dest.blobScope}|${info.digest}`;
    if (this.opts.knownBlobs?.has(key)) return info;
    await this.deps.inflight.once(key, async () => {
      if (await this.dest.tryReuseBlob(info, { signal: this.signal })) return;
      await this.dest.putBlob(Readable.from([bytes]), { known: info, final: () => info }, { signal: this.signal });
    }, { signal: this.signal });
    this.opts.knownBlobs?.add(key);
    return info;
  }

  /** Copies one blob unchanged: reuse or mount when possible, else a verified streamed upload. */
  private async copyBlob(d: Descriptor): Promise<BlobInfo & { transformed?: LayerTransform }> {
    const key = `${this.dest.blobScope}|${d.digest}`;
    if (this.opts.knownBlobs?.has(key)) {
      this.counters.add({ blobsSkipped: 1, bytesSkipped: d.size });
      return { digest: d.digest, size: d.size };
    }
    const { value, shared } = await this.deps.inflight.once(key, async () => {
      this.checkAborted();
      const reuse = await this.dest.tryReuseBlob({ digest: d.digest, size: d.size }, { mountFrom: this.mountFrom, signal: this.signal });
      if (reuse) return { info: { digest: d.digest, size: d.size }, how: reuse };
      await this.transfer(d, (stream) => this.dest.putBlob(stream, { known: { digest: d.digest, size: d.size }, final: () => ({ digest: d.digest, size: d.size }) }, { signal: this.signal }));
      return { info: { digest: d.digest, size: d.size }, how: 'uploaded' as const };
    }, { signal: this.signal });
    if (shared || value.how === 'present') this.counters.add({ blobsSkipped: 1, bytesSkipped: d.size });
    else if (value.how === 'mounted') this.counters.add({ blobsMounted: 1, bytesSkipped: d.size });
    else this.counters.add({ blobsDone: 1 });
    this.opts.knownBlobs?.add(key);
    return value.info;
  }

  /**
   * How a layer must change on its way (undefined: copied as is): the caller's compression
   * option, else what the destination wants (compress plain tars for registries and layouts,
   * decompress for docker-archive and daemons). With `keepDigests` a plain layer stays plain
   * where the destination would compress it: skopeo's --preserve-digests never modifies a blob,
   * and registries and OCI layouts store it as it is.
   */
  private layerPlan(d: Descriptor, opts: { keepDigests: boolean }): LayerTransform | undefined {
    const from = this.source.actualCompression?.(d) ?? compressionOf(d.mediaType);
    if (this.opts.compression) {
      if (from === undefined) throw new DomainError('OPERATION_NOT_SUPPORTED', `cannot recompress a layer of media type ${d.mediaType}`);
      // As containers/image: only into another algorithm; a layer already compressed with it is
      // kept as it is (whatever the level), and then the destination's wish applies.
      if (from !== this.opts.compression.format) return { from, to: this.opts.compression };
    }
    const want = this.dest.layerCompression ?? 'compress';
    if (want === 'compress' && from === 'none') return opts.keepDigests ? undefined : { from, to: { format: 'gzip' } };
    if (want === 'decompress' && (from === 'gzip' || from === 'zstd')) return { from };
    return undefined;
  }

  /** Decompresses and/or compresses a layer; the new digest is known only at the end. */
  private async transformLayer(d: Descriptor, plan: LayerTransform): Promise<BlobInfo & { transformed: LayerTransform }> {
    const to = plan.to;
    const key = `${this.dest.blobScope}|${d.digest}|${to ? `${to.format}:${to.level ?? 'default'}` : 'plain'}`;
    const { value } = await this.deps.inflight.once(key, async () => {
      return this.transfer(d, async (verified) => {
        const digesting = new DigestingStream();
        const stages = [...decompressor(plan.from), ...(to ? [compressor(to)] : [])];
        const out = pipeline([verified, ...stages, digesting], () => undefined) as unknown as Readable;
        return this.dest.putBlob(out, { final: () => digesting.info() }, { signal: this.signal });
      });
    }, { signal: this.signal });
    this.counters.add({ blobsDone: 1 });
    return { ...value, transformed: plan };
  }

  /**
   * Streams one source blob through the verifying stream into `put`, under the per-host limits,
   * retrying retryable failures with a fresh source stream.
   */
  private async transfer<T>(d: Descriptor, put: (verified: Readable) => Promise<T>): Promise<T> {
    const attempts = 1 + (this.opts.retryTimes ?? 3);
    for (let attempt = 1; ; attempt++) {
      this.checkAborted();
      let counted = 0;
      try {
        return await this.deps.limiter.run([this.sourceHost, this.dest.hostKey], this.signal, async () => {
          const { stream } = await this.source.getBlob({ digest: d.digest, size: d.size }, { signal: this.signal });
          const verifier = new VerifyingStream({ digest: d.digest, size: d.size }, (n) => {
            counted += n;
            this.counters.add({ bytesDone: n });
          });
          const verified = pipeline([stream, verifier], () => undefined) as unknown as Readable;
          try {
            return await put(verified);
          } catch (e) {
            stream.destroy();
            // the verifier's own verdict is the real cause when the upload broke because of it
            throw verifier.errored ?? e;
          }
        });
      } catch (e) {
        if (counted) this.counters.add({ bytesDone: -counted });
        if (this.signal.aborted) throw new AbortedError('the copy was cancelled');
        if (attempt < attempts && isRetryable(e)) {
          // a cancel ends the wait; the loop's checkAborted() then ends the run
          await delay(Math.min(200 * 2 ** (attempt - 1), 5_000), undefined, { signal: this.signal }).catch(() => undefined);
          continue;
        }
        throw asDomainError(e, `copying blob ${d.digest}`);
      }
    }
  }

  /**
   * Copies instances of an index concurrently, each manifest by digest; `preserve` (naming
   * why) refuses any change to them. Returns what each became, in the given order.
   */
  private async copyInstances(instances: readonly Descriptor[], preserve?: string): Promise<(WrittenManifest & { original: string })[]> {
    this.counters.add({ imagesTotal: instances.length }, 'copying');
    const written = await this.all(
      instances.map(async (d) => {
        const instance = await this.source.getManifest({ instanceDigest: d.digest, signal: this.signal });
        const parsed = parseManifest(instance.bytes, instance.mediaType);
        if (parsed.kind !== 'image') throw new DomainError('OPERATION_NOT_SUPPORTED', `instance ${d.digest} is not an image manifest (nested indexes are not supported)`);
        const w = await this.copyImage(instance, parsed, { instanceDigest: d.digest, preserve });
        this.noteWritten(d.digest, w.digest);
        this.counters.add({ imagesDone: 1 });
        return { ...w, ...(d.platform ? { platform: d.platform } : {}), original: d.digest };
      }),
    );
    this.checkAborted();
    return written;
  }

  async copyAll(top: ManifestBlob, index: IndexManifest): Promise<CopyResult> {
    assertAcceptsIndexes(this.dest);
    const targetFormat = indexFormat(index, this.dest, this.opts);
    const written = await this.copyInstances(index.manifests);
    const changed = written.some((w) => w.digest !== w.original) || indexMediaType(targetFormat) !== index.mediaType;
    if (changed && this.opts.preserveDigests) throw new DomainError('INVALID_ARGUMENT', 'preserveDigests: the instances had to change, so the index would change');
    const bytes = changed
      ? convertIndex(index, targetFormat, new Map(written.map((w) => [w.original, { digest: w.digest, size: w.size, mediaType: w.mediaType }])))
      : top.bytes;
    const mediaType = changed ? indexMediaType(targetFormat) : index.mediaType;
    await this.dest.putManifest(bytes, mediaType, { signal: this.signal });
    const digest = digestOf(bytes);
    this.noteWritten(top.digest, digest);
    this.counters.add({}, 'done');
    return { digest, mediaType, manifests: written.map(({ original: _, ...w }) => w) };
  }

  /** multiArch=filtered, once decide() found it to copy: the chosen instances, then a new index holding only them (a new digest). */
  async copyFiltered(top: ManifestBlob, index: IndexManifest, chosen: readonly Descriptor[]): Promise<CopyResult> {
    const targetFormat = indexFormat(index, this.dest, this.opts);
    const written = await this.copyInstances(chosen);
    const replaced = new Map(written.filter((w) => w.digest !== w.original).map((w) => [w.original, { digest: w.digest, size: w.size, mediaType: w.mediaType }]));
    const { bytes, mediaType } = filteredIndex(top, index, chosen, targetFormat, replaced);
    this.counters.add({}, 'writing-manifests');
    await this.dest.putManifest(bytes, mediaType, { signal: this.signal });
    const digest = digestOf(bytes);
    this.noteWritten(top.digest, digest);
    this.counters.add({}, 'done');
    return { digest, mediaType, manifests: written.map(({ original: _, ...w }) => w), ...(digest !== top.digest ? { sourceDigest: top.digest } : {}) };
  }

  /**
   * multiArch=sparse: the chosen instances, unchanged, then the source index unchanged (its
   * digest kept) although it names instances the destination does not hold. Registries that
   * check an index's instances (CNCF distribution does) and OCI layouts refuse it: that fails
   * clearly (the chosen instances stay, by digest, untagged).
   */
  async copySparse(top: ManifestBlob, index: IndexManifest, chosen: readonly Descriptor[]): Promise<CopyResult> {
    const written = await this.copyInstances(chosen, 'multiArch=sparse');
    this.counters.add({}, 'writing-manifests');
    try {
      await this.dest.putManifest(top.bytes, index.mediaType, { signal: this.signal });
    } catch (e) {
      throw sparseRefusal(e, this.dest.reference.transport);
    }
    this.noteWritten(top.digest, top.digest);
    this.counters.add({}, 'done');
    return { digest: top.digest, mediaType: index.mediaType, manifests: written.map(({ original: _, ...w }) => w) };
  }

  /** skopeo's --multi-arch index-only: only the index; the destination must already have the instances. */
  async writeIndexOnly(top: ManifestBlob, index: IndexManifest): Promise<CopyResult> {
    assertAcceptsIndexes(this.dest);
    let bytes = top.bytes;
    let mediaType = index.mediaType;
    const targetFormat = indexFormat(index, this.dest, this.opts);
    if (indexMediaType(targetFormat) !== index.mediaType) {
      bytes = convertIndex(index, targetFormat, new Map());
      mediaType = indexMediaType(targetFormat);
    }
    this.counters.add({}, 'writing-manifests');
    try {
      await this.dest.putManifest(bytes, mediaType, { signal: this.signal });
    } catch (e) {
      if (e instanceof DomainError && (e.upstream.upstreamCode === 'MANIFEST_BLOB_UNKNOWN' || e.upstream.upstreamCode === 'MANIFEST_UNKNOWN' || e.upstream.upstreamCode === 'BLOB_UNKNOWN')) {
        throw new DomainError(
          'IMAGE_NOT_FOUND',
          `multiArch=index-only copies only the index, and the destination does not have its instances (${e.message}); copy with multiArch=all first`,
          e.upstream,
        );
      }
      throw e;
    }
    this.noteWritten(top.digest, digestOf(bytes));
    this.counters.add({}, 'done');
    return { digest: digestOf(bytes), mediaType, manifests: [] };
  }
}
