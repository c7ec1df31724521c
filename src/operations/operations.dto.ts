import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsISO8601, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { OperationError } from '../errors/operation-error';
import { CopyRequestEchoDto, CopyResultDto } from '../transfers/copy-operation.dto';
import type { TransferProgress } from '../copy-engine/transfer-progress';
import { PROBLEM_KINDS, ProblemDto, problemType } from '../http/problem';
import { SyncRequestEchoDto, SyncResultDto } from '../transfers/sync-operation.dto';
import { OPERATION_KINDS, OPERATION_STATES, type Operation, type OperationKind, type OperationState } from './operation';

/** How far an operation has got. Byte and blob counts cover every image of the operation. */
export class OperationProgressDto implements TransferProgress {
  /** What the operation is doing now: `queued`, `starting`, `planning`, `copying`, `writing-manifests`, then `done`, `failed` or `cancelled`. */
  @ApiProperty({ example: 'copying' })
  phase: string;

  /** Bytes of every blob to transfer (known once planned). */
  @ApiProperty({ type: 'integer', example: 52428800 })
  bytesTotal: number;

  /** Bytes transferred so far. */
  @ApiProperty({ type: 'integer', example: 10485760 })
  bytesDone: number;

  /** Bytes not transferred because the destination already had (or mounted) them. */
  @ApiProperty({ type: 'integer', example: 0 })
  bytesSkipped: number;

  /** Blobs (layers and configs) to handle. */
  @ApiProperty({ type: 'integer', example: 6 })
  blobsTotal: number;

  /** Blobs handled so far (transferred, skipped or mounted). */
  @ApiProperty({ type: 'integer', example: 2 })
  blobsDone: number;

  /** Blobs the destination already had. */
  @ApiProperty({ type: 'integer', example: 1 })
  blobsSkipped: number;

  /** Blobs mounted from another repository of the same registry instead of uploaded. */
  @ApiProperty({ type: 'integer', example: 0 })
  blobsMounted: number;

  /** Images (manifests) to copy: several for a multi-arch copy or a sync. */
  @ApiProperty({ type: 'integer', example: 1 })
  imagesTotal: number;

  /** Images finished so far. */
  @ApiProperty({ type: 'integer', example: 0 })
  imagesDone: number;
}

/** Who cancelled an operation, and why. */
export class CancellationDto {
  /** The principal that cancelled it. */
  @ApiProperty({ example: 'local' })
  by: string;

  /** The reason it gave (`reason` of the cancel request). */
  @ApiPropertyOptional({ example: 'superseded by a newer release' })
  reason?: string;

  @ApiProperty({ format: 'date-time' })
  at: string;
}

/** What every operation has, whatever its kind. */
abstract class OperationBaseDto {
  /** Operation id: a ULID, sortable by creation time. */
  @ApiProperty({ example: '01JDQ3X4M5N6P7Q8R9S0T1V2W3' })
  id: string;

  /** `queued` → `running` → `succeeded` | `failed`; cancel moves `queued` to `cancelled` and `running` to `cancelling`, then `cancelled`. */
  @ApiProperty({ enum: OPERATION_STATES, enumName: 'OperationState', example: 'running' })
  state: OperationState;

  /** The principal that submitted it. */
  @ApiProperty({ example: 'local' })
  owner: string;

  /** Labels set at submit. */
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: { team: 'platform' } })
  labels: Record<string, string>;

  /** When it was accepted. */
  @ApiProperty({ format: 'date-time', example: '2025-01-02T03:04:05.678Z' })
  createdAt: string;

  /** When its current (or last) run started; absent while queued. */
  @ApiPropertyOptional({ format: 'date-time', example: '2025-01-02T03:04:05.789Z' })
  startedAt?: string;

  /** When it finished (succeeded, failed or cancelled). */
  @ApiPropertyOptional({ format: 'date-time', example: '2025-01-02T03:04:09.012Z' })
  finishedAt?: string;

  @ApiProperty({ type: OperationProgressDto })
  progress: OperationProgressDto;

  /** Why it failed (a problem object, as the API answers errors). */
  @ApiPropertyOptional({ type: ProblemDto })
  error?: ProblemDto;

  /** Set once cancelled (or being cancelled): by whom and why. */
  @ApiPropertyOptional({ type: CancellationDto })
  cancellation?: CancellationDto;

  /** The replica running it now, or that ran it last. */
  @ApiPropertyOptional({ example: 'skiff-0' })
  replicaId?: string;

  /** Runs started so far: more than one after a replica running it died and another took it over. */
  @ApiProperty({ type: 'integer', example: 1 })
  attempts: number;
}

/** A copy tracked as an operation. */
export class CopyOperationDto extends OperationBaseDto {
  @ApiProperty({ enum: ['copy'], example: 'copy' })
  kind: 'copy';

  /** The request as accepted, defaults applied, without credentials. */
  @ApiProperty({ type: CopyRequestEchoDto })
  request: CopyRequestEchoDto;

  /** What it produced, once succeeded. */
  @ApiPropertyOptional({ type: CopyResultDto })
  result?: CopyResultDto;
}

/** A sync tracked as an operation. */
export class SyncOperationDto extends OperationBaseDto {
  @ApiProperty({ enum: ['sync'], example: 'sync' })
  kind: 'sync';

  /** The request as accepted, defaults applied, without credentials (YAML passwords `[redacted]`). */
  @ApiProperty({ type: SyncRequestEchoDto })
  request: SyncRequestEchoDto;

  /** What it produced (also set, with the images done, when it failed part-way). */
  @ApiPropertyOptional({ type: SyncResultDto })
  result?: SyncResultDto;
}

/** A copy or a sync, by `kind`. */
export type OperationDto = CopyOperationDto | SyncOperationDto;

/** OpenAPI: an Operation is `oneOf` CopyOperation / SyncOperation, discriminated by `kind`. */
export const OPERATION_SCHEMA = {
  oneOf: [{ $ref: getSchemaPath(CopyOperationDto) }, { $ref: getSchemaPath(SyncOperationDto) }],
  discriminator: { propertyName: 'kind', mapping: { copy: getSchemaPath(CopyOperationDto), sync: getSchemaPath(SyncOperationDto) } },
};

/** Registers the operation schemas with the document (put on controllers that answer operations). */
export const ApiOperationModels = (): ClassDecorator & MethodDecorator => ApiExtraModels(CopyOperationDto, SyncOperationDto, ProblemDto);

/** The result of a copy or a sync (the `result` event's data). */
export const OPERATION_RESULT_SCHEMA = { oneOf: [{ $ref: getSchemaPath(CopyResultDto) }, { $ref: getSchemaPath(SyncResultDto) }] };

/** `event: state` — the whole Operation: first on a stream opened without Last-Event-ID, then at every state change; the last event of a stream is a final state. */
export class OperationStateEventDto {
  /** The `id:` line: the event's sequence number in this operation (send it back as Last-Event-ID to resume after it). */
  @ApiProperty({ type: 'integer', format: 'int64', minimum: 0, example: 7 })
  id: number;

  /** The `event:` line. */
  @ApiProperty({ enum: ['state'], example: 'state' })
  event: 'state';

  /** The `data:` line, parsed: the Operation. */
  @ApiProperty(OPERATION_SCHEMA)
  data: OperationDto;
}

/** `event: progress` — the progress object, as bytes and blobs move. */
export class OperationProgressEventDto {
  /** The `id:` line: the event's sequence number in this operation. */
  @ApiProperty({ type: 'integer', format: 'int64', minimum: 0, example: 3 })
  id: number;

  /** The `event:` line. */
  @ApiProperty({ enum: ['progress'], example: 'progress' })
  event: 'progress';

  /** The `data:` line, parsed: the progress object. */
  @ApiProperty({ type: OperationProgressDto })
  data: OperationProgressDto;
}

/** `event: result` — what the operation produced, sent just before its final `state` event. */
export class OperationResultEventDto {
  /** The `id:` line: the event's sequence number in this operation. */
  @ApiProperty({ type: 'integer', format: 'int64', minimum: 0, example: 9 })
  id: number;

  /** The `event:` line. */
  @ApiProperty({ enum: ['result'], example: 'result' })
  event: 'result';

  /** The `data:` line, parsed: a CopyResult for a copy, a SyncResult for a sync. */
  @ApiProperty(OPERATION_RESULT_SCHEMA)
  data: CopyResultDto | SyncResultDto;
}

/** One server-sent event of GET /v1/operations/{id}/events, by its `event` name. */
export const OPERATION_EVENT_SCHEMA = {
  oneOf: [{ $ref: getSchemaPath(OperationStateEventDto) }, { $ref: getSchemaPath(OperationProgressEventDto) }, { $ref: getSchemaPath(OperationResultEventDto) }],
  discriminator: {
    propertyName: 'event',
    mapping: { state: getSchemaPath(OperationStateEventDto), progress: getSchemaPath(OperationProgressEventDto), result: getSchemaPath(OperationResultEventDto) },
  },
};

/** Registers the event schemas (on the events route). */
export const ApiOperationEventModels = (): ClassDecorator & MethodDecorator =>
  ApiExtraModels(OperationStateEventDto, OperationProgressEventDto, OperationResultEventDto, CopyResultDto, SyncResultDto);

/** A page of operations, newest first. */
@ApiExtraModels(CopyOperationDto, SyncOperationDto)
export class OperationListDto {
  @ApiProperty({ type: 'array', items: OPERATION_SCHEMA })
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

  /** Only operations with this label, as `key=value`; repeat for several (all must match). */
  @ApiPropertyOptional({ type: [String], example: ['team=platform'] })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === undefined ? undefined : Array.isArray(value) ? value : [value]))
  @IsArray()
  @ArrayMaxSize(16)
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  label?: string[];

  /** Only operations created after this time (RFC 3339). */
  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  createdAfter?: string;

  /** Only operations created before this time (RFC 3339). */
  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  createdBefore?: string;

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

/** Body of POST /v1/operations/{id}/cancel (optional). */
export class CancelOperationDto {
  /** Why it is cancelled (kept with the operation). */
  @ApiPropertyOptional({ maxLength: 500, example: 'superseded by a newer release' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

/** An OperationError as the problem object the API shows. */
export function problemOf(error: OperationError, instance: string): ProblemDto {
  const kind = PROBLEM_KINDS[error.code] ?? PROBLEM_KINDS.INTERNAL;
  const p: ProblemDto = { type: problemType(error.code), title: kind.title, status: kind.status, detail: error.message, instance, code: error.code };
  if (error.registry !== undefined) p.registry = error.registry;
  if (error.upstreamStatus !== undefined) p.upstreamStatus = error.upstreamStatus;
  if (error.upstreamCode !== undefined) p.upstreamCode = error.upstreamCode;
  if (error.retryable !== undefined) p.retryable = error.retryable;
  return p;
}

/** The DTO of an Operation: errors (the operation's and each sync image's) as problem objects. */
export function toOperationDto(op: Operation): OperationDto {
  const instance = `/v1/operations/${op.id}`;
  const { error, ...rest } = op;
  const dto = { ...rest } as OperationDto;
  if (error) dto.error = problemOf(error, instance);
  if (op.kind === 'sync' && op.result) {
    (dto as SyncOperationDto).result = {
      ...op.result,
      images: op.result.images.map((i) => ({ ...i, error: i.error ? problemOf(i.error, instance) : undefined })),
    };
  }
  return dto;
}
