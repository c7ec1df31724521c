/**
 * The service itself: health, readiness, metrics, the served and committed OpenAPI spec,
 * API-token protection, HTTP manners (request ids, CORS, the Host check), every refused
 * request as a problem (bodies, raw malformed HTTP), boot-time configuration checks, and the
 * data directory lock.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, startSkiff, type SkiffService } from './support/skiff-service';

let svc: SkiffService;
before(async () => {
  svc = await startSkiff();
});
after(async () => {
  await svc?.stop();
});

describe('service endpoints', () => {
  it('healthz and readyz', async () => {
    const h = await svc.api.GET('/healthz');
    assert.deepEqual(h.data, { status: 'ok' });
    const r = await svc.api.GET('/readyz');
    assert.equal(r.response.status, 200);
    assert.equal((r.data as { status: string }).status, 'ready');
  });

  it('metrics expose request and upstream-registry series', async () => {
    await fetch(`${svc.url}/v1/images/inspect?image=docker://127.0.0.1:1/x:y&tlsVerify=false`);
    const res = await fetch(`${svc.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /skiff_http_requests_total\{method="GET",route="\/v1\/images\/inspect",status="503"\} 1/);
    // 127.0.0.1:1 is not in a registries file: its requests are counted under "other" (bounded labels)
    assert.match(text, /skiff_upstream_requests_total\{registry="other",operation="ping",method="GET",status="error"\}/);
    assert.match(text, /skiff_process_cpu_seconds_total/);
  });

  it('serves the committed OpenAPI document, and the code has not drifted from it', async () => {
    const committed = JSON.parse(readFileSync(join(REPO_ROOT, 'openapi/openapi.json'), 'utf8')) as unknown;
    const served = (await (await fetch(`${svc.url}/openapi.json`)).json()) as unknown;
    assert.deepEqual(served, committed);
    const docs = await fetch(`${svc.url}/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
    // Last: spawnSync blocks this process for seconds, longer than the server keeps an idle
    // connection, so a request after it could go out on a socket the server has just closed.
    const check = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/openapi/generate-openapi.js'), '--check'], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  it('unknown routes are problem+json 404s', async () => {
    const res = await fetch(`${svc.url}/v1/nothing-here`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  });
});

describe('API tokens', () => {
  const tokenA = 'token-aaaaaaaaaaaaaaaaaaaaaaaa';
  let guarded: SkiffService;
  before(async () => {
    guarded = await startSkiff({ SKIFF_API_TOKENS: `${tokenA},token-bbbbbbbbbbbbbbbbbbbbbbbb` });
  });
  after(async () => {
    await guarded?.stop();
  });

  it('protects everything but the probes and docs, in any spelling; /metrics needs a token too', async () => {
    const none = await fetch(`${guarded.url}/v1/credentials`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="skiff"');
    assert.equal(((await none.json()) as { code: string }).code, 'UNAUTHORIZED');
    const wrong = await fetch(`${guarded.url}/v1/credentials`, { headers: { authorization: 'Bearer token-cccccccccccccccccccccccc' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${guarded.url}/v1/credentials`, { headers: { authorization: `Bearer ${tokenA}` } });
    assert.equal(ok.status, 200);
    // Express matched /V1/… case-insensitively while the old guard compared a lower-case prefix.
    for (const p of ['/V1/credentials', '/V1/operations', '/v1/credentials/', '/metrics', '/v1/nothing']) {
      assert.equal((await fetch(`${guarded.url}${p}`)).status, 401, p);
    }
    assert.equal((await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${tokenA}` } })).status, 200);
    assert.equal((await fetch(`${guarded.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${guarded.url}/docs`)).status, 200);
    assert.ok(!guarded.log().includes(tokenA), 'the API token appeared in the log');
  });
});

describe('HTTP manners', () => {
  it('every answer carries X-Request-Id: the caller\'s when sane, else a generated one; the access log has it', async () => {
    const kept = await fetch(`${svc.url}/healthz`, { headers: { 'x-request-id': 'portal:req-1/2' } });
    assert.equal(kept.headers.get('x-request-id'), 'portal:req-1/2');
    for (const bad of ['x'.repeat(200), 'has space', '-leading-dash', 'é']) {
      const res = await fetch(`${svc.url}/v1/nothing-here`, { headers: { 'x-request-id': encodeURIComponent(bad) === bad ? bad : 'a b' } });
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(((await res.json()) as { requestId: string }).requestId, id);
    }
    await fetch(`${svc.url}/v1/nothing-here`, { headers: { 'x-request-id': 'trace-me-123' } });
    // the log reaches the file through the service's stdout: wait for it, boundedly
    for (let i = 0; i < 100 && !/"id":"trace-me-123"/.test(svc.log()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(svc.log(), /"id":"trace-me-123"/);
  });

  it('without tokens, only requests addressed to loopback names or SKIFF_HOST are answered (DNS rebinding)', async () => {
    for (const host of ['localhost', `localhost:${new URL(svc.url).port}`, '127.0.0.1', '[::1]:80']) {
      assert.equal((await rawHttp(svc, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).status, 200, host);
    }
    for (const host of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example', 'localhost.evil.example']) {
      const r = await rawHttp(svc, `GET /v1/credentials HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 403, host);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'FORBIDDEN');
    }
  });

  it('sends no CORS headers unless origins are configured; then answers preflights and exposes the useful headers', async () => {
    const plain = await fetch(`${svc.url}/v1/credentials`, { headers: { origin: 'https://portal.example' } });
    assert.equal(plain.headers.get('access-control-allow-origin'), null);
    const cors = await startSkiff({ SKIFF_CORS_ORIGINS: 'https://portal.example', SKIFF_API_TOKENS: 'token-dddddddddddddddddddddddd' });
    try {
      const preflight = await fetch(`${cors.url}/v1/copies`, {
        method: 'OPTIONS',
        headers: { origin: 'https://portal.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://portal.example');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
      const call = await fetch(`${cors.url}/v1/credentials`, { headers: { origin: 'https://portal.example', authorization: 'Bearer token-dddddddddddddddddddddddd' } });
      assert.equal(call.status, 200);
      assert.equal(call.headers.get('access-control-allow-origin'), 'https://portal.example');
      assert.match(call.headers.get('access-control-expose-headers') ?? '', /X-Request-Id.*Location.*Retry-After/);
      const stranger = await fetch(`${cors.url}/v1/copies`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      assert.equal(stranger.status, 401, 'a preflight from another origin is an ordinary request');
      assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    } finally {
      await cors.stop();
    }
  });

  it('mutating calls are audited on stdout by default, as "log":"audit" lines of the local user', async () => {
    const res = await fetch(`${svc.url}/v1/images?image=oci:no-such-layout:x`, { method: 'DELETE', headers: { 'x-request-id': 'audit-me-1' } });
    assert.equal(res.status, 404);
    await new Promise((r) => setTimeout(r, 100));
    const line = svc
      .log()
      .split('\n')
      .filter((l) => l.includes('"log":"audit"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['requestId'] === 'audit-me-1');
    assert.ok(line, 'an audit line');
    assert.equal(line['principal'], 'local');
    assert.equal(line['action'], 'DELETE /v1/images');
    assert.equal(line['outcome'], 'refused');
    assert.deepEqual(line['references'], { image: 'oci:no-such-layout:x' });
  });

  it('metric labels stay bounded: raw paths never become labels', async () => {
    for (let i = 0; i < 30; i++) await (await fetch(`${svc.url}/v1/random-${i}-${Math.random()}?x=${i}`)).text();
    await (await fetch(`${svc.url}/v1/operations/01JDQ3X4M5N6P7Q8R9S0T1V2W3`)).text();
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    assert.doesNotMatch(text, /random-/);
    assert.doesNotMatch(text, /01JDQ3X4M5N6P7Q8R9S0T1V2W3/);
    assert.match(text, /skiff_http_requests_total\{method="GET",route="unmatched",status="404"\}/);
    assert.match(text, /route="\/v1\/operations\/:id"/);
  });
});

describe('every refused request is a problem', () => {
  // An oversized body is refused with Connection: close while the body still arrives: the kernel then resets the
  // connection, which only a client talking to the service itself sees as the service sent it (not through the contract tap).
  const post = (body: string | Buffer, headers: Record<string, string>, base = svc.url) => fetch(`${base}/v1/copies`, { method: 'POST', headers, body });
  const problem = async (res: Response) => {
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    return (await res.json()) as { code: string; detail: string; status: number };
  };

  it('a body that is not JSON is 415, whatever it says', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1']) {
      const res = await post('source=docker://a/b:1', { 'content-type': type });
      assert.equal(res.status, 415, type);
      const p = await problem(res);
      assert.equal(p.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(p.detail, /must be JSON/);
    }
    const none = await fetch(`${svc.url}/v1/copies`, { method: 'POST', body: new Uint8Array(Buffer.from('{"source":"x"}')) });
    assert.equal(none.status, 415);
  });

  it('invalid UTF-8, deep nesting, too many members, __proto__ and broken JSON are 400; an oversized body is 413', async () => {
    const json = { 'content-type': 'application/json' };
    const cases: [string | Buffer, number, RegExp][] = [
      [Buffer.concat([Buffer.from('{"source":"docker://a/b'), Buffer.from([0xff, 0xfe]), Buffer.from(':1","destination":"oci:x"}')]), 400, /not valid UTF-8/],
      ['['.repeat(100_000) + ']'.repeat(100_000), 400, /deeper than 32 levels/],
      ['{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000), 400, /deeper than 32 levels/],
      ['{"__proto__":{"polluted":true},"source":"x","destination":"y"}', 400, /"__proto__" is not allowed/],
      [JSON.stringify(Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, 1]))), 400, /more than 1000 members/],
      [JSON.stringify({ source: 'x', destination: 'y', additionalTags: Array.from({ length: 900 }, () => Array.from({ length: 20 }, () => 1)) }), 400, /more than 10000 values/],
      ['{"source":', 400, /not valid JSON/],
      ['{"source":"' + 'a'.repeat(1024 * 1024) + '"}', 413, /at most 1048576/],
    ];
    for (const [body, status, detail] of cases) {
      const res = await post(body, json, status === 413 ? svc.directUrl : svc.url);
      assert.equal(res.status, status, String(detail));
      assert.match((await problem(res)).detail, detail);
    }
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200, 'still up');
    assert.doesNotMatch(svc.log(), /Maximum call stack|RangeError/);
    const manyParams = await fetch(`${svc.url}/v1/images/inspect?image=docker://a/b:1&${Array.from({ length: 100 }, (_, i) => `k${i}=1`).join('&')}`);
    assert.equal(manyParams.status, 400);
    assert.match((await problem(manyParams)).detail, /101 parameters; at most 64/);
  });

  it('a chunked body (no Content-Length) is counted while it arrives: 413 once past the limit, not buffered to its end', async () => {
    const { port } = new URL(svc.directUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      const got: Buffer[] = [];
      let sent = 0;
      socket.setTimeout(20_000, () => socket.destroy(new Error('no answer')));
      socket.on('data', (c: Buffer) => got.push(c));
      // the service half-closes after its answer and drops what still comes for a while
      // (lingering close): a reset can come only after the answer
      socket.on('error', (e) => (got.length > 0 ? undefined : reject(e)));
      socket.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
      socket.write('POST /v1/copies HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = `10000\r\n${'a'.repeat(0x10000)}\r\n`;
      // up to 64 MiB, stopped as soon as the answer arrives: the service must answer long before the end
      const pump = (): void => {
        while (got.length === 0 && !socket.destroyed && sent < 1024) {
          sent++;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /the request body is larger than 1048576 bytes/);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
  });

  it('raw malformed HTTP gets problem+json answers where Node lets the server answer', async () => {
    const cases: [string, number, string][] = [
      ['GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ' + 'a'.repeat(20 * 1024) + '\r\n\r\n', 431, 'HEADERS_TOO_LARGE'],
      ['GET /' + 'a'.repeat(20 * 1024) + ' HTTP/1.1\r\nHost: localhost\r\n\r\n', 431, 'HEADERS_TOO_LARGE'],
      ['BREW /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['POST /v1/copies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello', 400, 'MALFORMED_REQUEST'],
      ['POST /v1/copies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello', 400, 'MALFORMED_REQUEST'],
      ['POST /v1/copies HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'MALFORMED_REQUEST'],
      ['GET %2Fv1%2Fcredentials HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['\x00\x01\x02garbage\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ];
    for (const [raw, status, code] of cases) {
      const r = await rawHttp(svc, raw);
      assert.equal(r.status, status, JSON.stringify(raw.slice(0, 40)));
      assert.match(r.headers, /content-type: application\/problem\+json/i);
      assert.match(r.headers, /x-request-id: [0-9a-f-]{36}/i);
      const p = JSON.parse(r.body) as { code: string; status: number; requestId: string };
      assert.equal(p.code, code);
      assert.equal(p.status, status);
    }
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
  });
});

/** Sends `raw` bytes on a new connection and reads the whole answer (the server closes it). */
function rawHttp(service: SkiffService, raw: string): Promise<{ status: number; headers: string; body: string }> {
  const { port } = new URL(service.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, headers: split >= 0 ? text.slice(0, split) : text, body: split >= 0 ? text.slice(split + 4) : '' });
    });
    socket.write(Buffer.from(raw, 'latin1'));
  });
}

describe('configuration is validated at boot', () => {
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [join(REPO_ROOT, 'dist/main.js')], { env: { PATH: process.env['PATH'] ?? '', SKIFF_DATA_DIR: '/tmp/skiff-never', ...env }, encoding: 'utf8', timeout: 20_000 });

  it('refuses a non-loopback address without API tokens', () => {
    const r = run({ SKIFF_HOST: '0.0.0.0' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /refusing to listen on non-loopback address 0\.0\.0\.0 without SKIFF_API_TOKENS/);
  });

  it('names the offending variable', () => {
    assert.match(run({ SKIFF_PORT: 'eighty' }).stderr, /SKIFF_PORT must be an integer/);
    assert.match(run({ SKIFF_LOG_LEVEL: 'loud' }).stderr, /SKIFF_LOG_LEVEL must be one of/);
    assert.match(run({ SKIFF_REGISTRIES_CONFIG: '/nonexistent.yaml' }).stderr, /cannot read SKIFF_REGISTRIES_CONFIG file/);
  });
});

describe('one service per data directory', () => {
  it('a second service on a data directory in use refuses to start, saying which process holds it', async () => {
    const first = await startSkiff();
    try {
      const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/main.js')], {
        env: { PATH: process.env['PATH'] ?? '', SKIFF_DATA_DIR: first.dataDir, SKIFF_PORT: '0' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`the data directory .* is in use by process ${first.pid}`));
      assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first service is untouched');
    } finally {
      await first.stop();
    }
  });

  it('a restart after a crash takes the data directory over and empties what the crash left in tmp/; a graceful stop releases it', async () => {
    const first = await startSkiff();
    await first.kill();
    const leftover = join(first.dataDir, 'tmp', 'staged-by-a-crashed-process');
    mkdirSync(leftover, { recursive: true });
    writeFileSync(join(leftover, 'layer.tar'), Buffer.alloc(1024));
    const again = await startSkiff({}, { dataDir: first.dataDir });
    try {
      assert.equal(existsSync(leftover), false);
      assert.equal(readFileSync(join(first.dataDir, 'skiff.pid'), 'utf8').trim(), String(again.pid));
    } finally {
      await again.stop({ keepData: true });
    }
    assert.equal(existsSync(join(first.dataDir, 'skiff.pid')), false, 'a graceful stop releases the data directory');
    rmSync(first.dataDir, { recursive: true, force: true });
  });
});
