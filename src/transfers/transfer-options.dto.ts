import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { PLATFORM_WORD } from '../image-spec/manifest';

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

/** Every multiArch mode of a copy (skopeo's three, and the two platform subsets). */
export const MULTI_ARCH_MODES = ['system', 'all', 'index-only', 'filtered', 'sparse'] as const;

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
  @ApiProperty({ enum: ['gzip', 'zstd'], enumName: 'CompressionFormat' })
  @IsIn(['gzip', 'zstd'])
  format: 'gzip' | 'zstd';

  /** gzip 1–9, zstd 1–22; the library default when omitted. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 22 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(22)
  level?: number;
}

/** What copies and syncs share: credentials and TLS for each side, and how manifests and blobs may change. */
export abstract class TransferOptionsDto {
  /** Credentials for the source registry (write-only, kept in memory only); in a sync a YAML registry's `credentials` win. */
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

  /** `false` = skopeo --src-tls-verify=false. In a sync, a YAML registry's `tls-verify` wins for it. */
  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  sourceTlsVerify?: boolean;

  /** `false` = skopeo --dest-tls-verify=false. */
  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  destinationTlsVerify?: boolean;

  /** Fail instead of changing any manifest (skopeo --preserve-digests). */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  preserveDigests?: boolean;

  /** Force the manifest type (skopeo --format): `oci` or `v2s2`. */
  @ApiPropertyOptional({ enum: ['oci', 'v2s2'], enumName: 'ManifestFormat' })
  @IsOptional()
  @IsIn(['oci', 'v2s2'])
  format?: 'oci' | 'v2s2';

  /** Do not copy signatures (skiff never copies signatures yet; accepted for skopeo parity). */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  removeSignatures?: boolean;

  /** Extra attempts for a blob transfer that fails for a retryable reason (default 3). */
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 10, default: 3 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(10)
  retryTimes?: number;

  /**
   * Labels of the operation: a string map, filterable with `label=key=value` on GET
   * /v1/operations. Keys 1–63 letters, digits, `.`, `_`, `-`, `/`; values at most 128
   * characters of letters, digits and `._-:/@+,=`; at most 32 labels.
   */
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, example: { team: 'platform', ticket: 'OPS-42' } })
  @IsOptional()
  @IsObject()
  labels?: Record<string, string>;
}
