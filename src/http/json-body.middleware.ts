import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeLingering, DEFAULT_LINGER, type LingerLimits } from './lingering-close';
import { problemFor, sendProblem } from './problem-response';

/**
 * The API's one body parser, run before Nest so that every refusal is a problem decided
 * before validation:
 * - a request with a body must say `Content-Type: application/json` (or `application/*+json`,
 *   charset utf-8 if any): else 415 UNSUPPORTED_MEDIA_TYPE;
 * - more than `limitBytes` (Content-Length or counted while reading): 413, the connection closed;
 * - every refusal closes the connection lingering (see closeLingering): the client reads the
 *   answer even while it still sends the body, and nothing it sends after is parsed;
 * - bytes that are not UTF-8: 400 (never decoded with U+FFFD into a name);
 * - nesting deeper than `maxDepth`, more members than `maxMembers` in one object or array or
 *   `maxValues` in all, a `__proto__` key, or text that is not JSON: 400.
 * A request without a body (no Content-Length, or 0, and no Transfer-Encoding) passes with
 * `req.body` undefined.
 */
export interface JsonBodyOptions {
  limitBytes: number;
  /** Deepest nesting of objects and arrays. */
  maxDepth: number;
  /** Most members of one object or array. */
  maxMembers: number;
  /** Most members in all. */
  maxValues: number;
  /** What a refused request's connection still reads (and drops) after the answer; DEFAULT_LINGER if absent. */
  linger?: LingerLimits;
}

const JSON_TYPE = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json$/;

/**
 * Why the shape of JSON `text` is refused (nesting deeper than `maxDepth`, an object or array
 * with more than `maxMembers` members, more than `maxValues` members in all), or undefined.
 * One linear scan (strings skipped), before JSON.parse: validating a body costs time per
 * member (80,000 unknown keys took seconds), so the shape is bounded first.
 */
export function jsonShapeRefusal(text: string, limits: { maxDepth: number; maxMembers: number; maxValues: number }): string | undefined {
  const commas: number[] = [];
  let values = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      commas.push(0);
      if (commas.length > limits.maxDepth) return `nests objects and arrays deeper than ${limits.maxDepth} levels`;
    } else if (c === 0x7d || c === 0x5d) commas.pop();
    else if (c === 0x2c && commas.length > 0) {
      const members = ++commas[commas.length - 1]! + 1;
      if (members > limits.maxMembers) return `has an object or array with more than ${limits.maxMembers} members`;
      if (++values > limits.maxValues) return `has more than ${limits.maxValues} values`;
    }
  }
  return undefined;
}

function refuseProtoKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new SyntaxError('the key "__proto__" is not allowed');
  return value;
}

export function jsonBodyMiddleware(opts: JsonBodyOptions): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (incoming, res, next) => {
    const req = incoming as IncomingMessage & { body?: unknown; _body?: boolean };
    const lengthHeader = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (!chunked && (lengthHeader === undefined || lengthHeader === '0')) {
      next();
      return;
    }
    const refuse = (code: 'UNSUPPORTED_MEDIA_TYPE' | 'PAYLOAD_TOO_LARGE' | 'INVALID_ARGUMENT', detail: string): void => {
      closeLingering(req, opts.linger ?? DEFAULT_LINGER);
      sendProblem(req, res, problemFor(req, code, detail), { close: true });
    };
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    const [mediaType = '', ...params] = contentType.split(';').map((p) => p.trim());
    const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '');
    if (!JSON_TYPE.test(mediaType) || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
      req.resume();
      refuse('UNSUPPORTED_MEDIA_TYPE', `the request body must be JSON (Content-Type: application/json; charset utf-8), not ${JSON.stringify(contentType || '(none)')}`);
      return;
    }
    const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (declared !== undefined && declared > opts.limitBytes) {
      refuse('PAYLOAD_TOO_LARGE', `the request body is ${declared} bytes; at most ${opts.limitBytes} are accepted`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (code: 'PAYLOAD_TOO_LARGE' | 'INVALID_ARGUMENT', detail: string): void => {
      failed = true;
      chunks.length = 0;
      req.off('data', onData);
      req.resume();
      refuse(code, detail);
    };
    const onData = (chunk: Buffer): void => {
      if (failed) return;
      size += chunk.length;
      if (size > opts.limitBytes) {
        fail('PAYLOAD_TOO_LARGE', `the request body is larger than ${opts.limitBytes} bytes`);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('error', () => {
      failed = true;
    });
    req.once('end', () => {
      if (failed) return;
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size));
      } catch {
        fail('INVALID_ARGUMENT', 'the request body is not valid UTF-8');
        return;
      }
      const refusal = jsonShapeRefusal(text, opts);
      if (refusal !== undefined) {
        fail('INVALID_ARGUMENT', `the request body ${refusal}`);
        return;
      }
      try {
        req.body = JSON.parse(text, refuseProtoKeys);
      } catch (e) {
        fail('INVALID_ARGUMENT', `the request body is not valid JSON: ${(e as Error).message}`);
        return;
      }
      req._body = true;
      next();
    });
  };
}

/**
 * Bounds the query string as the body is bounded: more than `maxParams` parameters is a 400
 * before any parsing or validation (every unknown parameter costs validation time; no
 * operation takes more than a dozen).
 */
export function queryLimitMiddleware(maxParams: number): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if (q >= 0) {
      let params = 1;
      for (let i = q + 1; i < url.length; i++) if (url.charCodeAt(i) === 0x26) params++;
      if (params > maxParams) {
        sendProblem(req, res, problemFor(req, 'INVALID_ARGUMENT', `the query string has ${params} parameters; at most ${maxParams} are accepted`));
        return;
      }
    }
    next();
  };
}
