import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type Principal, requireScope } from '../auth/principal';
import { referenceTarget, requireReferenceAccess, requireTreeAccess } from '../auth/reference-access';
import { APP_CONFIG, type AppConfig, type RegistrySettings } from '../config/app-config';
import { CopyEngine } from '../copy-engine/copy-engine';
import type { TransferProgress } from '../copy-engine/transfer-progress';
import { CredentialService } from '../credentials/credential.service';
import { AbortedError, DomainError, InvalidArgumentError, TransportNotImplementedError } from '../errors/domain-error';
import { domainErrorOf, operationErrorOf } from '../errors/operation-error';
import { toRegistryAuth } from '../http/registry-auth-header';
import { isDigest } from '../image-spec/digest';
import { type DockerReference, isNameOnly, parseDockerReference, withDigest, withTag } from '../image-spec/docker-reference';
import { parseImageReference, registryImageOf } from '../image-spec/image-reference';
import { dockerRepositoryTarget, patternTarget, treeTarget } from '../image-spec/reference-pattern';
import type { OperationRunContext, OperationRunner, SyncImageRunner, SyncImageTasks } from '../operations/operation';
import { OperationsService } from '../operations/operations.service';
import type { SyncImageRow } from '../operations/sync-image';
import { RATE_LIMIT_GAUGE, RateLimitFloor, type RateLimitGauge } from '../rate-limits/rate-limit-floor';
import { ReferrersService } from '../referrers/referrers.service';
import { isInside, resolveInStorageRoot } from '../storage/storage-root';
import type { SyncImageResult, SyncRequest, SyncResult } from '../transfers/sync-request';
import { canonicalSet, checkTransferExtensions, platformChoices } from '../transfers/transfer-extensions';
import type { SyncYamlCredentials, TransferSecrets } from '../transfers/transfer-secrets';
import { DockerTransport } from '../transports/docker/docker.transport';
import type { CredentialResolver, RegistryAuth } from '../transports/transport';
import { TransportRegistry } from '../transports/transport-registry';
import { type SourceAccess, SyncRun, SyncStoppedError } from './sync-run';
import { parseSyncYaml, readSyncYaml, type SyncYamlRegistry } from './sync-yaml';
import type { SyncRequestDto } from './syncs.dto';

/** How often a sync's run recounts its images when no signal came (signals normally wake it first). */
const IMAGE_POLL_MS = 5000;
/** Images listed in a sync's result; all of them are paged at /v1/operations/{id}/images. */
const RESULT_IMAGES = 100;
/** A sync's SyncRun is kept this long after its last image here ended. */
const IMAGE_RUN_IDLE_MS = 30_000;

function stripPrefix(value: string, prefix: string): string {
  return value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

/** A sync's SyncRun kept on this replica while its images run here. */
interface ImageRun {
  run: SyncRun;
  close: () => Promise<void>;
  refs: number;
  idle?: NodeJS.Timeout;
}

interface BuildRunOptions {
  secrets?: TransferSecrets;
  /** The principal that submitted the sync (by name): stored credentials apply as for it. */
  owner: string;
  signal: AbortSignal;
  progress: (p: Partial<TransferProgress>) => void;
}

/**
 * skopeo sync as an operation. prepare() checks a request before it is queued (types,
 * references, paths, the YAML document and its cert-dirs) and takes its secrets aside; run()
 * builds a SyncRun with the process-wide copy engine (the same HostLimiter and InFlightBlobs as
 * copies) when the worker picks the operation up.
 */
@Injectable()
export class SyncsService implements OperationRunner<'sync'>, OnModuleInit {
  readonly kind = 'sync' as const;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transports: TransportRegistry,
    private readonly credentials: CredentialService,
    private readonly operations: OperationsService,
    private readonly engine: CopyEngine,
    private readonly docker: DockerTransport,
    private readonly referrers: ReferrersService,
    @Inject(RATE_LIMIT_GAUGE) private readonly rateLimitGauge: RateLimitGauge,
  ) {}

  onModuleInit(): void {
    this.operations.registerRunner(this);
    this.operations.registerSyncImageRunner(this.runImage);
  }

  /** Why a YAML `cert-dir` may not be used, or undefined when the server allows it. */
  private certDirRefusal = (dir: string): string | undefined => {
    const allowed = this.config.sync.certDirs;
    if (allowed.length === 0) return 'cert-dir is not allowed on this server (SKIFF_SYNC_CERT_DIRS names none)';
    if (!isAbsolute(dir)) return 'cert-dir must be an absolute path';
    let real: string;
    try {
      real = realpathSync(dir);
      if (!statSync(real).isDirectory()) return 'cert-dir is not a directory';
    } catch {
      return 'cert-dir does not exist on the server';
    }
    const ok = allowed.some((root) => {
      try {
        return isInside(realpathSync(root), real);
      } catch {
        return false;
      }
    });
    return ok ? undefined : 'cert-dir is not one of the directories this server allows (SKIFF_SYNC_CERT_DIRS)';
  };

  private yamlAuth(key: string, c: SyncYamlCredentials): RegistryAuth {
    return toRegistryAuth({ username: c.username, password: c.password ?? '', identitytoken: c.identitytoken }, `yaml: "${key}".credentials`);
  }

  /**
   * Checks a request before it is queued; returns what is stored and the secrets kept aside.
   * The principal needs `images:write`; every repository or image the request or its YAML
   * names must be inside its source patterns (a whole repository when all its tags, a regex or
   * a semver constraint select from it; a `dir:` source as a tree), and the destination
   * namespace or directory inside its destination patterns as a tree (`…/**`).
   */
  async prepare(body: SyncRequestDto, principal: Principal): Promise<{ request: SyncRequest; secrets?: TransferSecrets }> {
    requireScope(principal, 'images:write', 'syncing images');
    const { sourceAuth, destinationAuth } = body;
    // Defaults applied: a default spelled out or left out is the same request (and fingerprint).
    const request: SyncRequest = {
      sourceType: body.sourceType,
      destination: body.destination,
      destinationType: body.destinationType,
      scoped: body.scoped ?? false,
      all: body.all ?? false,
      dryRun: body.dryRun ?? false,
      keepGoing: body.keepGoing ?? false,
      preserveDigests: body.preserveDigests ?? false,
      sourceTlsVerify: body.sourceTlsVerify ?? true,
      destinationTlsVerify: body.destinationTlsVerify ?? true,
      removeSignatures: body.removeSignatures ?? false,
      retryTimes: body.retryTimes ?? 3,
      referrers: body.referrers ?? 'none',
    };
    if (body.appendSuffix !== undefined && body.appendSuffix !== '') request.appendSuffix = body.appendSuffix;
    if (body.format !== undefined) request.format = body.format;
    if (body.platforms?.length) {
      request.platforms = canonicalSet(body.platforms);
      request.multiArch = body.multiArch ?? 'filtered';
    }
    if (body.artifactTypes?.length) request.artifactTypes = canonicalSet(body.artifactTypes);
    if (body.rateLimitFloor !== undefined) request.rateLimitFloor = body.rateLimitFloor;
    const secrets: TransferSecrets = {};
    if (body.sourceType === 'dir' && body.destinationType === 'dir') {
      throw new InvalidArgumentError('sync from dir to dir is not supported (as in skopeo): copy the directory instead');
    }
    if (body.sourceType === 'yaml') {
      if (body.yaml === undefined) throw new InvalidArgumentError('sourceType yaml needs the YAML document in "yaml"');
      if (body.source !== undefined) throw new InvalidArgumentError('sourceType yaml reads its images from "yaml"; "source" must be omitted');
      const { registries, redacted } = await readSyncYaml(body.yaml, this.certDirRefusal);
      for (const r of registries) if (r.credentials) this.yamlAuth(r.key, r.credentials);
      this.transports.authorize('docker', principal, 'syncing from');
      this.checkSelectors(registries, principal);
      request.yaml = redacted.text;
      if (Object.keys(redacted.secrets).length > 0) secrets.yamlCredentials = redacted.secrets;
    } else {
      if (body.yaml !== undefined) throw new InvalidArgumentError(`"yaml" applies to sourceType yaml only`);
      if (body.source === undefined) throw new InvalidArgumentError(`sourceType ${body.sourceType} needs "source"`);
      if (body.sourceType === 'docker') {
        request.source = stripPrefix(body.source, 'docker://');
        const ref = parseDockerReference(request.source);
        if (ref.tag !== undefined && ref.digest !== undefined) {
          throw new InvalidArgumentError('source: references with both a tag and a digest are not supported (as in skopeo)');
        }
        this.transports.authorize('docker', principal, 'syncing from');
        requireReferenceAccess(principal, 'source', isNameOnly(ref) ? dockerRepositoryTarget(ref) : patternTarget({ transport: 'docker', named: ref }));
      } else {
        request.source = stripPrefix(body.source, 'dir:');
        await resolveInStorageRoot(this.config.storageRoot, request.source);
        this.transports.authorize('dir', principal, 'syncing from');
        this.transports.get('dir', 'sync from');
        requireTreeAccess(principal, 'source', await this.dirTree(request.source));
      }
    }
    if (body.destinationType === 'docker') {
      request.destination = stripPrefix(body.destination, 'docker://').replace(/\/+$/, '');
      const probe = registryImageOf(parseImageReference(`docker://${request.destination}/skiff-probe:latest`));
      this.transports.authorize('docker', principal, 'syncing to');
      if (probe) requireTreeAccess(principal, 'destination', treeTarget('docker', `${probe.registry}/${probe.repository.replace(/\/?skiff-probe$/, '')}`.replace(/\/$/, '')));
    } else {
      request.destination = stripPrefix(body.destination, 'dir:');
      await resolveInStorageRoot(this.config.storageRoot, request.destination);
      this.transports.authorize('dir', principal, 'syncing to');
      const dir = this.transports.get('dir', 'sync to');
      if (!dir.openDestination) throw new TransportNotImplementedError('dir', 'sync to');
      requireTreeAccess(principal, 'destination', await this.dirTree(request.destination));
    }
    if (body.multiArch && !body.platforms?.length) throw new InvalidArgumentError('multiArch applies with "platforms" only (use "all" for every instance)');
    if (body.platforms?.length && body.all) throw new InvalidArgumentError('"platforms" and "all" exclude each other');
    checkTransferExtensions({ ...body, multiArch: body.platforms?.length ? (body.multiArch ?? 'filtered') : undefined });
    if (body.referrers === 'all' && (body.sourceType === 'dir' || body.destinationType !== 'docker')) {
      throw new InvalidArgumentError('referrers can be synced from registries to registries only');
    }
    if (sourceAuth) secrets.sourceAuth = toRegistryAuth(sourceAuth, 'sourceAuth');
    if (destinationAuth) secrets.destinationAuth = toRegistryAuth(destinationAuth, 'destinationAuth');
    return { request, secrets: Object.keys(secrets).length > 0 ? secrets : undefined };
  }

  /** A `dir:` tree's pattern target, its path resolved under the storage root. */
  private async dirTree(path: string) {
    const target = await referenceTarget({ transport: 'dir', path }, this.config.storageRoot);
    return treeTarget('dir', target.location);
  }

  /** Checks every repository and image the document names against the source patterns. */
  private checkSelectors(registries: SyncYamlRegistry[], principal: Principal): void {
    const repository = (r: DockerReference) => requireReferenceAccess(principal, 'source', dockerRepositoryTarget(r));
    for (const registry of registries) {
      for (const entry of registry.images) {
        if (entry.references.length === 0) repository(entry.repository);
        for (const r of entry.references) {
          const named = isDigest(r) ? withDigest(entry.repository, r) : withTag(entry.repository, r);
          requireReferenceAccess(principal, 'source', patternTarget({ transport: 'docker', named }));
        }
      }
      for (const entry of registry.imagesByTagRegex) repository(entry.repository);
      for (const entry of registry.imagesBySemver) repository(entry.repository);
    }
  }

  /**
   * Runs a sync as the coordinator of its images: plans them once (a run that took over
   * continues the plan it finds), hands them to the fleet as rows every replica's worker claims
   * (runImage), follows their ends, stops at the first failure unless keepGoing (images in
   * flight finish, the rest are dropped), and sums up. Images stay on this replica when they
   * involve its local storage root, a YAML cert-dir, or credentials only it holds.
   */
  async run(request: SyncRequest, ctx: OperationRunContext): Promise<SyncResult> {
    const images = ctx.images;
    const built = await this.buildRun(request, { secrets: ctx.secrets, owner: ctx.owner, signal: ctx.signal, progress: (p) => ctx.progress(p) });
    try {
      if (!images) return await built.run.execute();
      const pinned = this.mustPin(request, built.registries, images);
      ctx.progress({ phase: 'listing' });
      if ((await images.planned()) === 0) {
        const entries = await built.run.planEntries();
        const rows = entries.map((e, index) => ({
          index,
          source: e.source,
          destination: e.destination,
          accessKey: e.accessKey,
          state: e.error === undefined ? ('pending' as const) : ('failed' as const),
          ...(e.error === undefined ? {} : { error: operationErrorOf(e.error) }),
        }));
        const firstFailure = entries.find((e) => e.error !== undefined);
        if (firstFailure && !request.keepGoing) {
          await images.add(rows.filter((r) => r.state === 'failed'), { pinned: false });
          throw new SyncStoppedError(firstFailure.error, `listing ${firstFailure.source}`, await this.summary(images));
        }
        await images.add(rows, { pinned });
      } else if (pinned) {
        await images.repin();
      }
      let stopped: SyncImageRow | undefined;
      for (;;) {
        if (ctx.signal.aborted) break;
        const c = await images.counts();
        const total = c.pending + c.running + c.copied + c.skipped + c.failed + c.planned;
        ctx.progress({
          phase: request.dryRun ? 'planning' : 'copying',
          imagesTotal: total,
          imagesDone: total - c.pending - c.running,
          // a dry run transfers nothing: what it would transfer is its total
          bytesDone: request.dryRun ? 0 : c.bytes,
          bytesTotal: c.bytesTotal,
          bytesSkipped: c.bytesSkipped,
          blobsTotal: c.blobsTotal,
          blobsDone: c.blobsDone,
          blobsSkipped: c.blobsSkipped,
          blobsMounted: c.blobsMounted,
        });
        if (c.failed > 0 && !request.keepGoing && !stopped) {
          await images.dropPending();
          stopped = (await images.list({ state: 'failed', limit: 1 }))[0];
          continue;
        }
        if (c.pending + c.running === 0) break;
        await images.changed(IMAGE_POLL_MS);
      }
      if (ctx.signal.aborted) {
        // Images not started stay planned: a sync handed back (shutdown, lease lost) continues
        // them when it runs again; a cancelled one has them dropped by the worker.
        const reason: unknown = ctx.signal.reason;
        throw reason instanceof DomainError ? reason : new AbortedError('the sync was cancelled');
      }
      const result = await this.summary(images);
      if (stopped) {
        const what = `${request.dryRun ? 'planning' : 'syncing'} ${stopped.source} to ${stopped.destination}`;
        throw new SyncStoppedError(stopped.error ? domainErrorOf(stopped.error) : new AbortedError('the image failed'), what, result);
      }
      ctx.progress({ phase: 'done' });
      return result;
    } finally {
      await built.close();
    }
  }

  /** The sync's result: counts, bytes and the first images in plan order (all of them at /v1/operations/{id}/images). */
  private async summary(images: SyncImageTasks): Promise<SyncResult> {
    const c = await images.counts();
    const listed = await images.list({ limit: RESULT_IMAGES });
    const total = c.copied + c.skipped + c.failed + c.planned;
    const result: SyncResult = {
      images: listed
        .filter((r) => r.state !== 'pending' && r.state !== 'running')
        .map((r) => ({ source: r.source, destination: r.destination, state: r.state as SyncImageResult['state'], ...(r.digest ? { digest: r.digest } : {}), ...(r.bytes !== undefined ? { bytes: r.bytes } : {}), ...(r.error ? { error: r.error } : {}), ...(r.sourceDigest ? { sourceDigest: r.sourceDigest } : {}), ...(r.referrers !== undefined ? { referrers: r.referrers } : {}) })),
      counts: { copied: c.copied, skipped: c.skipped, failed: c.failed, planned: c.planned },
      bytes: c.bytes,
    };
    if (total > result.images.length) result.imagesOmitted = total - result.images.length;
    return result;
  }

  /** Images must stay on this replica: local paths, a YAML cert-dir, credentials only it holds. */
  private mustPin(request: SyncRequest, registries: SyncYamlRegistry[] | undefined, images: SyncImageTasks): boolean {
    return request.sourceType === 'dir' || request.destinationType === 'dir' || images.secretsPinned || (registries ?? []).some((r) => r.certDir !== undefined);
  }

  /**
   * Copies one image claimed by this replica's worker, with a SyncRun kept per sync while its
   * images run here (so blobs written to one repository are mounted into the next).
   */
  readonly runImage: SyncImageRunner = async ({ image, request, owner, secrets, signal }) => {
    let pending = this.imageRuns.get(image.operationId);
    if (!pending) {
      const never = new AbortController();
      const created = this.buildRun(request, { secrets, owner, signal: never.signal, progress: () => undefined }).then((built) => ({ ...built, refs: 0 }) as ImageRun);
      pending = created;
      this.imageRuns.set(image.operationId, created);
      created.catch(() => {
        if (this.imageRuns.get(image.operationId) === created) this.imageRuns.delete(image.operationId);
      });
    }
    const entry = await pending;
    const mine = pending;
    clearTimeout(entry.idle);
    entry.refs++;
    try {
      const { result } = await entry.run.runOne({ source: image.source, destination: image.destination, accessKey: image.accessKey }, image.index, signal);
      return {
        state: result.state,
        destination: result.destination,
        counters: entry.run.countersOf(image.index, result),
        ...(result.digest ? { digest: result.digest } : {}),
        ...(result.bytes !== undefined ? { bytes: result.bytes } : {}),
        ...(result.error ? { error: result.error } : {}),
        ...(result.sourceDigest ? { sourceDigest: result.sourceDigest } : {}),
        ...(result.referrers !== undefined ? { referrers: result.referrers } : {}),
      };
    } finally {
      const e = entry;
      if (--e.refs === 0) {
        e.idle = setTimeout(() => {
          if (e.refs > 0 || this.imageRuns.get(image.operationId) !== mine) return;
          this.imageRuns.delete(image.operationId);
          void e.close();
        }, IMAGE_RUN_IDLE_MS);
        e.idle.unref();
      }
    }
  };

  private readonly imageRuns = new Map<string, Promise<ImageRun>>();

  /** A SyncRun for this request and its credentials; `close` releases the cert-dir clients it opened. */
  private async buildRun(request: SyncRequest, opts: BuildRunOptions): Promise<{ run: SyncRun; registries?: SyncYamlRegistry[]; close: () => Promise<void> }> {
    const { signal, progress } = opts;
    const secrets = opts.secrets ?? {};
    // Stored credentials apply as for the principal that submitted the sync.
    const principal = this.credentials.actingAs(opts.owner);
    const registries = request.sourceType === 'yaml' ? await parseSyncYaml(request.yaml ?? '', this.certDirRefusal) : undefined;
    for (const r of registries ?? []) {
      const kept = secrets.yamlCredentials?.[r.key];
      if (kept) r.credentials = kept;
    }
    const sourceResolver = this.credentials.resolver(principal, secrets.sourceAuth);
    const docker = this.transports.get('docker', 'sync from');
    const opened: { close(): Promise<void> }[] = [];
    const yamlSource = async (registry: SyncYamlRegistry): Promise<SourceAccess> => {
      const auth = registry.credentials ? this.yamlAuth(registry.key, registry.credentials) : undefined;
      const credentials: CredentialResolver = auth ? async () => auth : sourceResolver;
      const tlsVerify = registry.tlsVerify ?? request.sourceTlsVerify;
      if (!registry.certDir) return { transport: docker, ctx: { credentials, tlsVerify } };
      const own = await this.certDirTransport(registry);
      opened.push(own);
      return { transport: own.transport, ctx: { credentials, tlsVerify } };
    };
    const run = new SyncRun(
      {
        sourceType: request.sourceType,
        source: request.source,
        yaml: registries,
        naming: { destinationType: request.destinationType, destination: request.destination, scoped: request.scoped, appendSuffix: request.appendSuffix },
        all: request.all,
        dryRun: request.dryRun,
        keepGoing: request.keepGoing,
        preserveDigests: request.preserveDigests,
        format: request.format,
        retryTimes: request.retryTimes,
        sourceTlsVerify: request.sourceTlsVerify,
        destinationTlsVerify: request.destinationTlsVerify,
        platforms: platformChoices(request.platforms),
        multiArch: request.multiArch,
        referrers: request.referrers === 'all',
      },
      {
        engine: this.engine,
        transports: this.transports,
        storageRoot: this.config.storageRoot,
        concurrency: this.config.sync.concurrency,
        defaultSource: { transport: docker, ctx: { credentials: sourceResolver, tlsVerify: request.sourceTlsVerify } },
        yamlSource,
        destinationCredentials: this.credentials.resolver(principal, secrets.destinationAuth),
        signal,
        progress,
        problem: (e) => operationErrorOf(e),
        referrersStep: ({ source, destination, access, destinationContext }) =>
          this.referrers.step({ source, destination, sourceContext: access.ctx, destinationContext, sourceTransport: access.transport, artifactTypes: request.artifactTypes, retryTimes: request.retryTimes }),
        ...(request.rateLimitFloor !== undefined
          ? { rateLimitFloor: new RateLimitFloor(this.rateLimitGauge, request.rateLimitFloor, { onWait: () => progress({ phase: 'waiting-for-rate-limit' }) }) }
          : {}),
      },
    );
    return { run, registries, close: async () => void (await Promise.all(opened.map((h) => h.close().catch(() => undefined)))) };
  }

  /**
   * The registry transport of its own for a YAML registry with a `cert-dir` (Docker's layout:
   * `*.crt` CAs, `*.cert` + `*.key` client certificate), replacing the server's CA and client
   * certificate settings for that host as skopeo's cert-dir replaces certs.d.
   */
  private async certDirTransport(registry: SyncYamlRegistry): Promise<{ transport: DockerTransport; close(): Promise<void> }> {
    const dir = registry.certDir!;
    const refusal = this.certDirRefusal(dir);
    if (refusal) throw new InvalidArgumentError(`yaml: "${registry.key}".cert-dir: ${refusal}`);
    const host = parseDockerReference(`${registry.key}/skiff-probe`).domain;
    const names = (await readdir(dir)).sort();
    const cas = names.filter((n) => n.endsWith('.crt'));
    const certs = names.filter((n) => n.endsWith('.cert'));
    for (const k of names.filter((n) => n.endsWith('.key'))) {
      if (!certs.includes(k.replace(/\.key$/, '.cert'))) throw new InvalidArgumentError(`yaml: "${registry.key}".cert-dir: missing client certificate ${k.replace(/\.key$/, '.cert')} for key ${k}`);
    }
    for (const c of certs) {
      if (!names.includes(c.replace(/\.cert$/, '.key'))) throw new InvalidArgumentError(`yaml: "${registry.key}".cert-dir: missing key ${c.replace(/\.cert$/, '.key')} for client certificate ${c}`);
    }
    let caFile: string | undefined;
    if (cas.length === 1) caFile = join(dir, cas[0]!);
    if (cas.length > 1) {
      const bundle = Buffer.concat(await Promise.all(cas.map(async (c) => Buffer.concat([await readFile(join(dir, c)), Buffer.from('\n')]))));
      const tmp = join(this.config.dataDir, 'tmp');
      await mkdir(tmp, { recursive: true });
      caFile = join(tmp, `sync-ca-${createHash('sha256').update(bundle).digest('hex').slice(0, 16)}.pem`);
      await writeFile(caFile, bundle);
    }
    const configured = this.config.registries.find((r) => r.location === host.toLowerCase());
    const settings: RegistrySettings = {
      location: host.toLowerCase(),
      insecure: configured?.insecure ?? false,
      caFile,
      clientCertFile: certs[0] ? join(dir, certs[0]) : undefined,
      clientKeyFile: certs[0] ? join(dir, certs[0].replace(/\.cert$/, '.key')) : undefined,
    };
    return this.docker.forRegistry(settings);
  }
}
