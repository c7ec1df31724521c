import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { QueryBoolean } from '../http/query-boolean';
import { PLATFORM_WORD } from '../image-spec/manifest';

/** Query of GET /v1/images/descriptor. */
export class DescriptorQueryDto {
  /** Any image, index or artifact, in skopeo's transport syntax. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/charts/app:1.0.0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  image: string;

  /** `false` skips TLS verification and allows plain HTTP. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** Query of GET /v1/images/digest. */
export class DigestQueryDto extends DescriptorQueryDto {
  /** With arch (and variant): the digest of that instance of a multi-arch image (reads the index once). */
  @ApiPropertyOptional({ example: 'linux' })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  os?: string;

  @ApiPropertyOptional({ example: 'arm64' })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  arch?: string;

  @ApiPropertyOptional({ example: 'v8' })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  variant?: string;
}

/** A content descriptor. */
export class ContentDescriptorDto {
  @ApiProperty({ example: 'application/vnd.oci.image.config.v1+json' })
  mediaType: string;

  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ type: 'integer', example: 1469 })
  size: number;
}

/** One platform an image or index serves. */
export class PlatformEntryDto {
  @ApiPropertyOptional({ example: 'linux' })
  os?: string;

  @ApiPropertyOptional({ example: 'arm64' })
  architecture?: string;

  @ApiPropertyOptional({ example: 'v8' })
  variant?: string;

  /** The instance's manifest digest (the image's own for a single image). */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ type: 'integer', example: 502 })
  size: number;
}

/** Answer of GET /v1/images/descriptor: what a manifest is, for any image, index or artifact. */
export class ArtifactDescriptorDto {
  /** The manifest's media type. */
  @ApiProperty({ example: 'application/vnd.oci.image.manifest.v1+json' })
  mediaType: string;

  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  /** The manifest's size in bytes. */
  @ApiProperty({ type: 'integer', example: 745 })
  size: number;

  /** `image`, `index`, `artifact` (config not an image config, or an artifactType), or `schema1`. */
  @ApiProperty({ enum: ['image', 'index', 'artifact', 'schema1'], enumName: 'ManifestKind', example: 'artifact' })
  kind: 'image' | 'index' | 'artifact' | 'schema1';

  /** OCI 1.1 artifactType, when the manifest declares one. */
  @ApiPropertyOptional({ example: 'application/vnd.cncf.helm.chart.v1' })
  artifactType?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  annotations?: Record<string, string>;

  /** OCI 1.1 subject: the manifest this one refers to (a signature's or SBOM's image). */
  @ApiPropertyOptional({ type: ContentDescriptorDto })
  subject?: ContentDescriptorDto;

  /** An image or artifact manifest's config (any media type; never interpreted unless it is an image config). */
  @ApiPropertyOptional({ type: ContentDescriptorDto })
  config?: ContentDescriptorDto;

  /** An image or artifact manifest's layers (any media type). */
  @ApiPropertyOptional({ type: [ContentDescriptorDto] })
  layers?: ContentDescriptorDto[];

  /** An index's instances with a platform; an image's own platform (from its config); empty for an artifact. */
  @ApiProperty({ type: [PlatformEntryDto] })
  platforms: PlatformEntryDto[];
}

/** Answer of GET /v1/images/digest. */
export class ImageDigestDto {
  /** The image as given. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:1.0' })
  image: string;

  /** The manifest digest the reference resolves to (the chosen instance's with os/arch/variant). */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ example: 'application/vnd.oci.image.index.v1+json' })
  mediaType: string;

  /** With os/arch/variant on a multi-arch image: the digest of the index the instance was chosen from. */
  @ApiPropertyOptional({ example: 'sha256:3c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  indexDigest?: string;
}
