import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type Principal, requireScope } from '../auth/principal';
import { referenceTarget, requireReferenceAccess, requireTreeAccess } from '../auth/reference-access';
import { APP_CONFIG, type AppConfig, type RegistrySettings } from '../config/app-config';
import { CopyEngine } from '../copy-engine/copy-engine';
import { CredentialService } from '../credentials/credential.service';
import { toRegistryAuth } from '../credentials/registry-auth-header';
import { InvalidArgumentError, TransportNotImplementedError } from '../errors/domain-error';
import { type DockerReference, isNameOnly, parseDockerReference, withDigest, withTag } from '../image-spec/docker-reference';
import { isDigest } from '../image-spec/digest';
import { parseImageReference } from '../image-spec/image-reference';
import { dockerRepositoryTarget, patternTarget, treeTarget } from '../image-spec/reference-pattern';
import { problemFromError } from '../http/problem';
import type { OperationRunContext, OperationRunner } from '../operations/operation-runner';
import { OperationsService } from '../operations/operations.service';
import { isInside, resolveInStorageRoot } from '../storage/storage-root';
import { DockerTransport } from '../transports/docker/docker.transport';
import { RegistryHttp } from '../transports/docker/registry-http';
import { TransportRegistry } from '../transports/transport-registry';
import type { CredentialResolver, RegistryAuth } from '../transports/transport';
import { type SourceAccess, SyncRun } from './sync-run';
import { parseSyncYaml, redactSyncYaml, type SyncYamlCredentials, type SyncYamlRegistry } from './sync-yaml';
import type { SyncRequestDto } from './syncs.dto';

/** The stored form of a sync request: the body without its credentials (YAML passwords `[redacted]`). */
export type StoredSyncRequest = Omit<SyncRequestDto, 'sourceAuth' | 'destinationAuth'>;

/** Secrets of a sync, held in memory by the operations machinery. */
interface SyncSecrets {
  sourceAuth?: RegistryAuth;
  destinationAuth?: RegistryAuth;
  /** YAML `credentials`, by registry key, as written. */
  yamlCredentials?: Record<string, SyncYamlCredentials>;
}

function stripPrefix(value: string, prefix: string): string {
  return value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

/**
 * skopeo sync as an operation. prepare() checks a request before it is queued (types,
 * references, paths, the YAML document and its cert-dirs) and takes its secrets aside; run()
 * builds a SyncRun with the process-wide copy engine (the same HostLimiter and InFlightBlobs as
 * copies) when the worker picks the operation up.
 */
@Injectable()
export class SyncsService implements OperationRunner, OnModuleInit {
  readonly kind = 'sync' as const;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transports: TransportRegistry,
    private readonly credentials: CredentialService,
    private readonly operations: OperationsService,
    private readonly engine: CopyEngine,
    private readonly registryHttp: RegistryHttp,
  ) {}

  onModuleInit(): void {
    this.operations.registerRunner(this);
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
  async prepare(body: SyncRequestDto, principal: Principal): Promise<{ request: StoredSyncRequest; secrets?: Record<string, unknown> }> {
    requireScope(principal, 'images:write', 'syncing images');
    const { sourceAuth, destinationAuth, ...rest } = body;
    const request: StoredSyncRequest = { ...rest };
    const secrets: SyncSecrets = {};
    if (body.sourceType === 'dir' && body.destinationType === 'dir') {
      throw new InvalidArgumentError('sync from dir to dir is not supported (as in skopeo): copy the directory instead');
    }
    if (body.sourceType === 'yaml') {
      if (body.yaml === undefined) throw new InvalidArgumentError('sourceType yaml needs the YAML document in "yaml"');
      if (body.source !== undefined) throw new InvalidArgumentError('sourceType yaml reads its images from "yaml"; "source" must be omitted');
      const registries = await parseSyncYaml(body.yaml, this.certDirRefusal);
      for (const r of registries) if (r.credentials) this.yamlAuth(r.key, r.credentials);
      this.transports.authorize('docker', principal, 'syncing from');
      this.checkSelectors(registries, principal);
      const redacted = redactSyncYaml(body.yaml);
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
      const probe = parseImageReference(`docker://${request.destination}/skiff-probe:latest`);
      this.transports.authorize('docker', principal, 'syncing to');
      if (probe.transport === 'docker') {
        requireTreeAccess(principal, 'destination', treeTarget('docker', `${probe.named.domain}/${probe.named.path.replace(/\/?skiff-probe$/, '')}`.replace(/\/$/, '')));
      }
    } else {
      request.destination = stripPrefix(body.destination, 'dir:');
      await resolveInStorageRoot(this.config.storageRoot, request.destination);
      this.transports.authorize('dir', principal, 'syncing to');
      const dir = this.transports.get('dir', 'sync to');
      if (!dir.openDestination) throw new TransportNotImplementedError('dir', 'sync to');
      requireTreeAccess(principal, 'destination', await this.dirTree(request.destination));
    }
    if (body.preserveDigests && body.format) {
      throw new InvalidArgumentError('preserveDigests cannot be combined with format: it would change the manifests');
    }
    if (sourceAuth) secrets.sourceAuth = toRegistryAuth(sourceAuth, 'sourceAuth');
    if (destinationAuth) secrets.destinationAuth = toRegistryAuth(destinationAuth, 'destinationAuth');
    return {
      request: JSON.parse(JSON.stringify(request)) as StoredSyncRequest,
      secrets: Object.keys(secrets).length > 0 ? (secrets as Record<string, unknown>) : undefined,
    };
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

  async run(stored: Record<string, unknown>, ctx: OperationRunContext): Promise<Record<string, unknown>> {
    const request = stored as unknown as StoredSyncRequest;
    // Stored credentials apply as for the principal that submitted the sync.
    const principal = this.credentials.actingAs(ctx.principal);
    const secrets = (ctx.secrets ?? {}) as SyncSecrets;
    const registries = request.sourceType === 'yaml' ? await parseSyncYaml(request.yaml ?? '', this.certDirRefusal) : undefined;
    for (const r of registries ?? []) {
      const kept = secrets.yamlCredentials?.[r.key];
      if (kept) r.credentials = kept;
    }
    const sourceResolver = this.credentials.resolver(principal, secrets.sourceAuth);
    const docker = this.transports.get('docker', 'sync from');
    const opened: RegistryHttp[] = [];
    const yamlSource = async (registry: SyncYamlRegistry): Promise<SourceAccess> => {
      const auth = registry.credentials ? this.yamlAuth(registry.key, registry.credentials) : undefined;
      const credentials: CredentialResolver = auth ? async () => auth : sourceResolver;
      const tlsVerify = registry.tlsVerify ?? request.sourceTlsVerify;
      if (!registry.certDir) return { transport: docker, ctx: { credentials, tlsVerify } };
      const http = await this.certDirHttp(registry);
      opened.push(http);
      return { transport: new DockerTransport(http), ctx: { credentials, tlsVerify } };
    };
    const run = new SyncRun(
      {
        sourceType: request.sourceType,
        source: request.source,
        yaml: registries,
        naming: { destinationType: request.destinationType, destination: request.destination, scoped: request.scoped ?? false, appendSuffix: request.appendSuffix },
        all: request.all ?? false,
        dryRun: request.dryRun ?? false,
        keepGoing: request.keepGoing ?? false,
        preserveDigests: request.preserveDigests ?? false,
        format: request.format,
        retryTimes: request.retryTimes,
        sourceTlsVerify: request.sourceTlsVerify,
        destinationTlsVerify: request.destinationTlsVerify,
      },
      {
        engine: this.engine,
        transports: this.transports,
        storageRoot: this.config.storageRoot,
        concurrency: this.config.sync.concurrency,
        defaultSource: { transport: docker, ctx: { credentials: sourceResolver, tlsVerify: request.sourceTlsVerify } },
        yamlSource,
        destinationCredentials: this.credentials.resolver(principal, secrets.destinationAuth),
        signal: ctx.signal,
        progress: (p) => ctx.progress(p),
        problem: (e) => problemFromError(e, `/v1/operations/${ctx.operationId}`),
      },
    );
    try {
      return await run.execute();
    } finally {
      await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
    }
  }

  /**
   * A registry client of its own for a YAML registry with a `cert-dir` (Docker's layout:
   * `*.crt` CAs, `*.cert` + `*.key` client certificate), replacing the server's CA and client
   * certificate settings for that host as skopeo's cert-dir replaces certs.d.
   */
  private async certDirHttp(registry: SyncYamlRegistry): Promise<RegistryHttp> {
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
    return this.registryHttp.forRegistry(settings);
  }
}
