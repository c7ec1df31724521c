import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { DomainError } from '../../errors/domain-error';
import { discardBody, dispatch, dispatchBuffered, errorBody, header, readLimited } from './registry-exchange';

let server: Server;
let origin: string;
const agent = new Agent();
const routes = new Map<string, RequestListener>();

before(async () => {
  server = createServer((req, res) => (routes.get(req.url ?? '') ?? ((_q, r) => r.writeHead(404).end()))(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('/small', (_q, r) => r.writeHead(200, { 'content-type': 'text/plain', 'x-many': ['a', 'b'] }).end('hello'));
  routes.set('/announced-big', (_q, r) => r.writeHead(200, { 'content-length': '100000' }).end(Buffer.alloc(100000)));
  routes.set('/chunked-big', (_q, r) => {
    r.writeHead(200);
    for (let i = 0; i < 10; i++) r.write(Buffer.alloc(10000));
    r.end();
  });
  routes.set('/error', (_q, r) => r.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN"}]}'));
  routes.set('/reset', (q) => q.socket.destroy());
  routes.set('/endless', (_q, r) => {
    r.writeHead(401);
    const chunk = Buffer.alloc(16 * 1024);
    const pump = (): void => {
      while (!r.destroyed && r.write(chunk));
      if (!r.destroyed) r.once('drain', pump);
    };
    r.on('close', () => r.off('drain', pump));
    pump();
  });
});

after(async () => {
  await agent.close();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('header', () => {
  it('reads the first value, case-insensitively by name', () => {
    assert.equal(header({ headers: { 'x-a': ['1', '2'] } }, 'X-A'), '1');
    assert.equal(header({ headers: { 'x-a': '3' } }, 'x-a'), '3');
    assert.equal(header({ headers: {} }, 'x-a'), undefined);
  });
});

describe('readLimited', () => {
  it('reads a body under the limit and refuses one over it', async () => {
    assert.equal((await readLimited(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 4, 'x')).toString(), 'abcd');
    await assert.rejects(readLimited(Readable.from([Buffer.alloc(3), Buffer.alloc(3)]), 4, 'reading it'), (e: unknown) => e instanceof DomainError && e.code === 'BODY_TOO_LARGE' && /reading it/.test(e.message));
  });
});

describe('dispatch (streamed) and dispatchBuffered', () => {
  it('streams an answer', async () => {
    const res = await dispatch(agent, { origin, path: '/small', method: 'GET' });
    assert.equal(res.status, 200);
    assert.equal(res.url, `${origin}/small`);
    assert.equal((await readLimited(res.body, 100, 'x')).toString(), 'hello');
  });

  it('buffers a small answer whole, and makes a stream of it only when asked', async () => {
    const res = await dispatchBuffered(agent, { origin, path: '/small', method: 'GET' }, 100);
    assert.equal(res.buffered?.bytes?.toString(), 'hello');
    assert.equal(header(res, 'content-type'), 'text/plain');
    assert.equal((await readLimited(res.body, 100, 'x')).toString(), 'hello');
    await discardBody(res);
  });

  it('stops an announced or actual body past the limit: status and headers, no bytes', async () => {
    for (const path of ['/announced-big', '/chunked-big']) {
      const res = await dispatchBuffered(agent, { origin, path, method: 'GET' }, 1000);
      assert.equal(res.status, 200);
      assert.equal(res.buffered?.bytes, undefined, path);
    }
  });

  it('rejects when the connection breaks, and at once when already aborted', async () => {
    await assert.rejects(dispatchBuffered(agent, { origin, path: '/reset', method: 'GET' }, 100));
    await assert.rejects(dispatchBuffered(agent, { origin, path: '/small', method: 'GET', signal: AbortSignal.abort() }, 100), (e: unknown) => e instanceof DomainError && e.code === 'ABORTED');
  });

  it('discardBody lets go of an endless body after DISCARD_LIMIT bytes instead of draining it forever', async () => {
    const res = await dispatch(agent, { origin, path: '/endless', method: 'GET' });
    assert.equal(res.status, 401);
    await discardBody(res);
    assert.equal(res.body.destroyed, true);
  });

  it('discardBody of a body already ended or destroyed resolves (no event is left to wait for)', async () => {
    const ended = await dispatch(agent, { origin, path: '/error', method: 'GET' });
    await ended.body.toArray();
    await new Promise((r) => setImmediate(r));
    await discardBody(ended);
    const destroyed = await dispatch(agent, { origin, path: '/error', method: 'GET' });
    destroyed.body.on('error', () => undefined);
    destroyed.body.destroy();
    await new Promise((r) => setImmediate(r));
    await discardBody(destroyed);
  });

  it('errorBody: the capped bytes of an error answer, streamed or buffered', async () => {
    const streamed = await dispatch(agent, { origin, path: '/error', method: 'GET' });
    assert.equal((await errorBody(streamed, 1000, 'x')).toString(), '{"errors":[{"code":"UNKNOWN"}]}');
    const buffered = await dispatchBuffered(agent, { origin, path: '/error', method: 'GET' }, 1000);
    assert.equal((await errorBody(buffered, 5, 'x')).toString(), '{"err');
  });
});
