import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
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
import { PLATFORM_WORD } from '../image-spec/manifest';
import { TransferOptionsDto } from './transfer-options.dto';


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





  /** skopeo --multi-arch: `system` (one instance), `all` (every instance and the index), `index-only`. */
  @ApiPropertyOptional({ enum: ['system', 'all', 'index-only'], enumName: 'MultiArch', default: 'system' })
  @IsOptional()
  @IsIn(['system', 'all', 'index-only'])
  multiArch?: 'system' | 'all' | 'index-only';

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


  /** Extra tags in a docker-archive destination (skopeo --additional-tag). */
  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  additionalTags?: string[];

}
