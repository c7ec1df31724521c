import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { MetricsService } from '../metrics/metrics.service';
import { requestObserver } from './request-observer';

describe('requestObserver', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const metrics = new MetricsService();
  const observe = requestObserver(pino({ level: 'info', redact: ['req.headers.authorization'] }, sink), metrics);
  let server: Server;
  let base: string;

  before(async () => {
    server = createServer((req, res) => {
      observe(req, res, () => {
        const url = req.url ?? '';
        if (url.startsWith('/route/')) (req as IncomingMessage & { route: { path: string } }).route = { path: '/route/:id' };
        if (url.startsWith('/hang')) return; // never answers: the client gives up
        res.statusCode = url.includes('fail') ? 502 : url.includes('missing') ? 404 : 200;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('logs one line per request at a level by status, without headers, and skips probes', async () => {
    lines.length = 0;
    for (const p of ['/route/1?x=y', '/route/missing?image=docker%3A%2F%2Fuser%3Apass-word%40registry.example%2Fapp', '/route/fail?image=docker://user:pass-word@registry.example/app', '/healthz', '/metrics']) {
      await (await fetch(base + p, { headers: { authorization: 'Bearer secret-token' } })).text();
    }
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      lines.map((l) => [l['level'], (l['req'] as { url: string }).url, (l['res'] as { statusCode: number }).statusCode, l['msg']]),
      [
        [30, '/route/1?x=y', 200, 'request completed'],
        [40, '/route/missing?image=docker://[redacted]@registry.example/app', 404, 'request completed'],
        [50, '/route/fail?image=docker://[redacted]@registry.example/app', 502, 'request completed'],
      ],
    );
    assert.ok(!JSON.stringify(lines).includes('secret-token'));
    assert.ok(!JSON.stringify(lines).includes('pass-word'), 'no userinfo of a reference in the query');
    const ids = lines.map((l) => (l['req'] as { id: number }).id);
    assert.equal(new Set(ids).size, ids.length, 'every request has its own id');
  });

  it('counts finished requests by route pattern (unmatched when no route took them)', async () => {
    await (await fetch(`${base}/route/2`)).text();
    await (await fetch(`${base}/elsewhere`)).text();
    const text = await metrics.registry.metrics();
    assert.match(text, /skiff_http_requests_total\{method="GET",route="\/route\/:id",status="200"\} [1-9]/);
    assert.match(text, /skiff_http_requests_total\{method="GET",route="unmatched",status="200"\} [1-9]/);
    assert.doesNotMatch(text, /route="\/route\/2"/);
  });

  it('logs a request the client gave up on as aborted', async () => {
    lines.length = 0;
    await assert.rejects(fetch(`${base}/hang`, { signal: AbortSignal.timeout(200) }));
    for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(lines[0]?.['msg'], 'request aborted');
    assert.equal(lines[0]?.['level'], 40);
  });
});
