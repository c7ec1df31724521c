import { once } from 'node:events';
import { Body, Controller, Delete, Get, Headers, HttpCode, Logger, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiNoContentResponse, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../auth/principal';
import { ApiProblems } from '../http/api-problems.decorator';
import { CurrentPrincipal } from '../http/current-principal.decorator';
import { RequestSignal } from '../http/request-signal.decorator';
import { RequestValidationError } from '../http/request-validation.error';
import { SyncImagePageDto, SyncImagesQueryDto } from '../transfers/sync-operation.dto';
import type { OperationResult } from './operation';
import { parseLabelFilter } from './operation-labels';
import {
  ApiOperationEventModels,
  ApiOperationModels,
  CancelOperationDto,
  GetOperationQueryDto,
  ListOperationsQueryDto,
  OPERATION_EVENT_SCHEMA,
  OPERATION_SCHEMA,
  type OperationDto,
  OperationListDto,
  problemOf,
  toOperationDto,
} from './operations.dto';
import { type OperationEvent, OperationsService } from './operations.service';

/** A comment line is sent this often on an idle event stream, so proxies keep it open. */
export const SSE_HEARTBEAT_MS = 15_000;

const ID_PARAM = { name: 'id', description: 'Operation id', example: '01JDQ3X4M5N6P7Q8R9S0T1V2W3' };

function parseLastEventId(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (!/^\d{1,15}$/.test(header.trim())) {
    throw new RequestValidationError([{ field: 'Last-Event-ID', message: 'Last-Event-ID must be the id of an event of this stream' }]);
  }
  return Number(header.trim());
}

/** An event's data as the API shows it (operations and errors as DTOs). */
function eventData(id: string, event: OperationEvent): unknown {
  if (event.type === 'state') return toOperationDto(event.data);
  if (event.type === 'result') {
    const result = event.data as OperationResult;
    if ('images' in result) return { ...result, images: result.images.map((i) => ({ ...i, error: i.error ? problemOf(i.error, `/v1/operations/${id}`) : undefined })) };
  }
  return event.data;
}

function sseFrame(id: string, event: OperationEvent): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(eventData(id, event))}\n\n`;
}

@ApiTags('operations')
@ApiOperationModels()
@Controller('v1/operations')
export class OperationsController {
  private readonly logger = new Logger('Operations');

  constructor(private readonly operations: OperationsService) {}

  /** The caller's copies and syncs (everyone's with `operations:read-all`), newest first, a page at a time. */
  @Get()
  @ApiOperation({
    operationId: 'listOperations',
    summary: 'List operations',
    description:
      "The caller's copies and syncs (everyone's with `operations:read-all`), newest first, a page at a time; filtered by state, kind, labels (`label=key=value`, repeatable, all must match) and creation time.",
  })
  @ApiResponse({ status: 200, type: OperationListDto, description: 'A page of operations, newest first' })
  @ApiProblems({
    action: 'listing operations',
    answers: {
      400: 'A filter is invalid: an unknown state or kind, a label filter that is not `key=value`, a time that is not RFC 3339, a pageSize out of range or a pageToken this service did not issue',
      503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
    },
  })
  async listOperations(@Query() q: ListOperationsQueryDto, @CurrentPrincipal() principal: Principal): Promise<OperationListDto> {
    const page = await this.operations.list(principal, {
      state: q.state,
      kind: q.kind,
      labels: (q.label ?? []).map(parseLabelFilter),
      createdAfter: q.createdAfter,
      createdBefore: q.createdBefore,
      pageSize: q.pageSize,
      pageToken: q.pageToken,
    });
    return { operations: page.operations.map(toOperationDto), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
  }

  /** One operation; with `waitSeconds`, answers as soon as it has finished or when the time has passed. */
  @Get(':id')
  @ApiOperation({
    operationId: 'getOperation',
    summary: 'Get an operation (optionally long-polling until it finishes)',
    description: 'One Operation, typed by its `kind`. With `waitSeconds` the answer comes as soon as the operation has finished (succeeded, failed or cancelled), or when the time has passed with the operation as it is then.',
  })
  @ApiParam(ID_PARAM)
  @ApiResponse({ status: 200, schema: OPERATION_SCHEMA, description: 'The operation: finished, or as it was when waitSeconds passed' })
  @ApiProblems({
    action: 'reading operations',
    answers: {
      400: 'waitSeconds is not an integer from 0 to 300',
      404: "No operation with this id that the caller may see (another principal's operations are not found without `operations:read-all`)",
      429: 'too many long-polls are open (for this caller or on the service)',
      503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
    },
  })
  async getOperation(@Param('id') id: string, @Query() q: GetOperationQueryDto, @RequestSignal() signal: AbortSignal, @CurrentPrincipal() principal: Principal): Promise<OperationDto> {
    return toOperationDto(await this.operations.waitFor(principal, id, q.waitSeconds ?? 0, signal));
  }

  /**
   * Cancels: a queued operation is cancelled at once; a running one becomes `cancelling`, its
   * transfers stop at once (on whichever replica runs it), and it ends as `cancelled` (no tag is
   * left pointing at a partial image). The optional body says why; the operation records who.
   */
  @Post(':id/cancel')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'cancelOperation',
    summary: 'Cancel an operation',
    description:
      'A queued operation is cancelled at once; a running one becomes `cancelling`, its transfers stop at once on whichever replica runs it, and it ends `cancelled` with no tag left pointing at a partial image. The optional body says why; the operation records who (`cancellation`).',
  })
  @ApiParam(ID_PARAM)
  @ApiBody({ type: CancelOperationDto, required: false })
  @ApiResponse({ status: 202, schema: OPERATION_SCHEMA, description: 'The operation, now `cancelled` (it was queued) or `cancelling` (it was running)' })
  @ApiProblems({
    action: 'cancelling operations',
    answers: {
      400: 'The body is not `{reason}` with a reason of at most 500 characters',
      404: 'No operation with this id that the caller may see',
      409: 'The operation has already finished (succeeded, failed or cancelled): there is nothing left to cancel (`OPERATION_CONFLICT`)',
      413: 'The request body is larger than 1 MiB',
      415: 'A request body was sent that is not JSON',
      503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
    },
  })
  async cancelOperation(@Param('id') id: string, @Body() body: CancelOperationDto | undefined, @CurrentPrincipal() principal: Principal): Promise<OperationDto> {
    return toOperationDto(await this.operations.cancel(principal, id, body?.reason));
  }

  /**
   * Server-sent events: `id: <seq>`, `event: state | progress | result`, `data: <JSON>`.
   * `state` carries the whole Operation, `progress` the progress object, `result` the result
   * (just before the final `state`). Without `Last-Event-ID` the stream opens with a `state`
   * event of the current Operation; with it, the events after that one are replayed. The
   * stream ends after the final `state` event (succeeded, failed, cancelled); comment lines
   * are sent every 15 s while idle. Events come from whichever replica runs the operation.
   */
  @Get(':id/events')
  @ApiOperation({
    operationId: 'streamOperationEvents',
    summary: "Follow an operation's state and progress (text/event-stream)",
    description:
      'Server-sent events, each with `id: <seq>`, `event: state | progress | result` and `data: <JSON>`: `state` carries the whole Operation, ' +
      '`progress` the progress object, `result` the result (just before the final `state`). Without `Last-Event-ID` the stream opens with a `state` ' +
      'event of the current Operation; with it, the events after that one are replayed first. The stream ends after the final `state` event ' +
      '(succeeded, failed or cancelled); a comment line is sent every 15 s while idle.',
  })
  @ApiParam(ID_PARAM)
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id (sent back by EventSource on reconnect)' })
  @ApiProduces('text/event-stream')
  @ApiOperationEventModels()
  @ApiResponse({
    status: 200,
    description: 'The event stream (text/event-stream); each event is an OperationEvent: its `id:`, `event:` and `data:` lines',
    content: { 'text/event-stream': { schema: OPERATION_EVENT_SCHEMA } },
    headers: {
      'Cache-Control': { description: 'Always `no-cache, no-transform`: proxies must pass events on as they come', schema: { type: 'string', example: 'no-cache, no-transform' } },
      'X-Accel-Buffering': { description: 'Always `no`: tells nginx-style proxies not to buffer the stream', schema: { type: 'string', enum: ['no'] } },
    },
  })
  @ApiProblems({
    action: 'following operations',
    answers: {
      400: 'Last-Event-ID is not the id of an event of this stream (digits only)',
      404: 'No operation with this id that the caller may see',
      429: 'too many event streams are open (for this caller or on the service)',
      503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
    },
  })
  async streamOperationEvents(@Param('id') id: string, @Headers('last-event-id') lastEventId: string | undefined, @Res() res: Response, @CurrentPrincipal() principal: Principal): Promise<void> {
    const gone = new AbortController();
    const events = await this.operations.events(principal, id, { afterSeq: parseLastEventId(lastEventId), signal: gone.signal });
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      res.once('close', () => gone.abort());
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      heartbeat = setInterval(() => {
        if (!gone.signal.aborted) res.write(': keep-alive\n\n');
      }, SSE_HEARTBEAT_MS);
      for await (const event of events) {
        if (!res.write(sseFrame(id, event))) await once(res, 'drain', { signal: gone.signal });
      }
    } catch (e) {
      if (!gone.signal.aborted) this.logger.error({ operationId: id, err: e }, 'event stream failed');
    } finally {
      clearInterval(heartbeat);
      await events.return?.();
      res.end();
    }
  }

  /** A sync's images, a page at a time in plan order, optionally in one state (`pending`, `running`, `copied`, `skipped`, `failed`, `planned`). */
  @Get(':id/images')
  @ApiOperation({
    operationId: 'listSyncImages',
    summary: "List a sync's images and how each ended",
    description: "A sync's images a page at a time, in plan order, optionally only those in one state; each with its source, destination, state, digest, bytes and problem.",
  })
  @ApiParam(ID_PARAM)
  @ApiResponse({ status: 200, type: SyncImagePageDto, description: 'A page of the sync’s images' })
  @ApiProblems({
    action: "listing a sync's images",
    answers: {
      400: 'The operation is a copy (only syncs have images), or state, pageSize or pageToken is invalid',
      404: 'No operation with this id that the caller may see',
      503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
    },
  })
  async listSyncImages(@Param('id') id: string, @Query() q: SyncImagesQueryDto, @CurrentPrincipal() principal: Principal): Promise<SyncImagePageDto> {
    const page = await this.operations.images(principal, id, { state: q.state, pageSize: q.pageSize, pageToken: q.pageToken });
    return {
      images: page.images.map((i) => ({
        index: i.index,
        source: i.source,
        destination: i.destination,
        state: i.state,
        ...(i.digest ? { digest: i.digest } : {}),
        ...(i.bytes !== undefined ? { bytes: i.bytes } : {}),
        ...(i.error ? { error: problemOf(i.error, `/v1/operations/${id}`) } : {}),
        ...(i.referrers !== undefined ? { referrers: i.referrers } : {}),
        ...(i.sourceDigest ? { sourceDigest: i.sourceDigest } : {}),
        ...(i.replicaId ? { replicaId: i.replicaId } : {}),
      })),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    };
  }

  /** Forgets a finished operation and its events (409 while it is queued, running or cancelling). */
  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteOperation',
    summary: 'Forget a finished operation',
    description: 'Removes a finished operation, its events and (for a sync) its image list; what it copied stays where it was copied.',
  })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'The operation and its events are forgotten' })
  @ApiProblems({
    action: 'forgetting operations',
    answers: {
      404: 'No operation with this id that the caller may see',
      409: 'The operation is still queued, running or cancelling: cancel it and wait until it has finished (`OPERATION_CONFLICT`)',
      503: 'The operations store is unavailable (`STORE_UNAVAILABLE`, with Retry-After)',
    },
  })
  async deleteOperation(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.operations.forget(principal, id);
  }
}
