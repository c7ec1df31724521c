import { readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { CopyEngine } from '../copy-engine/copy-engine';
import { type CopyOptions, mayBeUpToDate } from '../copy-engine/copy-options';
import type { CopyPlan } from '../copy-engine/copy-plan';
import { KnownBlobs } from '../copy-engine/known-blobs';
import type { TransferProgress } from '../copy-engine/transfer-progress';
import type { ReferrersStep } from '../copy-engine/referrers-step';
import type { OperationError } from '../errors/operation-error';
import type { SyncImageCounters } from '../operations/sync-image';
import type { RateLimitFloor } from '../rate-limits/rate-limit-floor';
import { AbortedError, DomainError } from '../errors/domain-error';
import { digestOf, isDigest } from '../image-spec/digest';
import { type DockerReference, formatDockerReference, isNameOnly, isValidTag, parseDockerReference, withDigest, withTag } from '../image-spec/docker-reference';
import { type DirImageReference, type DockerImageReference, type ImageReference, formatImageReference, parseImageReference, registryImageOf } from '../image-spec/image-reference';
import type { Descriptor, PlatformChoice } from '../image-spec/manifest';
import { fsErrorCode } from '../storage/storage-errors';
import { resolveInStorageRoot } from '../storage/storage-root';
import type { TransportRegistry } from '../transports/transport-registry';
import type { CredentialResolver, ImageSource, ImageTransport, TransportContext } from '../transports/transport';
import { sanitizeUpstreamText } from '../transports/docker/upstream-text';
import type { SyncImageResult, SyncImageState, SyncResult } from '../transfers/sync-request';
import { semverMatches } from './semver-constraint';
import { type DestinationNaming, destinationFor, dirSuffix, dockerSuffix } from './sync-naming';
import { RegistryBlobLocations, SyncDestination } from './sync-destination';
import type { SyncYamlRegistry } from './sync-yaml';
import { filterTagsByRegex, MatchBudget } from './tag-regex';

/**
 * One run of a sync (plain TypeScript; the Nest service builds it): list what the source
 * holds, name each image's destination as skopeo does, then copy (or, for a dry run, plan) the
 * images, `concurrency` at a time, through the shared copy engine.
 *
 * Contracts:
 * - Tag lists are fetched once per repository, however many selectors name it.
 * - Images are handled concurrently; each one's blobs go through the engine's shared per-host
 *   limits and cross-job dedupe, and blobs shared between destination repositories of the same
 *   registry are uploaded once and mounted elsewhere (RegistryBlobLocations).
 * - An image whose destination already holds the manifest is skipped after one request to it.
 * - Without keepGoing, the first failure stops the run: nothing new starts, images in flight
 *   finish, and a SyncStoppedError carries the result so far. With keepGoing every image is
 *   tried and failures are recorded.
 * - A cancel (the run's signal) stops everything at once and rethrows the abort.
 */

/** How images of one source registry (or the whole source) are read. */
export interface SourceAccess {
  transport: ImageTransport;
  ctx: TransportContext;
  /** Names this access in a plan entry (`default`, `dir`, `yaml:<registry key>`), so another run can rebuild it. */
  key?: string;
}

/**
 * One image of a plan, as text another process can run (runOne): the source and destination
 * references and the key of the source access; or why the selection failed.
 */
export interface SyncPlanEntry {
  source: string;
  destination: string;
  accessKey: string;
  error?: unknown;
}

export interface SyncRunRequest {
  sourceType: 'docker' | 'dir' | 'yaml';
  /** docker: the repository or image (no `docker://`); dir: the path under the storage root. */
  source?: string;
  yaml?: SyncYamlRegistry[];
  naming: DestinationNaming;
  all: boolean;
  dryRun: boolean;
  keepGoing: boolean;
  preserveDigests: boolean;
  format?: 'oci' | 'v2s2';
  retryTimes?: number;
  sourceTlsVerify?: boolean;
  destinationTlsVerify?: boolean;
  /** Platform subsets of multi-arch images (instead of `all`): `filtered` (default) or `sparse`. */
  platforms?: readonly PlatformChoice[];
  multiArch?: 'filtered' | 'sparse';
  /** Bring each image's referrers along (deps.referrersStep builds the step). */
  referrers?: boolean;
}

export interface SyncRunDeps {
  engine: CopyEngine;
  transports: TransportRegistry;
  storageRoot: string;
  concurrency: number;
  /** The access for the request's own source settings. */
  defaultSource: SourceAccess;
  /** The access for one YAML registry (its credentials, tls-verify and cert-dir). */
  yamlSource(registry: SyncYamlRegistry): Promise<SourceAccess>;
  destinationCredentials: CredentialResolver;
  signal: AbortSignal;
  progress(update: Partial<TransferProgress>): void;
  /** An image's failure as the value stored in its result. */
  problem(error: unknown): OperationError;
  /** The referrers step of one image's copy (request.referrers). */
  referrersStep?(image: { source: ImageReference; destination: ImageReference; access: SourceAccess; destinationContext: TransportContext }): Promise<ReferrersStep>;
  /** Waits before pulling from a registry whose remaining pulls are at the floor (request rateLimitFloor). */
  rateLimitFloor?: RateLimitFloor;
}

export type { SyncImageResult, SyncImageState, SyncResult };

/** The first failure of a run without keepGoing, with what was done until then. */
export class SyncStoppedError extends DomainError {
  readonly partialResult: SyncResult;

  constructor(cause: unknown, what: string, partialResult: SyncResult) {
    const base = cause instanceof DomainError ? cause : undefined;
    const message = cause instanceof Error ? cause.message : String(cause);
    const done = partialResult.images.filter((i) => i.state !== 'failed').length;
    super(
      base?.code ?? 'UPSTREAM_PROTOCOL_ERROR',
      `${what}: ${message} (the sync stopped at its first failure; ${done} image(s) were done, see result.images; keepGoing continues past failures)`,
      base?.upstream ?? {},
      { cause },
    );
    this.partialResult = partialResult;
  }
}

interface PlannedImage {
  source: ImageReference;
  sourceText: string;
  destination: ImageReference;
  destinationText: string;
  access: SourceAccess;
}

const DEFAULT_ACCESS = 'default';
const DIR_ACCESS = 'dir';

/** A selection that could not become images (a tag list that failed, a bad name). */
interface PlanFailure {
  sourceText: string;
  destinationText: string;
  error: unknown;
}

type PlanEntry = PlannedImage | PlanFailure;

const MAX_IMAGES = 100_000;
const MAX_DIR_DEPTH = 32;

function isFailure(e: PlanEntry): e is PlanFailure {
  return 'error' in e;
}

export class SyncRun {
  private readonly locations = new RegistryBlobLocations();
  /** Blobs this run found or put at its destinations: a base layer is asked for once per repository, not once per tag. */
  private readonly knownBlobs = new KnownBlobs();
  private readonly tagLists = new Map<string, Promise<string[]>>();
  /** Per image: the engine's last absolute counters, summed into the run's progress. */
  private readonly perImage = new Map<number, TransferProgress>();
  private readonly totals = { bytesTotal: 0, bytesDone: 0, bytesSkipped: 0, blobsTotal: 0, blobsDone: 0, blobsSkipped: 0, blobsMounted: 0 };
  private imagesTotal = 0;
  private imagesDone = 0;
  /** Counted once per destination registry in a dry run (other repositories would mount them). */
  private readonly plannedBlobs = new Set<string>();

  constructor(
    private readonly request: SyncRunRequest,
    private readonly deps: SyncRunDeps,
  ) {}

  async execute(): Promise<SyncResult> {
    this.deps.progress({ phase: 'listing' });
    const entries = await this.plan();
    const images: PlannedImage[] = [];
    const order = new Map<PlanEntry, number>();
    entries.forEach((e, i) => order.set(e, i));
    const slots: (SyncImageResult | undefined)[] = new Array(entries.length);
    let first: { error: unknown; what: string } | undefined;
    for (const [i, e] of entries.entries()) {
      if (!isFailure(e)) {
        images.push(e);
        continue;
      }
      slots[i] = { source: e.sourceText, destination: e.destinationText, state: 'failed', error: this.deps.problem(e.error) };
      first ??= { error: e.error, what: `listing ${e.sourceText}` };
    }
    this.imagesTotal = images.length;
    this.deps.progress({ phase: this.request.dryRun ? 'planning' : 'copying', imagesTotal: this.imagesTotal, imagesDone: 0 });
    if (first && !this.request.keepGoing) throw new SyncStoppedError(first.error, first.what, this.summary(slots));

    let next = 0;
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop && next < images.length) {
        const index = next++;
        const image = images[index]!;
        const outcome = await this.handle(image, index);
        this.checkAborted();
        slots[order.get(image)!] = outcome.result;
        this.imagesDone++;
        this.report();
        if (outcome.result.state === 'failed' && !this.request.keepGoing && !first) {
          first = { error: outcome.error, what: `${this.request.dryRun ? 'planning' : 'syncing'} ${image.sourceText} to ${image.destinationText}` };
          stop = true;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.concurrency, images.length) }, worker));
    this.checkAborted();
    const result = this.summary(slots);
    if (first && !this.request.keepGoing) throw new SyncStoppedError(first.error, first.what, result);
    this.deps.progress({ phase: 'done' });
    return result;
  }

  private summary(slots: (SyncImageResult | undefined)[]): SyncResult {
    const images = slots.filter((s): s is SyncImageResult => s !== undefined);
    const counts: Record<SyncImageState, number> = { copied: 0, skipped: 0, failed: 0, planned: 0 };
    for (const i of images) counts[i.state]++;
    return { images, counts, bytes: images.reduce((n, i) => n + (i.bytes ?? 0), 0) };
  }

  private checkAborted(signal: AbortSignal = this.deps.signal): void {
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      throw reason instanceof DomainError ? reason : new AbortedError('the sync was cancelled');
    }
  }

  private report(): void {
    this.deps.progress({ ...this.totals, imagesTotal: this.imagesTotal, imagesDone: this.imagesDone });
  }

  private onEngineProgress(index: number, p: TransferProgress): void {
    const last = this.perImage.get(index);
    for (const k of Object.keys(this.totals) as (keyof typeof this.totals)[]) this.totals[k] += p[k] - (last?.[k] ?? 0);
    this.perImage.set(index, { ...p });
    this.report();
  }

  // ---- listing ---------------------------------------------------------------------------

  /**
   * Lists what the source holds and names each image's destination (as execute() does first),
   * as entries another run may execute one by one with runOne().
   */
  async planEntries(): Promise<SyncPlanEntry[]> {
    const entries = await this.plan();
    return entries.map((e) =>
      isFailure(e)
        ? { source: e.sourceText, destination: e.destinationText, accessKey: DEFAULT_ACCESS, error: e.error }
        : { source: e.sourceText, destination: e.destinationText, accessKey: e.access.key ?? DEFAULT_ACCESS },
    );
  }

  private readonly accesses = new Map<string, Promise<SourceAccess>>();

  private accessFor(key: string): Promise<SourceAccess> {
    let access = this.accesses.get(key);
    if (!access) {
      if (key === DIR_ACCESS) access = Promise.resolve({ transport: this.deps.transports.get('dir', 'sync from'), ctx: this.deps.defaultSource.ctx, key });
      else if (key.startsWith('yaml:')) {
        const registry = (this.request.yaml ?? []).find((r) => `yaml:${r.key}` === key);
        if (!registry) return Promise.reject(new DomainError('INVALID_ARGUMENT', `the sync's YAML has no registry "${key.slice(5)}"`));
        access = this.deps.yamlSource(registry).then((a) => ({ ...a, key }));
      } else access = Promise.resolve({ ...this.deps.defaultSource, key: DEFAULT_ACCESS });
      access.catch(() => undefined);
      this.accesses.set(key, access);
    }
    return access;
  }

  /** The copy engine's last counters for the image at `index` (what a dry run plans counts as bytesTotal). */
  countersOf(index: number, result: SyncImageResult): SyncImageCounters {
    const p = this.perImage.get(index);
    if (!p) return { bytesTotal: result.state === 'planned' ? (result.bytes ?? 0) : 0, bytesSkipped: 0, blobsTotal: 0, blobsDone: 0, blobsSkipped: 0, blobsMounted: 0 };
    return { bytesTotal: p.bytesTotal, bytesSkipped: p.bytesSkipped, blobsTotal: p.blobsTotal, blobsDone: p.blobsDone, blobsSkipped: p.blobsSkipped, blobsMounted: p.blobsMounted };
  }

  /**
   * Copies (or, in a dry run, plans) one image of a plan made by planEntries(), possibly in
   * another process, under its own `signal`. Never throws but for an abort: a failure is the
   * image's result.
   */
  async runOne(entry: Omit<SyncPlanEntry, 'error'>, index: number, signal: AbortSignal): Promise<{ result: SyncImageResult; error?: unknown }> {
    let image: PlannedImage;
    try {
      const source = parseImageReference(entry.source);
      const destination = parseImageReference(entry.destination);
      image = { source, sourceText: entry.source, destination, destinationText: entry.destination, access: await this.accessFor(entry.accessKey) };
    } catch (error) {
      return { result: { source: entry.source, destination: entry.destination, state: 'failed', error: this.deps.problem(error) }, error };
    }
    return this.handle(image, index, signal);
  }

  private async plan(): Promise<PlanEntry[]> {
    const req = this.request;
    let groups: Promise<PlanEntry[]>[];
    if (req.sourceType === 'docker') {
      groups = [this.fromDocker(req.source!, { ...this.deps.defaultSource, key: DEFAULT_ACCESS })];
    } else if (req.sourceType === 'dir') {
      groups = [this.fromDir(req.source!)];
    } else {
      groups = [];
      // Every images-by-tag-regex selector of this sync draws on one budget of match time.
      const budget = new MatchBudget();
      for (const registry of req.yaml ?? []) {
        const access = this.deps.yamlSource(registry).then((a) => ({ ...a, key: `yaml:${registry.key}` }));
        for (const entry of registry.images) {
          groups.push(
            access.then((a) =>
              entry.references.length > 0
                ? entry.references.map((r) => this.dockerImage(isDigest(r) ? withDigest(entry.repository, r) : withTag(entry.repository, r), a))
                : this.fromRepository(entry.repository, a, registry.key, (tags) => tags),
            ),
          );
        }
        for (const entry of registry.imagesByTagRegex) {
          groups.push(access.then((a) => this.fromRepository(entry.repository, a, registry.key, (tags) => filterTagsByRegex(entry.pattern, tags, budget))));
        }
        for (const entry of registry.imagesBySemver) {
          groups.push(access.then((a) => this.fromRepository(entry.repository, a, registry.key, (tags) => tags.filter((t) => semverMatches(entry.constraint, t)))));
        }
      }
    }
    const lists = await Promise.all(groups);
    this.checkAborted();
    // One entry per destination: the same image named twice is synced once; two sources
    // naming the same destination would race, so the later ones fail.
    const seen = new Map<string, string>();
    const out: PlanEntry[] = [];
    for (const e of lists.flat()) {
      if (isFailure(e)) {
        out.push(e);
        continue;
      }
      const earlier = seen.get(e.destinationText);
      if (earlier === e.sourceText) continue;
      if (earlier !== undefined) {
        out.push({
          sourceText: e.sourceText,
          destinationText: e.destinationText,
          error: new DomainError('INVALID_ARGUMENT', `${e.sourceText} and ${earlier} would both be written to ${e.destinationText}; use scoped to keep their names apart`),
        });
        continue;
      }
      seen.set(e.destinationText, e.sourceText);
      out.push(e);
    }
    if (out.length > MAX_IMAGES) throw new DomainError('INVALID_ARGUMENT', `the sync names ${out.length} images; at most ${MAX_IMAGES} are handled in one operation`);
    return out;
  }

  private async fromDocker(source: string, access: SourceAccess): Promise<PlanEntry[]> {
    const ref = parseDockerReference(source);
    if (!isNameOnly(ref)) return [this.dockerImage(ref, access)];
    const entries = await this.fromRepository(ref, access, '', (tags) => tags);
    const failed = entries.find(isFailure);
    if (failed) throw failed.error;
    if (entries.length === 0) throw new DomainError('IMAGE_NOT_FOUND', `no images to sync found in ${source}: the repository has no tags`);
    return entries;
  }

  /** Every tag `select` keeps, from the repository's tag list (fetched once per repository and access). */
  private async fromRepository(
    repository: DockerReference,
    access: SourceAccess,
    accessKey: string,
    select: (tags: string[]) => string[] | Promise<string[]>,
  ): Promise<PlanEntry[]> {
    const key = `${accessKey}|${repository.domain}/${repository.path}`;
    let list = this.tagLists.get(key);
    if (!list) {
      const ref: DockerImageReference = { transport: 'docker', named: { ...repository, tag: 'latest' } };
      list = access.transport.listTags!(ref, { ...access.ctx, signal: this.deps.signal }).then((r) => r.tags);
      list.catch(() => undefined);
      this.tagLists.set(key, list);
    }
    let tags: string[];
    try {
      const listed = await list;
      // as skopeo's sync, which makes a reference of every listed tag before any selection and
      // stops on one that is not a tag: the repository fails, naming it
      const invalid = listed.find((t) => !isValidTag(t));
      if (invalid !== undefined) {
        throw new DomainError(
          'UPSTREAM_PROTOCOL_ERROR',
          `listing ${formatDockerReference(repository)}: the registry lists ${sanitizeUpstreamText(JSON.stringify(invalid), 300)}, which is not a valid tag`,
          { registry: repository.domain },
        );
      }
      tags = await select(listed);
    } catch (error) {
      if (this.deps.signal.aborted) this.checkAborted();
      return [{ sourceText: `docker://${formatDockerReference(repository)}`, destinationText: this.repositoryDestinationText(repository), error }];
    }
    return tags.map((t) => this.dockerImage(withTag(repository, t), access));
  }

  /** Where a repository's images go, for reporting a repository that could not be listed. */
  private repositoryDestinationText(repository: DockerReference): string {
    const n = this.request.naming;
    const suffix = formatDockerReference(repository);
    const path = posix.join(n.destination, n.scoped ? suffix : posix.basename(suffix));
    return n.destinationType === 'dir' ? `dir:${path}` : `docker://${path}`;
  }

  private dockerImage(ref: DockerReference, access: SourceAccess): PlanEntry {
    const source: DockerImageReference = { transport: 'docker', named: ref };
    const sourceText = formatImageReference(source);
    return this.named(source, sourceText, dockerSuffix(ref), access);
  }

  private named(source: ImageReference, sourceText: string, suffix: string, access: SourceAccess): PlanEntry {
    let destination: ImageReference;
    try {
      destination = destinationFor(suffix, this.request.naming);
    } catch (error) {
      const n = this.request.naming;
      const path = posix.join(n.destination, n.scoped ? suffix : posix.basename(suffix)) + (n.appendSuffix ?? '');
      return { sourceText, destinationText: `${n.destinationType === 'dir' ? 'dir:' : 'docker://'}${path}`, error };
    }
    return { source, sourceText, destination, destinationText: formatImageReference(destination), access };
  }

  /** skopeo's imagesToCopyFromDir: every directory holding a manifest.json file, in path order. */
  private async fromDir(source: string): Promise<PlanEntry[]> {
    const base = posix.normalize(source).replace(/\/+$/, '') || '.';
    const root = await resolveInStorageRoot(this.deps.storageRoot, base);
    const found: string[] = [];
    const walk = async (abs: string, rel: string, depth: number): Promise<void> => {
      this.checkAborted();
      const entries = await readdir(abs, { withFileTypes: true }).catch((e: unknown) => {
        if (fsErrorCode(e) === 'ENOENT' && depth === 0) throw new DomainError('IMAGE_NOT_FOUND', `dir:${base}: the source directory does not exist`);
        if (fsErrorCode(e) === 'ENOTDIR' && depth === 0) throw new DomainError('INVALID_ARGUMENT', `dir:${base}: the source is not a directory`);
        throw e;
      });
      if (entries.some((e) => e.isFile() && e.name === 'manifest.json')) {
        found.push(rel);
        return;
      }
      if (depth >= MAX_DIR_DEPTH || found.length > MAX_IMAGES) return;
      const dirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
      for (const d of dirs) await walk(join(abs, d), rel === '' ? d : `${rel}/${d}`, depth + 1);
    };
    await walk(root, '', 0);
    if (found.length === 0) throw new DomainError('IMAGE_NOT_FOUND', `no images to sync found in dir:${base}`);
    const access = { transport: this.deps.transports.get('dir', 'sync from'), ctx: this.deps.defaultSource.ctx, key: DIR_ACCESS };
    return found.map((rel) => {
      const path = rel === '' ? base : posix.join(base, rel);
      const ref: DirImageReference = { transport: 'dir', path };
      return this.named(ref, formatImageReference(ref), dirSuffix(base, rel === '' ? base : `${base}/${rel}`), access);
    });
  }

  // ---- one image -------------------------------------------------------------------------

  private async handle(image: PlannedImage, index: number, signal: AbortSignal = this.deps.signal): Promise<{ result: SyncImageResult; error?: unknown }> {
    let source: ImageSource | undefined;
    try {
      source = await image.access.transport.openSource(image.source, { ...image.access.ctx, signal });
      const r = this.request.dryRun ? await this.planImage(image, source, signal) : await this.copyImage(image, source, index, signal);
      return { result: { source: image.sourceText, destination: image.destinationText, ...r } };
    } catch (error) {
      this.checkAborted(signal);
      // A destination that lost a blob it was known to hold fails every image that skips it:
      // after a failure, the images that follow ask again, as skopeo would.
      this.knownBlobs.clear();
      return { result: { source: image.sourceText, destination: image.destinationText, state: 'failed', error: this.deps.problem(error) }, error };
    } finally {
      await source?.close().catch(() => undefined);
    }
  }

  private copyOptions(): CopyOptions {
    const r = this.request;
    const multiArch = r.platforms?.length ? (r.multiArch ?? 'filtered') : r.all ? 'all' : 'system';
    return { multiArch, ...(r.platforms?.length ? { platforms: r.platforms } : {}), preserveDigests: r.preserveDigests, format: r.format, retryTimes: r.retryTimes, knownBlobs: this.knownBlobs };
  }

  /** Waits, before reading an image's content, while its registry's remaining pulls (for the image's source credentials) are at the floor. */
  private async beforePull(image: PlannedImage): Promise<void> {
    const registry = registryImageOf(image.source)?.registry;
    if (this.deps.rateLimitFloor && registry !== undefined) await this.deps.rateLimitFloor.beforePull(registry, this.deps.signal, image.access.ctx);
  }

  private destinationContext(signal: AbortSignal): TransportContext {
    return { credentials: this.deps.destinationCredentials, tlsVerify: this.request.destinationTlsVerify, signal };
  }

  /** What the engine would do with this image, asked through a probe of its destination (nothing is written). */
  private async planCopy(image: PlannedImage, source: ImageSource, signal: AbortSignal, blobs: 'list' | 'check'): Promise<CopyPlan> {
    const transport = this.deps.transports.get(image.destination.transport, 'sync to');
    const probe = await transport.probeDestination!(image.destination, this.destinationContext(signal));
    try {
      return await this.deps.engine.plan(source, probe, { ...this.copyOptions(), beforePull: () => this.beforePull(image) }, { signal, blobs });
    } finally {
      await probe.close();
    }
  }

  private async copyImage(image: PlannedImage, source: ImageSource, index: number, signal: AbortSignal): Promise<Omit<SyncImageResult, 'source' | 'destination'>> {
    const transport = this.deps.transports.get(image.destination.transport, 'sync to');
    // A destination that stages a new image when opened cannot tell what it holds: look first.
    if (transport.probeBeforeOpening && mayBeUpToDate(this.copyOptions())) {
      const plan = await this.planCopy(image, source, signal, 'list');
      if (plan.action === 'skip') {
        this.skippedBlobs(index, plan.blobs!);
        return { state: 'skipped', digest: plan.digest, bytes: 0 };
      }
    }
    const inner = await transport.openDestination!(image.destination, this.destinationContext(signal));
    const dest = new SyncDestination(inner, this.locations, (b) => digestOf(b));
    try {
      const referrers = this.request.referrers && this.deps.referrersStep
        ? await this.deps.referrersStep({ source: image.source, destination: image.destination, access: image.access, destinationContext: this.destinationContext(signal) })
        : undefined;
      const options: CopyOptions = { ...this.copyOptions(), ...(referrers ? { referrers } : {}), beforePull: () => this.beforePull(image) };
      const result = await this.deps.engine.copy(source, dest, options, { signal, onProgress: (p) => this.onEngineProgress(index, p) });
      const bytes = this.perImage.get(index)?.bytesDone ?? 0;
      const extra = { ...(result.referrers ? { referrers: result.referrers.copied.length } : {}), ...(result.sourceDigest ? { sourceDigest: result.sourceDigest } : {}) };
      if (!dest.written) return { state: 'skipped', digest: result.digest, bytes, ...extra };
      const named = registryImageOf(image.destination)?.named;
      if (named?.digest !== undefined && named.digest !== dest.written.digest) {
        // Pushed under the digest of what was written (see SyncDestination); report that name.
        image.destinationText = formatImageReference({ transport: 'docker', named: { ...named, digest: dest.written.digest } });
      }
      return { state: 'copied', digest: result.digest, bytes, ...extra };
    } finally {
      await dest.close();
    }
  }

  /** Counts an up-to-date image's blobs as skipped, as the engine does for one it finds up to date. */
  private skippedBlobs(index: number, blobs: readonly Descriptor[]): void {
    const bytes = blobs.reduce((n, b) => n + b.size, 0);
    this.onEngineProgress(index, { phase: 'done', bytesTotal: bytes, bytesDone: 0, bytesSkipped: bytes, blobsTotal: blobs.length, blobsDone: 0, blobsSkipped: blobs.length, blobsMounted: 0, imagesTotal: 1, imagesDone: 1 });
  }

  /** Dry run: what a copy would do, from the manifests and HEAD requests; nothing is written. */
  private async planImage(image: PlannedImage, source: ImageSource, signal: AbortSignal): Promise<Omit<SyncImageResult, 'source' | 'destination'>> {
    const plan = await this.planCopy(image, source, signal, 'check');
    if (plan.action === 'skip') return { state: 'skipped', digest: plan.digest, bytes: 0 };
    return { state: 'planned', digest: plan.digest, bytes: this.countPlanned(image.destination, plan.transfer!) };
  }

  /** Bytes a dry run plans for an image; a blob already planned for the same registry counts once (other repositories would mount it). */
  private countPlanned(destination: ImageReference, blobs: readonly Descriptor[]): number {
    const registry = registryImageOf(destination)?.registry;
    let bytes = 0;
    for (const b of blobs) {
      if (registry !== undefined) {
        const key = `${registry}|${b.digest}`;
        if (this.plannedBlobs.has(key)) continue;
        this.plannedBlobs.add(key);
      }
      bytes += b.size;
    }
    if (registry !== undefined) this.totals.bytesTotal += bytes;
    return bytes;
  }
}
