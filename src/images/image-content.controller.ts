import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Readable } from 'node:stream';
import type { Principal } from '../auth/principal';
import { AbortedError } from '../errors/domain-error';
import { MANIFEST_MEDIA_TYPES } from '../image-spec/media-types';
import { ApiProblems, upstreamReadAnswers } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { entityTag, ifNoneMatchHits, notModified, OCTET_STREAM, passthroughContentType, setPassthroughHeaders } from '../http/passthrough';
import { REGISTRY_AUTH_HEADER, RegistryAuthHeader } from '../http/registry-auth.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import type { RegistryAuth } from '../transports/transport';
import { BlobParamsDto, BlobQueryDto, OciImageConfigDto } from './image-content.dto';
import { ImageQueryDto } from './images.dto';
import { ImagesService } from './images.service';

const IF_NONE_MATCH = {
  name: 'If-None-Match',
  required: false,
  description: 'An ETag of an earlier answer: 304 Not Modified (no body) when the content is still the same.',
  schema: { type: 'string', example: '"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"' },
};

/** The first chunk of `stream` (null when it ends empty), leaving the stream paused; rejects with its error, or ABORTED when it is destroyed first. */
function firstChunk(stream: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      settle();
      stream.pause();
      resolve(chunk);
    };
    const onEnd = () => {
      settle();
      resolve(null);
    };
    const onError = (e: Error) => {
      settle();
      reject(e);
    };
    // destroyed without an error (the client went away): 'error' and 'end' never come
    const onClose = () => {
      settle();
      reject(new AbortedError('the client went away before the blob was read'));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
    if (stream.destroyed) onClose();
  });
}

const DIGEST_EXAMPLE = 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae';

/** Headers of the answers that pass upstream bytes through. */
const PASSTHROUGH_RESPONSE_HEADERS = {
  'X-Content-Type-Options': { description: 'Always `nosniff`: the bytes come from the upstream and are never to be sniffed as another type', schema: { type: 'string', enum: ['nosniff'] } },
  'Content-Security-Policy': { description: "Always `default-src 'none'`: nothing in the bytes may run or load in a browser", schema: { type: 'string', example: "default-src 'none'" } },
};

/**
 * The bytes skopeo's `inspect --raw`, `--config` and `--config --raw` print, each as its own
 * operation with one success schema. Digest-addressed answers carry `ETag` and honour
 * `If-None-Match` (304).
 */
@ApiTags('images')
@Controller('v1/images')
export class ImageContentController {
  constructor(private readonly images: ImagesService) {}

  /** skopeo inspect --raw: the manifest bytes as stored. */
  @Get('manifest')
  @ApiOperation({
    operationId: 'getImageManifest',
    summary: 'Get the manifest bytes as stored (skopeo inspect --raw)',
    description:
      'The top-level manifest exactly as stored (for a multi-arch image, the index), or with os/arch/variant the instance of the index they choose. ' +
      'Content-Type is its media type when it is a known manifest type (else application/octet-stream); `Docker-Content-Digest` and `ETag` give its digest.',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiHeader(IF_NONE_MATCH)
  @ApiProduces(...MANIFEST_MEDIA_TYPES, OCTET_STREAM)
  @ApiOkResponse({
    description: 'The manifest bytes, unchanged',
    content: Object.fromEntries([...MANIFEST_MEDIA_TYPES, OCTET_STREAM].map((t) => [t, { schema: { type: 'string', format: 'binary' } }])),
    headers: {
      'Docker-Content-Digest': { description: 'The digest of the bytes (computed by skiff, never copied from the upstream)', schema: { type: 'string', example: DIGEST_EXAMPLE } },
      ETag: { description: 'The digest as a strong entity tag', schema: { type: 'string', example: `"${DIGEST_EXAMPLE}"` } },
      ...PASSTHROUGH_RESPONSE_HEADERS,
    },
  })
  @ApiResponse({
    status: 304,
    description: 'The manifest still has the digest If-None-Match named: no body',
    headers: { ETag: { description: 'The manifest digest as a strong entity tag', schema: { type: 'string', example: `"${DIGEST_EXAMPLE}"` } } },
  })
  @ApiProblems({
    action: 'reading manifests',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the manifest'),
      400: 'The image reference or a platform field is invalid, or a storage path leaves the storage root',
      404: 'No such image (`IMAGE_NOT_FOUND`), or the index has no instance for the requested os/arch/variant (`PLATFORM_NOT_FOUND`)',
    },
  })
  async getImageManifest(
    @Query() q: ImageQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @Res() res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    const manifest = await this.images.manifest({ principal, image: q.image, platform: { os: q.os, architecture: q.arch, variant: q.variant }, tlsVerify: q.tlsVerify, auth, signal });
    const etag = entityTag(manifest.digest);
    if (ifNoneMatchHits(ifNoneMatch, etag)) return notModified(res, etag);
    res.status(200);
    res.setHeader('Content-Type', passthroughContentType(manifest.mediaType));
    res.setHeader('Content-Length', manifest.bytes.length);
    res.setHeader('Docker-Content-Digest', manifest.digest);
    res.setHeader('ETag', etag);
    setPassthroughHeaders(res);
    res.end(manifest.bytes);
  }

  /** skopeo inspect --config: the image config as OCI JSON. */
  @Get('config')
  @ApiOperation({
    operationId: 'getImageConfig',
    summary: 'Get the image config as OCI JSON (skopeo inspect --config)',
    description:
      "The config of the image (for a multi-arch image, of the instance skopeo chooses, or os/arch/variant's) decoded as an OCI image config, exactly as `skopeo inspect --config` prints it: a Docker config is converted, unknown fields are dropped. " +
      'Artifacts (a config that is not an image config) are refused as inspect refuses them; GET /v1/images/blobs/{digest} answers any config\'s bytes. `ETag` is the config digest (weak: the body is derived from those bytes).',
  })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiHeader(IF_NONE_MATCH)
  @ApiOkResponse({
    type: OciImageConfigDto,
    description: 'The OCI image config',
    headers: { ETag: { description: 'The config digest as a weak entity tag', schema: { type: 'string', example: `W/"${DIGEST_EXAMPLE}"` } } },
  })
  @ApiResponse({
    status: 304,
    description: 'The config still has the digest If-None-Match named: no body',
    headers: { ETag: { description: 'The config digest as a weak entity tag', schema: { type: 'string', example: `W/"${DIGEST_EXAMPLE}"` } } },
  })
  @ApiProblems({
    action: 'reading image configs',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the image config'),
      400: 'The image reference or a platform field is invalid, a storage path leaves the storage root, or the image is an artifact or a schema1 image, which have no image config (`OPERATION_NOT_SUPPORTED`)',
      404: 'No such image (`IMAGE_NOT_FOUND`), or the index has no instance for the requested os/arch/variant (`PLATFORM_NOT_FOUND`)',
    },
  })
  async getImageConfig(
    @Query() q: ImageQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<OciImageConfigDto | undefined> {
    const { config, digest } = await this.images.imageConfig({ principal, image: q.image, platform: { os: q.os, architecture: q.arch, variant: q.variant }, tlsVerify: q.tlsVerify, auth, signal });
    const etag = entityTag(digest, { weak: true });
    if (ifNoneMatchHits(ifNoneMatch, etag)) {
      res.status(304).setHeader('ETag', etag);
      return undefined;
    }
    res.setHeader('ETag', etag);
    return config as unknown as OciImageConfigDto;
  }

  /** One blob (config bytes, a layer, an SBOM), streamed and verified. */
  @Get('blobs/:digest')
  @ApiOperation({
    operationId: 'getImageBlob',
    summary: 'Stream one blob of a repository or layout (skopeo inspect --config --raw, and any layer)',
    description:
      'The bytes of one blob — config bytes, a layer, an SBOM — from a registry repository (no tag or digest) or from the layout, directory or archive of an image reference. ' +
      'The bytes are streamed through the verifying stream every copy uses: the last chunk is held back until digest and size are checked, so content that does not match ends in a broken connection instead of a complete answer. ' +
      'Always application/octet-stream. The caller needs `images:read` for the whole repository, layout or archive.',
  })
  @ApiParam({ name: 'digest', description: 'The blob digest', example: DIGEST_EXAMPLE })
  @ApiHeader(REGISTRY_AUTH_HEADER)
  @ApiHeader(IF_NONE_MATCH)
  @ApiProduces(OCTET_STREAM)
  @ApiOkResponse({
    description: 'The blob bytes, verified against the digest while they stream',
    content: { [OCTET_STREAM]: { schema: { type: 'string', format: 'binary' } } },
    headers: {
      'Docker-Content-Digest': { description: 'The blob digest', schema: { type: 'string', example: DIGEST_EXAMPLE } },
      ETag: { description: 'The blob digest as a strong entity tag', schema: { type: 'string', example: `"${DIGEST_EXAMPLE}"` } },
      ...PASSTHROUGH_RESPONSE_HEADERS,
    },
  })
  @ApiResponse({
    status: 304,
    description: 'The blob exists and If-None-Match named its digest: no body',
    headers: { ETag: { description: 'The blob digest as a strong entity tag', schema: { type: 'string', example: `"${DIGEST_EXAMPLE}"` } } },
  })
  @ApiProblems({
    action: 'reading blobs',
    scope: 'images:read',
    answers: {
      ...upstreamReadAnswers('the blob'),
      400: 'The digest or the repository is invalid (a docker:// repository must have no tag or digest), or a storage path leaves the storage root',
      403: "the repository, layout or archive is not wholly inside the caller's source patterns, its transport is not enabled, the egress policy refused the registry's address, or the registry denied the read",
      404: 'The repository or layout holds no blob with that digest, or does not exist (`IMAGE_NOT_FOUND`)',
      422: 'The layout, directory or archive is malformed or does not hold the blob (`LAYOUT_INVALID`, `ARCHIVE_INVALID`)',
    },
  })
  async getImageBlob(
    @Param() p: BlobParamsDto,
    @Query() q: BlobQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @RegistryAuthHeader() auth: RegistryAuth | undefined,
    @RequestSignal() signal: AbortSignal,
    @Res() res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    const blob = await this.images.blob({ principal, repository: q.repository, digest: p.digest, tlsVerify: q.tlsVerify, auth, signal });
    // The stream holds the source and its archive slot until it closes: a client gone at any
    // point (even before this line: then at once) ends it, whatever the source does with the signal.
    if (res.destroyed) blob.stream.destroy();
    else res.once('close', () => blob.stream.destroy());
    const etag = entityTag(blob.digest);
    if (ifNoneMatchHits(ifNoneMatch, etag)) {
      blob.stream.destroy();
      return notModified(res, etag);
    }
    // Nothing is sent before the first verified chunk: a small blob that does not match (the
    // verifying stream holds its only chunk back) is still a 502 problem, not a broken answer.
    let first: Buffer | null;
    try {
      first = await firstChunk(blob.stream);
    } catch (e) {
      blob.stream.destroy();
      throw e;
    }
    res.status(200);
    res.setHeader('Content-Type', OCTET_STREAM);
    if (blob.size >= 0) res.setHeader('Content-Length', blob.size);
    res.setHeader('Docker-Content-Digest', blob.digest);
    res.setHeader('ETag', etag);
    setPassthroughHeaders(res);
    if (first === null) {
      res.end();
      return;
    }
    // A stream that fails later (digest mismatch, upstream gone) breaks the connection: the answer is never complete.
    blob.stream.once('error', () => res.destroy());
    res.write(first);
    blob.stream.pipe(res);
  }
}

