/**
 * A byte-transparent TCP tap in front of a test service, recording what the service answers:
 * for each HTTP/1.1 exchange the request's method and path, and the response's status and
 * header names. After the suites, test/recorded-answers.check.ts compares every record with
 * openapi/openapi.json (each status and header declared for that operation).
 *
 * Contract:
 * - Bytes pass unchanged in both directions, half-closes included (`allowHalfOpen`), so hostile
 *   and malformed requests reach the service exactly as sent and its answers reach the test
 *   exactly as written; the parsers only watch. A connection whose bytes the parsers cannot
 *   follow (malformed on purpose, headers beyond 64 KiB) is simply not recorded further.
 * - Records go to `<SKIFF_TEST_CONTRACT_DIR>/<pid>.jsonl`, one JSON object per line, written as
 *   each response head is seen. Without SKIFF_TEST_CONTRACT_DIR no tap is started.
 * - close() stops listening (new connections are then refused, as the service's own port would
 *   refuse them once it is gone) and destroys the open connections.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';

export interface AnswerRecord {
  method: string;
  /** The request target without its query string. */
  path: string;
  status: number;
  /** Response header names, lower-case. */
  headers: string[];
  contentType?: string;
}

export interface ContractTap {
  port: number;
  close(): void;
}

const MAX_HEAD = 64 * 1024;

/** Where the tap records go, when recording is on. */
export function contractRecordDir(): string | undefined {
  return process.env['SKIFF_TEST_CONTRACT_DIR'] || undefined;
}

interface Head {
  startLine: string;
  headers: [string, string][];
}

/**
 * Follows one direction of an HTTP/1.1 connection: heads (start line and headers) and bodies
 * (Content-Length, chunked, or until the connection ends). `bodyOf` decides a message's body
 * framing from its head (a response to HEAD, a 1xx, 204 or 304 has none).
 */
class MessageStream {
  private buffer: Buffer = Buffer.alloc(0);
  private state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'broken' = 'head';
  private remaining = 0;

  constructor(
    private readonly bodyOf: (head: Head) => 'none' | 'chunked' | 'until-close' | number,
    private readonly onHead: (head: Head) => void,
  ) {}

  get broken(): boolean {
    return this.state === 'broken';
  }

  push(chunk: Buffer): void {
    if (this.state === 'broken' || this.state === 'until-close') return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    try {
      this.drain();
    } catch {
      this.state = 'broken';
      this.buffer = Buffer.alloc(0);
    }
  }

  private drain(): void {
    for (;;) {
      switch (this.state) {
        case 'head': {
          const end = this.buffer.indexOf('\r\n\r\n');
          if (end < 0) {
            if (this.buffer.length > MAX_HEAD) throw new Error('head too large');
            return;
          }
          const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
          this.buffer = this.buffer.subarray(end + 4);
          if (lines[0] === '') {
            // tolerate a stray CRLF between messages
            lines.shift();
          }
          const head: Head = {
            startLine: lines[0] ?? '',
            headers: lines.slice(1).map((l) => {
              const colon = l.indexOf(':');
              if (colon <= 0) throw new Error(`bad header line ${l}`);
              return [l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()];
            }),
          };
          const body = this.bodyOf(head);
          this.onHead(head);
          if (body === 'none' || body === 0) continue;
          if (body === 'chunked') this.state = 'chunk-size';
          else if (body === 'until-close') {
            this.state = 'until-close';
            this.buffer = Buffer.alloc(0);
            return;
          } else {
            this.state = 'length';
            this.remaining = body;
          }
          break;
        }
        case 'length': {
          const n = Math.min(this.remaining, this.buffer.length);
          this.buffer = this.buffer.subarray(n);
          this.remaining -= n;
          if (this.remaining > 0) return;
          this.state = 'head';
          break;
        }
        case 'chunk-size': {
          const end = this.buffer.indexOf('\r\n');
          if (end < 0) {
            if (this.buffer.length > 4096) throw new Error('chunk size line too long');
            return;
          }
          const size = parseInt(this.buffer.subarray(0, end).toString('latin1').split(';')[0]!.trim(), 16);
          if (!Number.isFinite(size) || size < 0) throw new Error('bad chunk size');
          this.buffer = this.buffer.subarray(end + 2);
          if (size === 0) this.state = 'trailers';
          else {
            this.state = 'chunk-data';
            this.remaining = size;
          }
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, this.buffer.length);
          this.buffer = this.buffer.subarray(n);
          this.remaining -= n;
          if (this.remaining > 0) return;
          this.state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (this.buffer.length < 2) return;
          this.buffer = this.buffer.subarray(2);
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          const end = this.buffer.indexOf('\r\n');
          if (end < 0) return;
          const line = this.buffer.subarray(0, end);
          this.buffer = this.buffer.subarray(end + 2);
          if (line.length === 0) this.state = 'head';
          break;
        }
        default:
          return;
      }
      if (this.buffer.length === 0 && this.state === 'head') return;
    }
  }
}

function header(head: Head, name: string): string | undefined {
  return head.headers.find(([n]) => n === name)?.[1];
}

function requestBody(head: Head): 'none' | 'chunked' | number {
  if (/\bchunked\b/i.test(header(head, 'transfer-encoding') ?? '')) return 'chunked';
  const length = header(head, 'content-length');
  if (length === undefined) return 'none';
  if (!/^\d{1,15}$/.test(length)) throw new Error('bad content-length');
  return Number(length);
}

/** Starts a tap on a free loopback port forwarding to `target`; undefined when recording is off. */
export async function startContractTap(target: { host: string; port: number }): Promise<ContractTap | undefined> {
  const dir = contractRecordDir();
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.jsonl`);
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    const pending: { method: string; path: string }[] = [];
    const requests = new MessageStream(requestBody, (head) => {
      const [method = '', target = ''] = head.startLine.split(' ');
      pending.push({ method, path: target.split('?', 1)[0]! });
    });
    const responses = new MessageStream(
      (head) => {
        const status = Number(head.startLine.split(' ')[1]);
        if (status < 200 || status === 204 || status === 304 || pending[0]?.method === 'HEAD') return 'none';
        if (/\bchunked\b/i.test(header(head, 'transfer-encoding') ?? '')) return 'chunked';
        const length = header(head, 'content-length');
        if (length !== undefined) {
          if (!/^\d{1,15}$/.test(length)) throw new Error('bad content-length');
          return Number(length);
        }
        return 'until-close';
      },
      (head) => {
        const status = Number(head.startLine.split(' ')[1]);
        if (!Number.isInteger(status) || status < 200) return;
        const request = pending.shift();
        if (!request) throw new Error('a response without a request');
        const record: AnswerRecord = { ...request, status, headers: [...new Set(head.headers.map(([n]) => n))].sort() };
        const contentType = header(head, 'content-type');
        if (contentType) record.contentType = contentType;
        appendFileSync(file, `${JSON.stringify(record)}\n`);
      },
    );
    client.on('data', (chunk: Buffer) => requests.push(chunk));
    upstream.on('data', (chunk: Buffer) => responses.push(chunk));
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // The service going away (a 413 answered with Connection: close while the body still comes,
    // a crash) ends the client's side once everything it wrote has been passed on; what the
    // client still sends is read and dropped, as a closed socket would drop it.
    const serviceGone = () => {
      client.unpipe(upstream);
      client.resume();
      if (!client.writableEnded) client.end();
      upstream.destroy();
      sockets.delete(upstream);
    };
    client.on('error', close);
    client.on('close', close);
    upstream.on('error', serviceGone);
    upstream.on('close', serviceGone);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      server.close();
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
