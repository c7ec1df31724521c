import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { ProblemDto } from '../http/problem';
import type { OperationKind, OperationState } from './operation-runner';

export const OPERATION_KINDS: readonly OperationKind[] = ['copy', 'sync'];
export const OPERATION_STATES: readonly OperationState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled'];

/** How far an operation has got. Byte and blob counts cover every image of the operation. */
export class OperationProgressDto {
  /** What the operation is doing now: `queued`, `starting`, `planning`, `copying`, `writing-manifests`, then `done`, `failed` or `cancelled`. */
  @ApiProperty({ example: 'copying' })
  phase: string;

  /** Bytes of every blob to transfer (known once planned). */
  @ApiProperty({ example: 52428800 })
  bytesTotal: number;

  /** Bytes transferred so far. */
  @ApiProperty({ example: 10485760 })
  bytesDone: number;

  /** Bytes not transferred because the destination already had (or mounted) them. */
  @ApiProperty({ example: 0 })
  bytesSkipped: number;

  /** Blobs (layers and configs) to handle. */
  @ApiProperty({ example: 6 })
  blobsTotal: number;

  /** Blobs handled so far (transferred, skipped or mounted). */
  @ApiProperty({ example: 2 })
  blobsDone: number;

  /** Blobs the destination already had. */
  @ApiProperty({ example: 1 })
  blobsSkipped: number;

  /** Blobs mounted from another repository of the same registry instead of uploaded. */
  @ApiProperty({ example: 0 })
  blobsMounted: number;

  /** Images (manifests) to copy: several for a multi-arch copy or a sync. */
  @ApiProperty({ example: 1 })
  imagesTotal: number;

  /** Images finished so far. */
  @ApiProperty({ example: 0 })
  imagesDone: number;
}

/** A copy or sync tracked as an operation. */
export class OperationDto {
  /** Operation id: a ULID, sortable by creation time. */
  @ApiProperty({ example: '01JDQ3X4M5N6P7Q8R9S0T1V2W3' })
  id: string;

  /** What the operation does. */
  @ApiProperty({ enum: OPERATION_KINDS, enumName: 'OperationKind', example: 'copy' })
  kind: OperationKind;

  /** `queued` → `running` → `succeeded` | `failed`; cancel moves `queued` to `cancelled` and `running` to `cancelling`, then `cancelled`. */
  @ApiProperty({ enum: OPERATION_STATES, enumName: 'OperationState', example: 'running' })
  state: OperationState;

  /** When it was accepted (RFC 3339). */
  @ApiProperty({ format: 'date-time', example: '2025-01-02T03:04:05.678Z' })
  createdAt: string;

  /** When its current run started; absent while queued. */
  @ApiPropertyOptional({ format: 'date-time', example: '2025-01-02T03:04:05.789Z' })
  startedAt?: string;

  /** When it finished (succeeded, failed or cancelled). */
  @ApiPropertyOptional({ format: 'date-time', example: '2025-01-02T03:04:09.012Z' })
  finishedAt?: string;

  /** The request as accepted, without secrets (sourceAuth/destinationAuth are never echoed). */
  @ApiProperty({ type: 'object', additionalProperties: true, example: { source: 'docker://127.0.0.1:5000/app:1.0', destination: 'oci:layouts/app:1.0' } })
  request: Record<string, unknown>;

  @ApiProperty({ type: OperationProgressDto })
  progress: OperationProgressDto;

  /** What it produced, once succeeded. A copy: `{digest, mediaType, manifests[]}`; a sync: `{images: [{source, destination, state, digest, error}]}`. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { digest: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' } })
  result?: Record<string, unknown>;

  /** Why it failed (a problem object, as the API answers errors). */
  @ApiPropertyOptional({ type: ProblemDto })
  error?: ProblemDto;
}

/** A page of operations, newest first. */
export class OperationListDto {
  @ApiProperty({ type: [OperationDto] })
  operations: OperationDto[];

  /** Pass as `pageToken` for the next (older) page; absent on the last page. */
  @ApiPropertyOptional({ example: 'MDFKRFEzWDRNNU42UDdROFI5UzBUMVYyVzM' })
  nextPageToken?: string;
}

/** Query of GET /v1/operations. */
export class ListOperationsQueryDto {
  /** Only operations in this state. */
  @ApiPropertyOptional({ enum: OPERATION_STATES, enumName: 'OperationState' })
  @IsOptional()
  @IsIn(OPERATION_STATES)
  state?: OperationState;

  /** Only operations of this kind. */
  @ApiPropertyOptional({ enum: OPERATION_KINDS, enumName: 'OperationKind' })
  @IsOptional()
  @IsIn(OPERATION_KINDS)
  kind?: OperationKind;

  /** Operations per page. */
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
  @MaxLength(128)
  pageToken?: string;
}

/** Query of GET /v1/operations/{id}. */
export class GetOperationQueryDto {
  /** Long-poll: answer as soon as the operation has finished, or after this many seconds. */
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 300, default: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(300)
  waitSeconds?: number;
}
