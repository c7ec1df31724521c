import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SYNC_DESTINATION_TYPES, SYNC_SOURCE_TYPES, SyncImageResultDto, type SyncDestinationType, type SyncSourceType } from './syncs.dto';

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
}
