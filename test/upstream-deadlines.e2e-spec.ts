/**
 * Deadlines that match reality: each upstream limit (connect, first byte, throughput floor in
 * both directions, the budget of one call's retries) fires against a real registry behind the
 * fault proxy (stall, trickle), and the problem names the limit and its setting; a transfer
 * that is slow but above the floor completes. Limits are configured small; every assertion is
 * about outcomes, never about how long something took. An upload skiff abandons is cancelled
 * with DELETE on its upload URL.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pseudoRandomBytes, pushImage, sha256Digest, type PushedImage } from './support/images';
import { type Operation, submit, waitForOperation } from './support/operations';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';

const T = { timeout: 90_000 };
let registry: TestRegistry;
let target: TestRegistry;
let proxy: FaultProxy;
let toTarget: FaultProxy;
/** Floor 64 KiB/s over 2 s, first byte 1.5 s, connect 1 s, one retry. */
let svc: SkiffService;
/** The same floor, a first-byte limit long enough not to fire while an upload is held up. */
let uploads: SkiffService;
/** A 6 s budget for one call of many retries, each attempt cut at 3 s without an answer (BUDGET_MS, ATTEMPT_MS). */
let budget: SkiffService;
const images = new Map<string, PushedImage>();
const FLOOR = 65_536;
/**
 * The `budget` service: a call budget of 6 s over attempts cut at 3 s (first byte), retried
 * after 0.2–0.4 s, then 0.4–0.6 s (registry-retry's backoff). The budget fires inside the
 * second attempt (started by 3.4 s, ending at 6.2 s at the earliest) unless this machine runs
 * more than 2.5 s late; had the budget not ended the call, the 10 retries would have (11
 * attempts, a first-byte failure). A retry whose backoff no longer fits in the budget is not
 * made, so a budget ending right after an attempt would answer with that attempt's failure.
 */
const BUDGET_MS = 6000;
const ATTEMPT_MS = 3000;

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const blobPath = (repo: string, digest: string) => new RegExp(`^/v2/${esc(repo)}/blobs/${digest}$`);
const manifestPath = (repo: string) => new RegExp(`^/v2/${esc(repo)}/manifests/`);

function inspect(service: SkiffService, image: string) {
  return service.api.GET('/v1/images/inspect', { params: { query: { image, tlsVerify: false, noTags: true } } });
}

async function copy(service: SkiffService, body: Record<string, unknown>): Promise<Operation> {
  const { res, op } = await submit(service, 'copies', { sourceTlsVerify: false, destinationTlsVerify: false, ...body });
  assert.equal(res.status, 202, JSON.stringify(op));
  return waitForOperation(service, op.id, 80);
}

before(async () => {
  [registry, target] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' })]);
  [proxy, toTarget] = await Promise.all([startFaultProxy(registry.url), startFaultProxy(target.url)]);
  const plan: Array<[string, number]> = [
    ['slow/config', 1000],
    ['slow/layer', 1_000_000],
    ['slow/moving', 1_000_000],
    ['slow/upload', 24 * 1024 * 1024],
    ['slow/budget', 1000],
    ['slow/abandon', 100_000],
  ];
  for (const [repo, size] of plan) {
    images.set(repo, await pushImage(registry, repo, 'v1', { layers: [makeLayer({ 'data.bin': pseudoRandomBytes(size, repo) })], config: { Env: [`R=${repo}`] }, os: 'linux', architecture: 'amd64', format: 'v2s2' }));
  }
  const floor = { SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND: String(FLOOR), SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS: '2' };
  [svc, uploads, budget] = await Promise.all([
    startSkiff({ ...floor, SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '1500', SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS: '1000', SKIFF_UPSTREAM_RETRIES: '1' }),
    startSkiff({ ...floor, SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '60000', SKIFF_UPSTREAM_RETRIES: '0' }),
    startSkiff({ SKIFF_UPSTREAM_TIMEOUT_MS: String(BUDGET_MS), SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: String(ATTEMPT_MS), SKIFF_UPSTREAM_RETRIES: '10' }),
  ]);
});

after(async () => {
  await Promise.all([svc?.stop(), uploads?.stop(), budget?.stop(), proxy?.close(), toTarget?.close()]);
  await stopAll();
});

describe('upstream deadlines', { concurrency: true }, () => {
  it('a config trickling below the floor → 504 UPSTREAM_TIMEOUT naming SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND', T, async () => {
    const repo = 'slow/config';
    proxy.addRule({ method: 'GET', path: blobPath(repo, images.get(repo)!.configDigest), times: Infinity, action: { kind: 'trickle', bytesPerSecond: 20 } });
    const { response, error } = await inspect(svc, `docker://${proxy.host}/${repo}:v1`);
    assert.equal(response.status, 504, JSON.stringify(error));
    const p = error as { code: string; detail: string; retryable: boolean };
    assert.equal(p.code, 'UPSTREAM_TIMEOUT');
    assert.equal(p.retryable, true);
    assert.match(p.detail, /stalled: \d+ bytes in the last 2 s, below the floor of 65536 bytes\/s \(SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND=65536 over SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS=2\)/);
  });

  it('a layer that stops after 64 KiB fails the copy with UPSTREAM_TIMEOUT naming the floor; nothing is written', T, async () => {
    const repo = 'slow/layer';
    const layer = images.get(repo)!.layers[0]!;
    proxy.addRule({ method: 'GET', path: blobPath(repo, layer.digest), times: Infinity, action: { kind: 'trickle', bytesPerSecond: 0, afterBytes: 65_536 } });
    const op = await copy(svc, { source: `docker://${proxy.host}/${repo}:v1`, destination: `docker://${target.host}/${repo}:v1`, retryTimes: 1 });
    assert.equal(op.state, 'failed', JSON.stringify(op));
    assert.equal(op.error?.code, 'UPSTREAM_TIMEOUT', JSON.stringify(op.error));
    assert.match(op.error!.detail, /SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND=65536/);
    const tag = await fetch(`${target.url}/v2/${repo}/manifests/v1`, { method: 'HEAD' });
    assert.equal(tag.status, 404, 'no tag points at a partial image');
  });

  it('a layer moving slowly but above the floor is copied whole', T, async () => {
    const repo = 'slow/moving';
    const layer = images.get(repo)!.layers[0]!;
    proxy.addRule({ method: 'GET', path: blobPath(repo, layer.digest), times: Infinity, action: { kind: 'trickle', bytesPerSecond: 4 * FLOOR, afterBytes: 16_384 } });
    const op = await copy(svc, { source: `docker://${proxy.host}/${repo}:v1`, destination: `docker://${target.host}/${repo}:v1` });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const got = await fetch(`${target.url}/v2/${repo}/blobs/${layer.digest}`);
    assert.equal(sha256Digest(Buffer.from(await got.arrayBuffer())), layer.digest);
    assert.ok(proxy.requestsTo(blobPath(repo, layer.digest)).some((q) => q.fault === 'trickle'), 'the layer did trickle');
  });

  it('a registry that stops reading an upload fails it with UPSTREAM_TIMEOUT naming the floor, and the upload session is cancelled with DELETE', T, async () => {
    const repo = 'slow/upload';
    const uploadPath = new RegExp(`^/v2/${esc(repo)}/blobs/uploads/[^?]+`);
    toTarget.addRule({ method: 'PUT', path: uploadPath, times: Infinity, action: { kind: 'trickle', bytesPerSecond: 8192, direction: 'request' } });
    toTarget.addRule({ method: 'PATCH', path: uploadPath, times: Infinity, action: { kind: 'trickle', bytesPerSecond: 8192, direction: 'request' } });
    const op = await copy(uploads, { source: `docker://${registry.host}/${repo}:v1`, destination: `docker://${toTarget.host}/${repo}:v1`, retryTimes: 0 });
    assert.equal(op.state, 'failed', JSON.stringify(op));
    assert.equal(op.error?.code, 'UPSTREAM_TIMEOUT', JSON.stringify(op.error));
    assert.match(op.error!.detail, /uploading a blob .*stalled: .*SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND=65536/);
    const big = images.get(repo)!.layers[0]!;
    const started = toTarget.requestsTo(new RegExp(`^/v2/${esc(repo)}/blobs/uploads/$`), 'POST').length;
    assert.ok(started >= 1);
    // the DELETE of each abandoned session arrives after the failure is reported: wait for it, bounded
    for (let i = 0; i < 100 && toTarget.requestsTo(uploadPath, 'DELETE').length < started; i++) await new Promise((r) => setTimeout(r, 100));
    const deletes = toTarget.requestsTo(uploadPath, 'DELETE');
    assert.ok(deletes.length >= 1, JSON.stringify(toTarget.requests.map((q) => `${q.method} ${q.path} ${q.status}`)));
    assert.equal((await fetch(`${target.url}/v2/${repo}/blobs/${big.digest}`, { method: 'HEAD' })).status, 404, 'nothing was published');
  });

  it('an upload the registry refuses at the end is cancelled with DELETE, and the copy reports the refusal', T, async () => {
    const repo = 'slow/abandon';
    const layer = images.get(repo)!.layers[0]!;
    const uploadPath = new RegExp(`^/v2/${esc(repo)}/blobs/uploads/[^?]+`);
    toTarget.addRule({ method: 'PUT', path: new RegExp(`^/v2/${esc(repo)}/blobs/uploads/.*digest=${esc(layer.digest).replace(':', '(:|%3A)')}`), times: Infinity, action: { kind: 'status', status: 500 } });
    const op = await copy(uploads, { source: `docker://${registry.host}/${repo}:v1`, destination: `docker://${toTarget.host}/${repo}:v1`, retryTimes: 0 });
    assert.equal(op.state, 'failed', JSON.stringify(op));
    assert.equal(op.error?.code, 'UPSTREAM_UNAVAILABLE', JSON.stringify(op.error));
    for (let i = 0; i < 100 && toTarget.requestsTo(uploadPath, 'DELETE').length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const deletes = toTarget.requestsTo(uploadPath, 'DELETE');
    assert.ok(deletes.length >= 1, 'the abandoned session was cancelled');
    assert.ok(deletes.every((d) => d.status === 204 || d.status === 404), JSON.stringify(deletes));
  });

  it('a registry that never answers fails within the call budget, retries included → 504 naming SKIFF_UPSTREAM_TIMEOUT_MS', T, async () => {
    const repo = 'slow/budget';
    const mark = proxy.requests.length;
    proxy.addRule({ method: 'GET', path: manifestPath(repo), times: Infinity, action: { kind: 'stall' } });
    const { response, error } = await inspect(budget, `docker://${proxy.host}/${repo}:v1`);
    assert.equal(response.status, 504, JSON.stringify(error));
    const p = error as { code: string; detail: string };
    assert.equal(p.code, 'UPSTREAM_TIMEOUT');
    assert.match(p.detail, new RegExp(`retries included \\(SKIFF_UPSTREAM_TIMEOUT_MS=${BUDGET_MS}\\)`));
    const attempts = proxy.requests.slice(mark).filter((q) => manifestPath(repo).test(q.path)).length;
    // a retry ran inside the budget; each attempt lasts at least its first-byte limit, so at most 3 start within it
    // however slow the machine (11 would mean the retries, not the budget, ended the call)
    assert.ok(attempts >= 2 && attempts <= BUDGET_MS / ATTEMPT_MS + 1, `${attempts} attempts: the budget, not the 10 retries, ended it`);
  });

  it('a registry whose TLS handshake never completes → 504 naming SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS', T, async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const { response, error } = await svc.api.GET('/v1/images/inspect', { params: { query: { image: `docker://127.0.0.1:${port}/x/y:v1`, noTags: true } } });
      assert.equal(response.status, 504, JSON.stringify(error));
      const p = error as { code: string; detail: string };
      assert.equal(p.code, 'UPSTREAM_TIMEOUT');
      assert.match(p.detail, /could not connect to 127\.0\.0\.1:\d+ within 1 s \(SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS=1000\)/);
      // on a loaded machine this process may see the answer before it accepted the retry's connection: wait for it, bounded
      for (let i = 0; i < 50 && sockets.size < 2; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(sockets.size, 2, 'one attempt and one retry');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('after the deadlines fired', () => {
  it('the services are healthy and logged no internal error', T, async () => {
    for (const s of [svc, uploads, budget]) {
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
      assert.deepEqual(s.log().split('\n').filter((l) => l.includes('"code":"INTERNAL"')), []);
    }
  });
});
