import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, type RegistrySettings } from '../config/app-config';
import { CopyEngine } from '../copy-engine/copy-engine';
import { CredentialService } from '../credentials/credential.service';
import { toRegistryAuth } from '../credentials/registry-auth-header';
import { InvalidArgumentError, TransportNotImplementedError } from '../errors/domain-error';
import { parseDockerReference } from '../image-spec/docker-reference';
import { parseImageReference } from '../image-spec/image-reference';
import { MetricsService } from '../metrics/metrics.service';
import { operationErrorOf, type OperationRunContext, type OperationRunner } from '../operations/operation';
import { OperationsService } from '../operations/operations.service';
import { resolveInStorageRoot } from '../storage/storage-root';
import { DockerTransport } from '../transports/docker/docker.transport';
import { RegistryHttp } from '../transports/docker/registry-http';
import { TransportRegistry } from '../transports/transport-registry';
import type { CredentialResolver, RegistryAuth } from '../transports/transport';
import type { TransferSecrets } from '../copies/copy-request';
import { USER_AGENT } from '../transports/transports.module';
import { type SourceAccess, SyncRun } from './sync-run';
import { parseSyncYaml, redactSyncYaml, type SyncYamlCredentials, type SyncYamlRegistry } from './sync-yaml';
import type { SyncRequest, SyncResult } from './sync-request';
import type { SyncRequestDto } from './syncs.dto';

function stripPrefix(value: string, prefix: string): string {
  return value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
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
    private readonly metrics: MetricsService,
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
        return inside(realpathSync(root), real);
      } catch {
        return false;
      }
    });
    return ok ? undefined : 'cert-dir is not one of the directories this server allows (SKIFF_SYNC_CERT_DIRS)';
  };

  private yamlAuth(key: string, c: SyncYamlCredentials): RegistryAuth {
    return toRegistryAuth({ username: c.username, password: c.password ?? '', identitytoken: c.identitytoken }, `yaml: "${key}".credentials`);
  }

  /** Checks a request before it is queued; returns what is stored and the secrets kept aside. */
  async prepare(body: SyncRequestDto): Promise<{ request: SyncRequest; secrets?: TransferSecrets }> {
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
    };
    if (body.appendSuffix !== undefined && body.appendSuffix !== '') request.appendSuffix = body.appendSuffix;
    if (body.format !== undefined) request.format = body.format;
    const secrets: TransferSecrets = {};
    if (body.sourceType === 'dir' && body.destinationType === 'dir') {
      throw new InvalidArgumentError('sync from dir to dir is not supported (as in skopeo): copy the directory instead');
    }
    if (body.sourceType === 'yaml') {
      if (body.yaml === undefined) throw new InvalidArgumentError('sourceType yaml needs the YAML document in "yaml"');
      if (body.source !== undefined) throw new InvalidArgumentError('sourceType yaml reads its images from "yaml"; "source" must be omitted');
      const registries = parseSyncYaml(body.yaml, this.certDirRefusal);
      for (const r of registries) if (r.credentials) this.yamlAuth(r.key, r.credentials);
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
      } else {
        request.source = stripPrefix(body.source, 'dir:');
        await resolveInStorageRoot(this.config.storageRoot, request.source);
        this.transports.get('dir', 'sync from');
      }
    }
    if (body.destinationType === 'docker') {
      request.destination = stripPrefix(body.destination, 'docker://').replace(/\/+$/, '');
      parseImageReference(`docker://${request.destination}/skiff-probe:latest`);
    } else {
      request.destination = stripPrefix(body.destination, 'dir:');
      await resolveInStorageRoot(this.config.storageRoot, request.destination);
      const dir = this.transports.get('dir', 'sync to');
      if (!dir.openDestination) throw new TransportNotImplementedError('dir', 'sync to');
    }
    if (body.preserveDigests && body.format) {
      throw new InvalidArgumentError('preserveDigests cannot be combined with format: it would change the manifests');
    }
    if (sourceAuth) secrets.sourceAuth = toRegistryAuth(sourceAuth, 'sourceAuth');
    if (destinationAuth) secrets.destinationAuth = toRegistryAuth(destinationAuth, 'destinationAuth');
    return { request, secrets: Object.keys(secrets).length > 0 ? secrets : undefined };
  }

  async run(request: SyncRequest, ctx: OperationRunContext): Promise<SyncResult> {
    const secrets = ctx.secrets ?? {};
    const registries = request.sourceType === 'yaml' ? parseSyncYaml(request.yaml ?? '', this.certDirRefusal) : undefined;
    for (const r of registries ?? []) {
      const kept = secrets.yamlCredentials?.[r.key];
      if (kept) r.credentials = kept;
    }
    const sourceResolver = this.credentials.resolver(secrets.sourceAuth);
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
        destinationCredentials: this.credentials.resolver(secrets.destinationAuth),
        signal: ctx.signal,
        progress: (p) => ctx.progress(p),
        problem: (e) => operationErrorOf(e),
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
    return new RegistryHttp({ registries: [settings], ...this.config.upstream, userAgent: USER_AGENT, observer: this.metrics });
  }
}
