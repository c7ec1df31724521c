import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

/** Registry credentials for one side of a job. Write-only: never echoed, logged or stored. */
export class RegistryAuthDto {
  @ApiPropertyOptional({ writeOnly: true })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  username?: string;

  @ApiPropertyOptional({ writeOnly: true })
  @IsOptional()
  @IsString()
  @MaxLength(65536)
  password?: string;

  /** OAuth2 refresh token (identity token). */
  @ApiPropertyOptional({ writeOnly: true })
  @IsOptional()
  @IsString()
  @MaxLength(65536)
  identitytoken?: string;

  /** A bearer token for the registry itself. */
  @ApiPropertyOptional({ writeOnly: true })
  @IsOptional()
  @IsString()
  @MaxLength(65536)
  registrytoken?: string;
}

const PLATFORM_WORD = /^[a-z0-9._-]{1,64}$/;

/** The instance to pick from a multi-arch source (skopeo --override-os/arch/variant). */
export class PlatformDto {
  @ApiPropertyOptional({ example: 'linux' })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  os?: string;

  @ApiPropertyOptional({ example: 'arm64' })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  architecture?: string;

  @ApiPropertyOptional({ example: 'v8' })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  variant?: string;
}

/** Layer recompression (skopeo --dest-compress-format / --dest-compress-level). */
export class CompressionDto {
  @ApiProperty({ enum: ['gzip', 'zstd'] })
  @IsIn(['gzip', 'zstd'])
  format: 'gzip' | 'zstd';

  /** gzip 1–9, zstd 1–22; the library default when omitted. */
  @ApiPropertyOptional({ minimum: 1, maximum: 22 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(22)
  level?: number;
}

/** Body of POST /v1/copies (skopeo copy). */
export class CopyRequestDto {
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

  /** Credentials for the source registry (write-only, kept in memory only). */
  @ApiPropertyOptional({ type: RegistryAuthDto, writeOnly: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => RegistryAuthDto)
  sourceAuth?: RegistryAuthDto;

  /** Credentials for the destination registry (write-only, kept in memory only). */
  @ApiPropertyOptional({ type: RegistryAuthDto, writeOnly: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => RegistryAuthDto)
  destinationAuth?: RegistryAuthDto;

  /** `false` = skopeo --src-tls-verify=false. */
  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  sourceTlsVerify?: boolean;

  /** `false` = skopeo --dest-tls-verify=false. */
  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  destinationTlsVerify?: boolean;

  /** skopeo --multi-arch: `system` (one instance), `all` (every instance and the index), `index-only`. */
  @ApiPropertyOptional({ enum: ['system', 'all', 'index-only'], default: 'system' })
  @IsOptional()
  @IsIn(['system', 'all', 'index-only'])
  multiArch?: 'system' | 'all' | 'index-only';

  /** With multiArch=system: the instance to copy instead of the server's platform. */
  @ApiPropertyOptional({ type: PlatformDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => PlatformDto)
  platform?: PlatformDto;

  /** Fail instead of changing any manifest (skopeo --preserve-digests). */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  preserveDigests?: boolean;

  /** Force the manifest type (skopeo --format): `oci` or `v2s2`. */
  @ApiPropertyOptional({ enum: ['oci', 'v2s2'] })
  @IsOptional()
  @IsIn(['oci', 'v2s2'])
  format?: 'oci' | 'v2s2';

  @ApiPropertyOptional({ type: CompressionDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CompressionDto)
  compression?: CompressionDto;

  /** Do not copy signatures (skiff never copies signatures yet; accepted for skopeo parity). */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  removeSignatures?: boolean;

  /** Extra tags in a docker-archive destination (skopeo --additional-tag). */
  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  additionalTags?: string[];

  /** Extra attempts for a blob transfer that fails for a retryable reason (default 3). */
  @ApiPropertyOptional({ minimum: 0, maximum: 10, default: 3 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(10)
  retryTimes?: number;
}
