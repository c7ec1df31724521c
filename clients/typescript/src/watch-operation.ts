import {
  backoffMs,
  type CopyOperation,
  type CopyResult,
  isFinished,
  isTransient,
  type Operation,
  type OperationProgress,
  type Problem,
  retryAfterMs,
  type SkiffClient,
  SkiffProblemError,
  sleep,
  type SyncResult,
} from './client';

/**
 * One server-sent event of `GET /v1/operations/{id}/events`, typed for the operation watched:
 * `state` carries the Operation, `progress` the progress object, `result` the copy or sync
 * result (just before the final `state`). `id` is the event's sequence number.
 */
export type OperationEventOf<O extends Operation = Operation> =
  | { id: number; event: 'state'; data: O }
  | { id: number; event: 'progress'; data: OperationProgress }
  | { id: number; event: 'result'; data: O extends CopyOperation ? CopyResult : SyncResult };

export interface WatchOperationOptions {
  /** Stops watching: the iterator ends (the connection is closed). */
  signal?: AbortSignal;
  /** Resume after this event id (as `Last-Event-ID`), e.g. the last one a previous watch saw. */
  lastEventId?: number;
  /** Reconnections allowed in a row without an event in between (default 10), after transient failures or a dropped stream. */
  maxReconnects?: number;
  /** First and largest delay between reconnections (default 250 ms and 10 s). */
  backoff?: { baseMs: number; maxMs: number };
}

interface RawEvent {
  id?: string;
  event: string;
  data: string;
}

/** The largest event (its data, or a line being received) watchOperation accepts: 1 MiB of text. */
export const MAX_EVENT_CHARS = 1024 * 1024;

/** The event stream broke its contract (an event larger than MAX_EVENT_CHARS): the watch fails, it does not reconnect. */
export class EventStreamError extends Error {
  override readonly name = 'EventStreamError';
}

/**
 * Splits a text/event-stream into events (the WHATWG rules the API needs: `id`, `event`,
 * multi-line `data`, comment lines, CR/LF/CRLF line ends, a CRLF split across chunks). Yields
 * each event at its blank line. Linear in the stream: each character is scanned once. An event
 * whose data (or a line of which) exceeds `maxEventChars` throws EventStreamError: memory
 * stays bounded whatever the server sends.
 */
export async function* parseEventStream(body: ReadableStream<Uint8Array>, signal?: AbortSignal, maxEventChars: number = MAX_EVENT_CHARS): AsyncGenerator<RawEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  // the unfinished line, as the pieces it came in (joined once, when its end arrives)
  let pieces: string[] = [];
  let piecesChars = 0;
  // the last chunk ended with CR: a LF starting the next one belongs to it (a split CRLF)
  let afterCR = false;
  let event: { id?: string; event?: string; data: string[] } = { data: [] };
  let eventChars = 0;
  // one per stream: a shared global regex's lastIndex would be moved by another watch while this one yields
  const LINE_END = /[\r\n]/g;
  const tooLarge = () =>
    new EventStreamError(`an event of the operation's event stream exceeds ${maxEventChars} characters without ending (a blank line); the watch stops`);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const text = decoder.decode(value, { stream: true });
      let i = afterCR && text.charCodeAt(0) === 0x0a ? 1 : 0;
      if (text.length > 0) afterCR = false;
      for (;;) {
        LINE_END.lastIndex = i;
        const m = LINE_END.exec(text);
        if (m === null) {
          if (i < text.length) {
            pieces.push(text.slice(i));
            piecesChars += text.length - i;
          }
          break;
        }
        const end = m.index;
        const line = pieces.length > 0 ? pieces.join('') + text.slice(i, end) : text.slice(i, end);
        pieces = [];
        piecesChars = 0;
        if (text.charCodeAt(end) === 0x0d && end + 1 === text.length) afterCR = true;
        i = end + (text.charCodeAt(end) === 0x0d && text.charCodeAt(end + 1) === 0x0a ? 2 : 1);
        if (line === '') {
          if (event.data.length > 0) yield { id: event.id, event: event.event ?? 'message', data: event.data.join('\n') };
          event = { data: [] };
          eventChars = 0;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const fieldValue = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') {
          eventChars += fieldValue.length + 1;
          if (eventChars > maxEventChars) throw tooLarge();
          event.data.push(fieldValue);
        } else if (field === 'event') event.event = fieldValue;
        else if (field === 'id') event.id = fieldValue;
      }
      if (eventChars + piecesChars > maxEventChars) throw tooLarge();
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Follows an operation's server-sent events, typed, until its final `state` event (succeeded,
 * failed or cancelled), then ends. A dropped stream or a transient failure (408, 429, 502–504,
 * a network error) reconnects with `Last-Event-ID` set to the last event seen, so no event is
 * lost or repeated; any other problem (404, 401, 403, …) throws SkiffProblemError, an event
 * larger than MAX_EVENT_CHARS (1 MiB) EventStreamError, unparsable event data SyntaxError. Aborting
 * `signal` ends the iteration quietly.
 *
 * ```ts
 * for await (const e of watchOperation(client, copy)) {
 *   if (e.event === 'progress') console.log(e.data.bytesDone, '/', e.data.bytesTotal);
 *   if (e.event === 'result') console.log(e.data.digest);
 * }
 * ```
 */
export function watchOperation<O extends Operation>(client: SkiffClient, operation: O, opts?: WatchOperationOptions): AsyncGenerator<OperationEventOf<O>>;
export function watchOperation(client: SkiffClient, id: string, opts?: WatchOperationOptions): AsyncGenerator<OperationEventOf>;
export async function* watchOperation(client: SkiffClient, operation: Operation | string, opts: WatchOperationOptions = {}): AsyncGenerator<OperationEventOf> {
  const id = typeof operation === 'string' ? operation : operation.id;
  let lastEventId = opts.lastEventId;
  const backoff = opts.backoff ?? { baseMs: 250, maxMs: 10_000 };
  const maxReconnects = opts.maxReconnects ?? 10;
  let failures = 0;
  for (;;) {
    if (opts.signal?.aborted) return;
    let response: Response | undefined;
    let body: ReadableStream<Uint8Array> | undefined;
    try {
      const answer = await client.GET('/v1/operations/{id}/events', {
        params: { path: { id } },
        headers: lastEventId !== undefined ? { 'Last-Event-ID': String(lastEventId) } : {},
        parseAs: 'stream',
        signal: opts.signal,
      });
      response = answer.response;
      if (!response.ok) {
        const problem = response.headers.get('content-type')?.includes('json') ? ((await response.json().catch(() => undefined)) as Problem | undefined) : undefined;
        if (!isTransient(response.status)) throw new SkiffProblemError(response.status, problem);
      } else {
        body = answer.data ?? undefined;
      }
    } catch (e) {
      if (opts.signal?.aborted) return;
      if (e instanceof SkiffProblemError) throw e;
      // a network failure: reconnect below
    }
    if (body) {
      try {
        for await (const raw of parseEventStream(body, opts.signal)) {
          if (raw.event !== 'state' && raw.event !== 'progress' && raw.event !== 'result') continue;
          const seq = raw.id !== undefined && /^\d+$/.test(raw.id) ? Number(raw.id) : undefined;
          const event = { id: seq ?? lastEventId ?? 0, event: raw.event, data: JSON.parse(raw.data) } as OperationEventOf;
          if (seq !== undefined) lastEventId = seq;
          failures = 0;
          yield event;
          if (event.event === 'state' && isFinished(event.data.state)) return;
        }
      } catch (e) {
        if (opts.signal?.aborted) return;
        if (e instanceof SyntaxError || e instanceof EventStreamError) throw e;
        // the stream broke: reconnect below
      }
    }
    if (opts.signal?.aborted) return;
    if (failures >= maxReconnects) throw new SkiffProblemError(response?.status ?? 0, undefined, `the event stream of operation ${id} dropped ${failures + 1} times in a row`);
    try {
      await sleep(retryAfterMs(response) ?? backoffMs(failures++, backoff), opts.signal);
    } catch {
      return;
    }
  }
}
