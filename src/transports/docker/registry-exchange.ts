import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { type ThroughputFloor, ThroughputWatch } from './throughput-watch';
import { ThroughputStallError } from './upstream-limits';

/**
 * Request and body plumbing of the registry client: one undici request, its answer either
 * streamed (blobs) or read whole with a byte limit (pings, tokens, manifests, configs, tag-list
 * pages), and the helpers that read, cap or let go of answer bodies. Nothing here retries,
 * authenticates or follows redirects.
 */

/** Cap for small documents read whole: tokens, error bodies, write answers. */
export const LIMIT_SMALL = 1024 * 1024;

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as a stream (for a buffered answer, a stream over its bytes). */
  body: Readable;
  /**
   * Set when the answer was read whole by the request itself (RequestOptions.bufferLimit):
   * its bytes, or no bytes when the body went past the limit and the transfer was stopped.
   */
  buffered?: { bytes?: Buffer };
  /** The URL that answered (after redirects). */
  url: string;
}

/** The first value of a response header (names are lower-case in undici's headers). */
export function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a response body whole, failing once it passes `limit` bytes. */
export function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  // Plain events rather than an async iterator: this runs for every manifest, config, token
  // and tag-list page, and the iterator's per-chunk promises show up in warm-request profiles.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const stop = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        stop();
        reject(new DomainError('BODY_TOO_LARGE', `${what}: body exceeds the ${limit}-byte limit`));
        body.destroy();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onClose = (): void => {
      stop();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    // Stays attached: an error after the answer (e.g. from destroying an oversized body) must
    // not become an unhandled 'error' event; rejecting a settled promise does nothing.
    body.on('error', reject);
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('close', onClose);
  });
}

/**
 * Most bytes of an unwanted answer body (a 401, a redirect, a retried 5xx) read to keep its
 * connection for the next request; past this the body is destroyed (and its connection with it),
 * so an upstream cannot hold a call by sending an endless body fast enough to pass the floor.
 */
export const DISCARD_LIMIT = 64 * 1024;

function discard(body: Readable): Promise<void> {
  // A body already ended or destroyed emits neither 'end' nor 'close' again: nothing to wait for.
  if (body.destroyed || body.readableEnded) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let total = 0;
    const done = (): void => {
      body.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > DISCARD_LIMIT) {
        done();
        body.destroy();
      }
    };
    // Stays attached: destroying may still emit an error, which must not go unhandled.
    body.on('error', () => done());
    body.once('end', done);
    body.once('close', done);
    body.on('data', onData);
  });
}

/** One undici request, its body streamed. */
export async function dispatch(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions): Promise<RegistryResponse> {
  const res = await dispatcher.request(opts);
  return { status: res.statusCode, headers: res.headers, body: res.body, url: `${String(opts.origin)}${opts.path}` };
}

/** A buffered answer: `body` is only made into a stream if someone asks for one. */
class BufferedResponse implements RegistryResponse {
  readonly buffered: { bytes?: Buffer };
  private stream?: Readable;

  constructor(
    readonly status: number,
    readonly headers: RegistryResponse['headers'],
    public url: string,
    bytes: Buffer | undefined,
  ) {
    this.buffered = { bytes };
  }

  get body(): Readable {
    return (this.stream ??= Readable.from(this.buffered.bytes ? [this.buffered.bytes] : []));
  }
}

/**
 * One undici request whose body is collected into memory as it arrives (pings, tokens,
 * manifests, configs, tag-list pages), through undici's handler API: no Readable, no async
 * resource, no per-chunk promise, which together were a visible share of a warm inspect.
 * A body past `limit` (announced or actual) stops the transfer; the answer then comes back
 * with its status and headers but no bytes, so statuses still reach the retry and error
 * logic exactly as streamed answers do. Failures before the end (reset, timeout, abort)
 * reject, like a streamed request's body would. With a `floor`, a body slower than it is
 * stopped and the request rejects with ThroughputStallError.
 */
export function dispatchBuffered(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions, limit: number, floor?: ThroughputFloor): Promise<RegistryResponse> {
  const { signal: given, ...rest } = opts;
  const signal = given as AbortSignal | undefined;
  const url = `${String(opts.origin)}${opts.path}`;
  return new Promise<RegistryResponse>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    let status = 0;
    let headers: RegistryResponse['headers'] = {};
    const chunks: Buffer[] = [];
    let total = 0;
    let watch: ThroughputWatch | undefined;
    const settle = (err?: unknown, overflow = false): void => {
      if (settled) return;
      settled = true;
      watch?.stop();
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(new BufferedResponse(status, headers, url, overflow ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total)));
    };
    const onAbort = (): void => {
      settle(new AbortedError());
      controller?.abort(new AbortedError());
    };
    const stop = (c: Dispatcher.DispatchController): void => {
      settle(undefined, true);
      c.abort(new DomainError('BODY_TOO_LARGE', `body exceeds the ${limit}-byte limit`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      dispatcher.dispatch(rest as Dispatcher.DispatchOptions, {
        onRequestStart(c) {
          controller = c;
          if (settled) c.abort(new AbortedError());
        },
        onResponseStart(c, statusCode, responseHeaders) {
          if (statusCode < 200) return; // 1xx: the real answer follows
          status = statusCode;
          headers = responseHeaders as RegistryResponse['headers'];
          const announced = Number(header({ headers }, 'content-length'));
          if (opts.method !== 'HEAD' && Number.isFinite(announced) && announced > limit) {
            stop(c);
            return;
          }
          if (floor && opts.method !== 'HEAD' && !settled) {
            watch = new ThroughputWatch(floor, (bytes) => {
              const err = new ThroughputStallError(bytes);
              settle(err);
              c.abort(err);
            });
            watch.setWaiting(true);
          }
        },
        onResponseData(c, chunk) {
          if (settled) return;
          watch?.add(chunk.length);
          total += chunk.length;
          if (total > limit) stop(c);
          else chunks.push(chunk);
        },
        onResponseEnd() {
          settle();
        },
        onResponseError(_c, err) {
          settle(err);
        },
      });
    } catch (e) {
      settle(e);
    }
  });
}

/** Lets go of an answer's body: nothing to do for a buffered one. */
export async function discardBody(res: RegistryResponse): Promise<void> {
  if (!res.buffered) await discard(res.body);
}

/** An error answer's body for its message, at most `limit` bytes; empty when it cannot be read. */
export async function errorBody(res: RegistryResponse, limit: number, what: string): Promise<Buffer> {
  if (res.buffered) return res.buffered.bytes?.subarray(0, limit) ?? Buffer.alloc(0);
  return readLimited(res.body, limit, what).catch(() => Buffer.alloc(0));
}
