import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { ProblemDto } from '../http/problem';

export const SYNC_SOURCE_TYPES = ['docker', 'dir', 'yaml'] as const;
export const SYNC_DESTINATION_TYPES = ['docker', 'dir'] as const;
export type SyncSourceType = (typeof SYNC_SOURCE_TYPES)[number];
export type SyncDestinationType = (typeof SYNC_DESTINATION_TYPES)[number];

/** One image of a sync, in `result.images` (in the order the source listed them). */
export class SyncImageResultDto {
  /** The source image, in skopeo's transport syntax. */
  @ApiProperty({ example: 'docker://registry.example/team/app:1.0' })
  source: string;

  /** Where it goes, in skopeo's transport syntax. */
  @ApiProperty({ example: 'docker://mirror.example:5000/mirror/app:1.0' })
  destination: string;

  /** `copied`, `skipped` (the destination already had this manifest), `failed`, or `planned` (dry run). */
  @ApiProperty({ enum: ['copied', 'skipped', 'failed', 'planned'], enumName: 'SyncImageState', example: 'copied' })
  state: 'copied' | 'skipped' | 'failed' | 'planned';

  /** Digest of the manifest written (or, in a dry run, of the manifest that would be copied). */
  @ApiPropertyOptional({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest?: string;

  /** Blob bytes transferred for this image (planned: that a real run would transfer). */
  @ApiPropertyOptional({ type: 'integer', example: 1048576 })
  bytes?: number;

  /** Why it failed (a problem object). */
  @ApiPropertyOptional({ type: ProblemDto })
  error?: ProblemDto;

  /** How many referrers came along (referrers `all`). */
  @ApiPropertyOptional({ type: 'integer', example: 2 })
  referrers?: number;

  /** multiArch `filtered`: the digest of the source index the written one (`digest`) keeps some platforms of. */
  @ApiPropertyOptional({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  sourceDigest?: string;
}

/** The request of a sync, as stored and echoed: defaults applied, credentials never included (YAML passwords `[redacted]`). */
export class SyncRequestEchoDto {
  @ApiProperty({ enum: SYNC_SOURCE_TYPES, enumName: 'SyncSourceType' })
  sourceType: SyncSourceType;

  @ApiPropertyOptional({ example: 'registry.example/team/app' })
  source?: string;

  @ApiPropertyOptional()
  yaml?: string;

  @ApiProperty({ example: 'mirror.example:5000/mirror' })
  destination: string;

  @ApiProperty({ enum: SYNC_DESTINATION_TYPES, enumName: 'SyncDestinationType' })
  destinationType: SyncDestinationType;

  @ApiProperty()
  scoped: boolean;

  @ApiPropertyOptional()
  appendSuffix?: string;

  @ApiProperty()
  all: boolean;

  @ApiProperty()
  dryRun: boolean;

  @ApiProperty()
  keepGoing: boolean;

  @ApiProperty()
  preserveDigests: boolean;

  @ApiPropertyOptional({ enum: ['oci', 'v2s2'], enumName: 'ManifestFormat' })
  format?: 'oci' | 'v2s2';

  @ApiProperty()
  sourceTlsVerify: boolean;

  @ApiProperty()
  destinationTlsVerify: boolean;

  @ApiProperty()
  removeSignatures: boolean;

  @ApiProperty({ type: 'integer', example: 3 })
  retryTimes: number;
}

/** How many images ended in each state. */
export class SyncCountsDto {
  @ApiProperty({ type: 'integer' })
  copied: number;

  @ApiProperty({ type: 'integer' })
  skipped: number;

  @ApiProperty({ type: 'integer' })
  failed: number;

  @ApiProperty({ type: 'integer' })
  planned: number;
}

/** What a sync produced (also the partial result of a sync stopped by its first failure). */
export class SyncResultDto {
  /** Every image, in the order the source listed them (also paged at /v1/operations/{id}/images). */
  @ApiProperty({ type: [SyncImageResultDto] })
  images: SyncImageResultDto[];

  @ApiProperty({ type: SyncCountsDto })
  counts: SyncCountsDto;

  /** Blob bytes transferred (dry run: that a real run would transfer). */
  @ApiProperty({ type: 'integer' })
  bytes: number;

  /** Images not in `images` (it lists the first 100 in plan order): page through all of them at /v1/operations/{id}/images. */
  @ApiPropertyOptional({ type: 'integer' })
  imagesOmitted?: number;
}

export const SYNC_IMAGE_TASK_STATES = ['pending', 'running', 'copied', 'skipped', 'failed', 'planned'] as const;

/** One image of a sync, as it is now. */
export class SyncImageDto {
  /** Position in the sync's plan (the order the source listed the images). */
  @ApiProperty({ type: 'integer', example: 0 })
  index: number;

  @ApiProperty({ example: 'docker://registry.example/team/app:1.0' })
  source: string;

  @ApiProperty({ example: 'docker://mirror.example:5000/mirror/app:1.0' })
  destination: string;

  /** `pending` and `running` while the sync runs; then `copied`, `skipped`, `failed` or `planned` (dry run). */
  @ApiProperty({ enum: SYNC_IMAGE_TASK_STATES, enumName: 'SyncImageTaskState', example: 'copied' })
  state: (typeof SYNC_IMAGE_TASK_STATES)[number];

  @ApiPropertyOptional({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest?: string;

  @ApiPropertyOptional({ type: 'integer', example: 1048576 })
  bytes?: number;

  @ApiPropertyOptional({ type: ProblemDto })
  error?: ProblemDto;

  /** How many referrers came along (referrers `all`). */
  @ApiPropertyOptional({ type: 'integer', example: 2 })
  referrers?: number;

  /** multiArch `filtered`: the digest of the source index the written one (`digest`) keeps some platforms of. */
  @ApiPropertyOptional({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  sourceDigest?: string;

  /** The replica copying it, or that copied it. */
  @ApiPropertyOptional({ example: 'skiff-1' })
  replicaId?: string;
}

/** A page of a sync's images, in plan order. */
export class SyncImagePageDto {
  @ApiProperty({ type: [SyncImageDto] })
  images: SyncImageDto[];

  /** Pass as `pageToken` for the next page; absent on the last page. */
  @ApiPropertyOptional()
  nextPageToken?: string;
}

/** Query of GET /v1/operations/{id}/images. */
export class SyncImagesQueryDto {
  /** Only images in this state. */
  @ApiPropertyOptional({ enum: SYNC_IMAGE_TASK_STATES, enumName: 'SyncImageTaskState' })
  @IsOptional()
  @IsIn(SYNC_IMAGE_TASK_STATES)
  state?: (typeof SYNC_IMAGE_TASK_STATES)[number];

  /** Images per page. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  pageSize?: number;

  /** `nextPageToken` of the previous page. */
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(64)
  pageToken?: string;
}
