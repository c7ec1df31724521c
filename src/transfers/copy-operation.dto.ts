import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CompressionDto, MULTI_ARCH_MODES, PlatformDto } from './transfer-options.dto';

/** The request of a copy, as stored and echoed: defaults applied, credentials never included. */
export class CopyRequestEchoDto {
  @ApiProperty({ example: 'docker://registry.example/team/app:1.0' })
  source: string;

  @ApiProperty({ example: 'docker://mirror.example/team/app:1.0' })
  destination: string;

  @ApiProperty({ example: true })
  sourceTlsVerify: boolean;

  @ApiProperty({ example: true })
  destinationTlsVerify: boolean;

  @ApiProperty({ enum: MULTI_ARCH_MODES, enumName: 'MultiArch', example: 'system' })
  multiArch: (typeof MULTI_ARCH_MODES)[number];

  /** multiArch `filtered`/`sparse`: the platforms kept (`os/arch[/variant]`). */
  @ApiPropertyOptional({ type: [String], example: ['linux/amd64', 'linux/arm64/v8'] })
  platforms?: string[];

  @ApiPropertyOptional({ type: PlatformDto })
  platform?: PlatformDto;

  @ApiProperty({ example: false })
  preserveDigests: boolean;

  @ApiPropertyOptional({ enum: ['oci', 'v2s2'], enumName: 'ManifestFormat' })
  format?: 'oci' | 'v2s2';

  @ApiPropertyOptional({ type: CompressionDto })
  compression?: CompressionDto;

  @ApiProperty({ example: false })
  removeSignatures: boolean;

  @ApiPropertyOptional({ type: [String] })
  additionalTags?: string[];

  @ApiProperty({ type: 'integer', example: 3 })
  retryTimes: number;

  @ApiProperty({ enum: ['none', 'all'], enumName: 'ReferrersMode', example: 'none' })
  referrers: 'none' | 'all';

  @ApiPropertyOptional({ type: [String], example: ['application/spdx+json'] })
  artifactTypes?: string[];
}

/** One manifest a copy wrote. */
export class WrittenManifestDto {
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ example: 'application/vnd.oci.image.manifest.v1+json' })
  mediaType: string;

  @ApiProperty({ type: 'integer', example: 502 })
  size: number;

  @ApiPropertyOptional({ type: PlatformDto })
  platform?: PlatformDto;
}

/** A referrer (signature, SBOM, attestation) a copy brought along. */
export class CopiedReferrerDto {
  @ApiProperty({ example: 'sha256:2badff32c0ffee2badff32c0ffee2badff32c0ffee2badff32c0ffee2badff3' })
  digest: string;

  @ApiProperty({ example: 'application/vnd.oci.image.manifest.v1+json' })
  mediaType: string;

  @ApiPropertyOptional({ example: 'application/spdx+json' })
  artifactType?: string;

  /** The manifest it refers to. */
  @ApiProperty({ example: 'sha256:eb54fc01d6c61272c5a442976f798b1bdf19f9e86f2895cb5c51aecc309df0bb' })
  subject: string;

  /** For a cosign-style digest tag (`sha256-<hex>.sig`): the tag written. */
  @ApiPropertyOptional({ example: 'sha256-eb54fc01d6c61272c5a442976f798b1bdf19f9e86f2895cb5c51aecc309df0bb.sig' })
  tag?: string;

  /** `copied`, or `present` when the destination already had it. */
  @ApiProperty({ enum: ['copied', 'present'], enumName: 'CopiedReferrerState' })
  state: 'copied' | 'present';
}

/** How the destination records the referrers of one subject. */
export class RecordedReferrersDto {
  @ApiProperty({ example: 'sha256:eb54fc01d6c61272c5a442976f798b1bdf19f9e86f2895cb5c51aecc309df0bb' })
  subject: string;

  /** `referrers-api` (the registry indexes subjects itself), `tag-schema` (the fallback tag index), `layout` (index.json entries of an OCI layout). */
  @ApiProperty({ enum: ['referrers-api', 'tag-schema', 'layout'], enumName: 'ReferrersIndex' })
  by: 'referrers-api' | 'tag-schema' | 'layout';
}

/** A source manifest whose referrers could not follow. */
export class NotCopiedReferrersDto {
  @ApiProperty({ example: 'sha256:eb54fc01d6c61272c5a442976f798b1bdf19f9e86f2895cb5c51aecc309df0bb' })
  subject: string;

  @ApiProperty({ example: 'multiArch=filtered writes a new index: referrers of the source index do not refer to it' })
  reason: string;
}

/** The referrers a copy brought along. */
export class ReferrersReportDto {
  @ApiProperty({ type: [CopiedReferrerDto] })
  copied: CopiedReferrerDto[];

  @ApiProperty({ type: [RecordedReferrersDto] })
  recorded: RecordedReferrersDto[];

  @ApiProperty({ type: [NotCopiedReferrersDto] })
  notCopied: NotCopiedReferrersDto[];
}

/** What a finished copy produced. */
export class CopyResultDto {
  /** Digest of the manifest written under the destination reference. */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ example: 'application/vnd.oci.image.index.v1+json' })
  mediaType: string;

  /** The instances written (multiArch=all, filtered, sparse), in index order. */
  @ApiProperty({ type: [WrittenManifestDto] })
  manifests: WrittenManifestDto[];

  /** multiArch=filtered: the digest of the source index; `digest` is the new index holding only the chosen platforms. */
  @ApiPropertyOptional({ example: 'sha256:eb54fc01d6c61272c5a442976f798b1bdf19f9e86f2895cb5c51aecc309df0bb' })
  sourceDigest?: string;

  /** referrers=all: what came along. */
  @ApiPropertyOptional({ type: ReferrersReportDto })
  referrers?: ReferrersReportDto;
}
