import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsNotEmpty, IsOptional, IsString, Matches, MaxLength, ValidateNested } from 'class-validator';
import { MEDIA_TYPE } from '../image-spec/media-types';
import { PLATFORM_SPEC } from '../image-spec/platform-list';
import { CompressionDto, MULTI_ARCH_MODES, PlatformDto, TransferOptionsDto } from '../transfers/transfer-options.dto';

/** Body of POST /v1/copies (skopeo copy). */
export class CopyRequestDto extends TransferOptionsDto {
  /** Source image, in skopeo's transport syntax. */
  @ApiProperty({ example: 'docker://registry.example/team/app:1.0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  source: string;

  /** Destination image, in skopeo's transport syntax. */
  @ApiProperty({ example: 'docker://mirror.example/team/app:1.0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  destination: string;





  /**
   * skopeo --multi-arch: `system` (one instance), `all` (every instance and the index),
   * `index-only`; and, with `platforms`, `filtered` (a new index holding only those platforms:
   * a new digest, the source's in `result.sourceDigest`) or `sparse` (those instances and the
   * source index unchanged, digest kept; a registry that checks an index's instances refuses it).
   */
  @ApiPropertyOptional({ enum: MULTI_ARCH_MODES, enumName: 'MultiArch', default: 'system' })
  @IsOptional()
  @IsIn(MULTI_ARCH_MODES)
  multiArch?: (typeof MULTI_ARCH_MODES)[number];

  /**
   * With multiArch `filtered` or `sparse`: the platforms to keep, `os/architecture[/variant]`.
   * Each chooses the instance skopeo would for `--override-os/--override-arch/--override-variant`.
   */
  @ApiPropertyOptional({ type: [String], example: ['linux/amd64', 'linux/arm64/v8'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(64)
  @Matches(PLATFORM_SPEC, { each: true, message: 'each platform must be os/architecture[/variant], e.g. linux/arm64/v8' })
  platforms?: string[];

  /**
   * `all`: bring the image's referrers along (OCI 1.1 subject, fallback tag index, cosign
   * `sha256-<hex>.sig/.att/.sbom` tags), recursively, digests unchanged; for docker:// and oci:
   * on both sides. Default `none` (as skopeo).
   */
  @ApiPropertyOptional({ enum: ['none', 'all'], enumName: 'ReferrersMode', default: 'none' })
  @IsOptional()
  @IsIn(['none', 'all'])
  referrers?: 'none' | 'all';

  /** With referrers `all`: only referrers of these artifact types (at every depth). */
  @ApiPropertyOptional({ type: [String], example: ['application/spdx+json', 'application/vnd.dev.cosign.simplesigning.v1+json'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @Matches(MEDIA_TYPE, { each: true, message: 'each artifact type must be a media type (type/subtype)' })
  artifactTypes?: string[];

  /** With multiArch=system: the instance to copy instead of the server's platform. */
  @ApiPropertyOptional({ type: PlatformDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => PlatformDto)
  platform?: PlatformDto;



  @ApiPropertyOptional({ type: CompressionDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CompressionDto)
  compression?: CompressionDto;


  /**
   * More tags for the image: in a docker-archive destination `name:tag` references (skopeo
   * --additional-tag); in a registry destination tags of the same repository (`1.2`, `1`,
   * `latest`), written after the destination's own tag, manifests last.
   */
  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  additionalTags?: string[];

}
