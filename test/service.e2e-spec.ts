/**
 * The service itself: health, readiness, metrics, the served and committed OpenAPI spec,
 * API-token protection, boot-time configuration checks, and the data directory lock.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    const check = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/openapi/generate-openapi.js'), '--check'], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    const docs = await fetch(`${svc.url}/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
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

  it('protects /v1/* and leaves probes open', async () => {
    const none = await fetch(`${guarded.url}/v1/credentials`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="skiff"');
    assert.equal(((await none.json()) as { code: string }).code, 'UNAUTHORIZED');
    const wrong = await fetch(`${guarded.url}/v1/credentials`, { headers: { authorization: 'Bearer token-cccccccccccccccccccccccc' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${guarded.url}/v1/credentials`, { headers: { authorization: `Bearer ${tokenA}` } });
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${guarded.url}/healthz`)).status, 200);
    assert.ok(!guarded.log().includes(tokenA), 'the API token appeared in the log');
  });
});

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
