import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { QueryBoolean } from '../http/query-boolean';

/** Query of GET /v1/repositories. */
export class RepositoriesQueryDto {
  /** The registry, `host[:port]` (no scheme, no path). */
  @ApiProperty({ example: '127.0.0.1:5000' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(255)
  registry: string;

  /** Repositories per page (the registry's `n`); the registry's own page size when omitted. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  pageSize?: number;

  /** `nextPageToken` of the previous page (the registry's `last`). */
  @ApiPropertyOptional({ example: 'team/app' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  pageToken?: string;

  /** `false` skips TLS verification and allows plain HTTP. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** Answer of GET /v1/repositories: one page of the registry's catalog. */
export class RepositoryListDto {
  @ApiProperty({ example: '127.0.0.1:5000' })
  registry: string;

  /** Repository names, in the registry's (lexical) order. */
  @ApiProperty({ type: [String], example: ['team/app', 'team/base'] })
  repositories: string[];

  /** Pass as `pageToken` for the next page; absent on the last page. */
  @ApiPropertyOptional({ example: 'team/base' })
  nextPageToken?: string;
}
