import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { jsonBodyMiddleware } from './json-body.middleware';
import type { LingerLimits } from './lingering-close';

const LIMIT = 64 * 1024;
const CHUNK = 64 * 1024;
/** A body the kernel's socket buffers on loopback (a few MiB) cannot take in before the service answers. */
const BIG = 24 * 1024 * 1024;

interface Started {
  server: Server;
  port: number;
  /** URLs of the requests that went past the body middleware. */
  served: string[];
}

async function start(linger: LingerLimits): Promise<Started> {
  const served: string[] = [];
  const body = jsonBodyMiddleware({ limitBytes: LIMIT, maxDepth: 32, maxMembers: 1000, maxValues: 10_000, linger });
  const server = createServer((req, res) =>
    body(req, res, () => {
      served.push(req.url ?? '');
      res.end('served');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, served };
}

async function stop(s: Started): Promise<void> {
  s.server.closeAllConnections();
  await new Promise((resolve) => s.server.close(resolve));
}

/** What a raw connection received, and how it ended. */
interface Outcome {
  answer: string;
  /** Bytes of body written before the connection ended or the writer stopped. */
  written: number;
  error?: NodeJS.ErrnoException;
}

/**
 * Writes `head`, then `maxBody` bytes of body in `piece`s (awaiting each write), then `tail`;
 * reads the answer only once it has written everything (a client that sends its whole body
 * first), then ends its side.
 */
function exchange(port: number, opts: { head: string; piece: string; maxBody: number; tail: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let written = 0;
    let error: NodeJS.ErrnoException | undefined;
    socket.setTimeout(60_000, () => socket.destroy(new Error('no end of the exchange')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    socket.on('close', () => resolve({ answer: Buffer.concat(got).toString('latin1'), written, ...(error ? { error } : {}) }));
    const write = (text: string): Promise<void> => new Promise((ok, fail) => socket.write(text, (e) => (e ? fail(e) : ok())));
    void (async () => {
      try {
        await write(opts.head);
        while (written < opts.maxBody) {
          await write(opts.piece);
          written += opts.piece.length;
        }
        await write(opts.tail);
        socket.on('data', (c: Buffer) => got.push(c));
        socket.end();
      } catch {
        // the connection ended under the writer: the outcome says how
      }
    })();
  });
}

const POST = 'POST /v1/copies HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n';
const chunked = `${CHUNK.toString(16)}\r\n${'a'.repeat(CHUNK)}\r\n`;

describe('a refused request body closes its connection lingering', () => {
  let s: Started;
  before(async () => {
    s = await start({ maxBytes: 256 * 1024 * 1024, maxMs: 60_000 });
  });
  after(() => stop(s));

  it('a chunked body past the limit: a client that sends all of it before reading still gets the 413', async () => {
    const r = await exchange(s.port, { head: `${POST}Transfer-Encoding: chunked\r\n\r\n`, piece: chunked, maxBody: BIG, tail: '0\r\n\r\n' });
    assert.equal(r.error, undefined, `the client's writes failed: ${r.error?.code}`);
    assert.match(r.answer, /^HTTP\/1\.1 413 /);
    assert.match(r.answer, /connection: close/i);
    assert.match(r.answer, /the request body is larger than 65536 bytes/);
    assert.deepEqual(s.served, []);
  });

  it('a Content-Length past the limit: the client sends its whole declared body, then reads the 413', async () => {
    const size = BIG;
    const r = await exchange(s.port, { head: `${POST}Content-Length: ${size}\r\n\r\n`, piece: 'a'.repeat(CHUNK), maxBody: size, tail: '' });
    assert.equal(r.error, undefined, `the client's writes failed: ${r.error?.code}`);
    assert.match(r.answer, /^HTTP\/1\.1 413 /);
    assert.match(r.answer, new RegExp(`the request body is ${BIG} bytes; at most 65536 are accepted`));
  });

  it('a body that is not JSON (415) lingers too', async () => {
    const size = BIG;
    const head = `POST /v1/copies HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: ${size}\r\n\r\n`;
    const r = await exchange(s.port, { head, piece: 'a'.repeat(CHUNK), maxBody: size, tail: '' });
    assert.equal(r.error, undefined, `the client's writes failed: ${r.error?.code}`);
    assert.match(r.answer, /^HTTP\/1\.1 415 /);
  });

  it('nothing sent after the refused request is parsed: a pipelined request is not served', async () => {
    const tail = '0\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: localhost\r\n\r\nPOST /pipelined HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    const r = await exchange(s.port, { head: `${POST}Transfer-Encoding: chunked\r\n\r\n`, piece: chunked, maxBody: 4 * CHUNK, tail });
    assert.match(r.answer, /^HTTP\/1\.1 413 /);
    assert.equal(r.answer.match(/HTTP\/1\.1 /g)?.length, 1, r.answer);
    assert.deepEqual(s.served, []);
  });

  it('the service still serves new connections', async () => {
    const r = await exchange(s.port, { head: `${POST}Content-Length: 2\r\n\r\n{}`, piece: '', maxBody: 0, tail: '' });
    assert.match(r.answer, /^HTTP\/1\.1 200 /);
    assert.deepEqual(s.served, ['/v1/copies']);
  });
});

describe('a lingering connection is bounded', () => {
  it('a client that never stops sending is cut off once maxBytes more were read', async () => {
    const s = await start({ maxBytes: 256 * 1024, maxMs: 60_000 });
    try {
      const cap = 256 * 1024 * 1024;
      const r = await exchange(s.port, { head: `${POST}Transfer-Encoding: chunked\r\n\r\n`, piece: chunked, maxBody: cap, tail: '0\r\n\r\n' });
      assert.ok(r.error, 'the service ended the connection');
      assert.ok(r.written < cap, `the client wrote all ${r.written} bytes`);
    } finally {
      await stop(s);
    }
  });

  it('a client that drips its body and never closes is cut off after maxMs', async () => {
    const s = await start({ maxBytes: 4 * 1024 * 1024, maxMs: 100 });
    try {
      const r = await new Promise<{ answer: string; error?: NodeJS.ErrnoException }>((resolve) => {
        // half-open: the client keeps its side open when the service ends its own
        const socket = connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
        const got: Buffer[] = [];
        let error: NodeJS.ErrnoException | undefined;
        socket.setTimeout(60_000, () => socket.destroy(new Error('the service kept the connection open')));
        socket.on('data', (c: Buffer) => got.push(c));
        socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
        // a byte every 20 ms for as long as the connection takes them
        const drip = setInterval(() => socket.write('a'), 20);
        socket.on('close', () => {
          clearInterval(drip);
          resolve({ answer: Buffer.concat(got).toString('latin1'), ...(error ? { error } : {}) });
        });
        socket.write(`${POST}Content-Length: ${10 * LIMIT}\r\n\r\n`);
      });
      assert.match(r.answer, /^HTTP\/1\.1 413 /);
      assert.match(r.error?.message ?? '', /EPIPE|ECONNRESET/, 'the service reset the connection');
    } finally {
      await stop(s);
    }
  });
});
