import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type Principal, requireScope } from '../auth/principal';
import { referenceTarget, requireReferenceAccess } from '../auth/reference-access';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CopyEngine } from '../copy-engine/copy-engine';
import { CredentialService } from '../credentials/credential.service';
import { toRegistryAuth } from '../http/registry-auth-header';
import { InvalidArgumentError, TransportNotImplementedError } from '../errors/domain-error';
import { type ImageReference, parseImageReference } from '../image-spec/image-reference';
import type { OperationRunContext, OperationRunner } from '../operations/operation';
import { OperationsService } from '../operations/operations.service';
import { resolveInStorageRoot } from '../storage/storage-root';
import { TransportRegistry } from '../transports/transport-registry';
import { ReferrersService } from '../referrers/referrers.service';
import type { CopyRequest, CopyResult } from '../transfers/copy-request';
import type { TransferSecrets } from '../transfers/transfer-secrets';
import { canonicalSet, checkTransferExtensions, platformChoices } from '../transfers/transfer-extensions';
import type { CopyRequestDto } from './copies.dto';

/**
 * The stored form of a copy request: defaults applied (so a default spelled out or left out is
 * the same request, with the same idempotency fingerprint), without credentials or labels.
 */
export function normaliseCopyRequest(body: CopyRequestDto): CopyRequest {
  const request: CopyRequest = {
    source: body.source,
    destination: body.destination,
    sourceTlsVerify: body.sourceTlsVerify ?? true,
    destinationTlsVerify: body.destinationTlsVerify ?? true,
    multiArch: body.multiArch ?? 'system',
    preserveDigests: body.preserveDigests ?? false,
    removeSignatures: body.removeSignatures ?? false,
    retryTimes: body.retryTimes ?? 3,
    referrers: body.referrers ?? 'none',
  };
  if (body.platform && Object.values(body.platform).some((v) => v !== undefined)) request.platform = JSON.parse(JSON.stringify(body.platform)) as CopyRequest['platform'];
  if (body.format !== undefined) request.format = body.format;
  if (body.compression !== undefined) request.compression = JSON.parse(JSON.stringify(body.compression)) as CopyRequest['compression'];
  if (body.additionalTags?.length) request.additionalTags = [...body.additionalTags];
  if (body.platforms?.length) request.platforms = canonicalSet(body.platforms);
  if (body.artifactTypes?.length) request.artifactTypes = canonicalSet(body.artifactTypes);
  return request;
}

/**
 * skopeo copy as an operation: validates a request at submit time (bad references and
 * unsupported transports are refused before anything is queued), then runs it through the copy
 * engine when the worker picks it up.
 */
@Injectable()
export class CopiesService implements OperationRunner<'copy'>, OnModuleInit {
  readonly kind = 'copy' as const;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transports: TransportRegistry,
    private readonly credentials: CredentialService,
    private readonly operations: OperationsService,
    /** The process-wide engine (CopyEngineModule): its host limits and blob dedupe are shared with syncs. */
    private readonly engine: CopyEngine,
    private readonly referrers: ReferrersService,
  ) {}

  onModuleInit(): void {
    this.operations.registerRunner(this);
  }

  private async parse(image: string, side: 'source' | 'destination'): Promise<ImageReference> {
    const ref = parseImageReference(image);
    if ('path' in ref) await resolveInStorageRoot(this.config.storageRoot, ref.path);
    const transport = this.transports.get(ref.transport, side === 'source' ? 'copy from' : 'copy to');
    if (side === 'destination' && !transport.openDestination) throw new TransportNotImplementedError(ref.transport, 'copy to');
    return ref;
  }

  /**
   * Checks a request before it is queued; returns what is stored and the secrets kept aside.
   * The principal needs `images:write`, the source inside its source patterns, the destination
   * (and each additional tag) inside its destination patterns, and enabled transports it may use.
   */
  async prepare(body: CopyRequestDto, principal: Principal): Promise<{ request: CopyRequest; secrets?: TransferSecrets }> {
    requireScope(principal, 'images:write', 'copying images');
    const src = parseImageReference(body.source);
    const dstRef = parseImageReference(body.destination);
    this.transports.authorize(src.transport, principal, 'copying from');
    this.transports.authorize(dstRef.transport, principal, 'copying to');
    await this.parse(body.source, 'source');
    const dst = await this.parse(body.destination, 'destination');
    requireReferenceAccess(principal, 'source', await referenceTarget(src, this.config.storageRoot));
    requireReferenceAccess(principal, 'destination', await referenceTarget(dst, this.config.storageRoot));
    if (body.additionalTags?.length) {
      const transport = this.transports.get(dst.transport, 'copy to');
      if (!transport.additionalTagReferences) throw new InvalidArgumentError('additionalTags applies to docker-archive and registry (docker://) destinations only');
      for (const extra of transport.additionalTagReferences(dst, body.additionalTags)) {
        requireReferenceAccess(principal, 'destination', await referenceTarget(extra, this.config.storageRoot));
      }
    }
    checkTransferExtensions(body);
    if (body.referrers === 'all') this.referrers.assertSupported(src, dst);
    if (body.compression?.format === 'gzip' && body.compression.level !== undefined && body.compression.level > 9) {
      throw new InvalidArgumentError('compression.level for gzip must be between 1 and 9');
    }
    if (body.compression?.format === 'zstd' && body.format === 'v2s2') {
      throw new InvalidArgumentError('zstd-compressed layers cannot be stored in a Docker v2s2 manifest: use format "oci"');
    }
    if (body.platform && (body.multiArch ?? 'system') !== 'system') {
      throw new InvalidArgumentError('platform applies to multiArch=system only');
    }
    const secrets: TransferSecrets = {};
    if (body.sourceAuth) secrets.sourceAuth = toRegistryAuth(body.sourceAuth, 'sourceAuth');
    if (body.destinationAuth) secrets.destinationAuth = toRegistryAuth(body.destinationAuth, 'destinationAuth');
    return { request: normaliseCopyRequest(body), secrets: Object.keys(secrets).length ? secrets : undefined };
  }

  async run(request: CopyRequest, ctx: OperationRunContext): Promise<CopyResult> {
    // Stored credentials apply as for the principal that submitted the copy.
    const principal = this.credentials.actingAs(ctx.owner);
    const srcRef = await this.parse(request.source, 'source');
    const dstRef = await this.parse(request.destination, 'destination');
    const sourceAuth = ctx.secrets?.sourceAuth;
    const destinationAuth = ctx.secrets?.destinationAuth;
    const sourceContext = { credentials: this.credentials.resolver(principal, sourceAuth), tlsVerify: request.sourceTlsVerify, signal: ctx.signal };
    const destinationContext = { credentials: this.credentials.resolver(principal, destinationAuth), tlsVerify: request.destinationTlsVerify, signal: ctx.signal };
    const source = await this.transports.get(srcRef.transport, 'copy from').openSource(srcRef, sourceContext);
    try {
      const destination = await this.transports.get(dstRef.transport, 'copy to').openDestination!(dstRef, destinationContext, { additionalTags: request.additionalTags });
      try {
        const referrers =
          request.referrers === 'all'
            ? await this.referrers.step({ source: srcRef, destination: dstRef, sourceContext, destinationContext, artifactTypes: request.artifactTypes, retryTimes: request.retryTimes })
            : undefined;
        const result = await this.engine.copy(
          source,
          destination,
          {
            multiArch: request.multiArch,
            platform: request.platform,
            preserveDigests: request.preserveDigests,
            format: request.format,
            compression: request.compression,
            retryTimes: request.retryTimes,
            platforms: platformChoices(request.platforms),
            referrers,
          },
          { signal: ctx.signal, onProgress: (p) => ctx.progress(p) },
        );
        await destination.close();
        return result;
      } catch (e) {
        // Cleaning up after a failure must not replace the failure the caller needs to see.
        await destination.close().catch(() => undefined);
        throw e;
      }
    } finally {
      await source.close().catch(() => undefined);
    }
  }
}
