import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CompressionDto, PlatformDto } from './copies.dto';

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

  @ApiProperty({ enum: ['system', 'all', 'index-only'], enumName: 'MultiArch', example: 'system' })
  multiArch: 'system' | 'all' | 'index-only';

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

/** What a finished copy produced. */
export class CopyResultDto {
  /** Digest of the manifest written under the destination reference. */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ example: 'application/vnd.oci.image.index.v1+json' })
  mediaType: string;

  /** The instances written (multiArch=all), in index order. */
  @ApiProperty({ type: [WrittenManifestDto] })
  manifests: WrittenManifestDto[];
}
