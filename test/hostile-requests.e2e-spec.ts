/**
 * No caller can freeze or starve the service. Each hostile request below runs while
 * `/healthz` and an inspect by another principal are asked for; they must answer (generous
 * bounds, never a timing assertion), and the hostile request must end with a clear answer:
 * - an `images-by-semver` constraint that backtracked for minutes in JavaScript's engine;
 * - an `images-by-tag-regex` pattern that is expensive per character, over thousands of long tags;
 * - more archive inspects at once than SKIFF_ARCHIVE_INSPECT_CONCURRENCY allows.
 */
import assert from 'node:assert/strict';
import { createWriteStream, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { pack } from 'tar-stream';
import { makeLayer, pushImage, pushTags, sha256Hex } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { loopbackRegistriesConfig, startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const HOSTILE = 'hostile-token-0123456789abcdef';
const VICTIM = 'victim-token-0123456789abcdef';

let reg: TestRegistry;
let svc: SkiffService;
let storage: string;

async function as(token: string, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${svc.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>) },
    signal: init.signal ?? AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** /healthz and another principal's inspect both answer 200 (within a generous 30 s). */
async function stillResponsive(): Promise<void> {
  const [health, inspect] = await Promise.all([
    fetch(`${svc.url}/healthz`, { signal: AbortSignal.timeout(30_000) }),
    as(VICTIM, `/v1/images/inspect?image=docker://${reg.host}/team/app:1.0&tlsVerify=false&noTags=true`, { signal: AbortSignal.timeout(30_000) }),
  ]);
  assert.equal(health.status, 200);
  assert.equal(inspect.status, 200, JSON.stringify(inspect.body));
}

/** A docker-archive whose one layer is `layerBytes` of zeros, gzip-compressed (small file, slow to open). */
async function writeBigArchive(path: string, layerBytes: number): Promise<void> {
  const tar = pack();
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } });
  tar.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: 'config.json', RepoTags: ['big:1'], Layers: ['layer.tar'] }]));
  tar.entry({ name: 'config.json' }, config);
  const layer = tar.entry({ name: 'layer.tar', size: layerBytes });
  const done = pipeline(tar, createGzip({ level: 1 }), createWriteStream(path));
  const chunk = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < layerBytes; written += chunk.length) {
    if (!layer.write(chunk.subarray(0, Math.min(chunk.length, layerBytes - written)))) await new Promise<void>((r) => layer.once('drain', () => r()));
  }
  layer.end(() => undefined);
  tar.finalize();
  await done;
}

before(async () => {
  reg = await startRegistry({ mode: 'plain' });
  const layers = [makeLayer({ 'etc/app': 'x\n' })];
  await pushImage(reg, 'team/app', '1.0', { layers, os: 'linux', architecture: 'amd64', format: 'oci' });
  const many = await pushImage(reg, 'team/many', 'seed', { layers, os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushTags(reg, 'team/many', many, Array.from({ length: 6000 }, (_, i) => `${'ab'.repeat(58)}-${i}`), { via: 'storage' });
  const work = makeTmpDirSync('skiff-hostile-');
  storage = join(work, 'storage');
  const principals = join(work, 'principals.yaml');
  writeFileSync(
    principals,
    `principals:\n  - {name: hostile, tokenSha256: "${sha256Hex(HOSTILE)}", scopes: [images:read, images:write]}\n  - {name: victim, tokenSha256: "${sha256Hex(VICTIM)}", scopes: [images:read]}\n`,
  );
  svc = await startSkiff({ SKIFF_PRINCIPALS_FILE: principals, SKIFF_REGISTRIES_CONFIG: loopbackRegistriesConfig(), SKIFF_STORAGE_ROOT: storage, SKIFF_ARCHIVE_INSPECT_CONCURRENCY: '1' });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('hostile requests', () => {
  it('a catastrophic-backtracking semver constraint is refused at once, and the service stays responsive', async () => {
    const constraint = '1' + '   1'.repeat(13) + ' !';
    const yaml = `${reg.host}:\n  tls-verify: false\n  images-by-semver:\n    team/app: "${constraint}"\n`;
    const [sync] = await Promise.all([
      as(HOSTILE, '/v1/syncs', { method: 'POST', body: JSON.stringify({ sourceType: 'yaml', yaml, destination: `${reg.host}/mirror`, destinationType: 'docker' }) }),
      stillResponsive(),
    ]);
    assert.equal(sync.status, 400, JSON.stringify(sync.body));
    assert.match(String(sync.body['detail']), /improper constraint/);
    // a long valid constraint is accepted
    const long = Array.from({ length: 60 }, () => '>= 1.0.0').join(', ') + ', < 2';
    const ok = await as(HOSTILE, '/v1/syncs', {
      method: 'POST',
      headers: { prefer: 'wait=60' },
      body: JSON.stringify({ sourceType: 'yaml', yaml: `${reg.host}:\n  tls-verify: false\n  images-by-semver:\n    team/app: "${long}"\n`, destination: `${reg.host}/mirror`, destinationType: 'docker', destinationTlsVerify: false, dryRun: true }),
    });
    assert.equal(ok.body['state'], 'succeeded', JSON.stringify(ok.body));
    await stillResponsive();
  });

  it('an expensive tag regex over thousands of long tags runs without blocking anyone; too many selectors are refused', async () => {
    const yaml = `${reg.host}:\n  tls-verify: false\n  images-by-tag-regex:\n    team/many: "(a|b|c){1000}"\n`;
    const submitted = await as(HOSTILE, '/v1/syncs', {
      method: 'POST',
      body: JSON.stringify({ sourceType: 'yaml', yaml, destination: `${reg.host}/mirror`, destinationType: 'docker', destinationTlsVerify: false, dryRun: true }),
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = String(submitted.body['id']);
    let checksWhileRunning = 0;
    for (;;) {
      const op = await as(HOSTILE, `/v1/operations/${id}`);
      if (['succeeded', 'failed', 'cancelled'].includes(String(op.body['state']))) {
        assert.equal(op.body['state'], 'succeeded', JSON.stringify(op.body));
        assert.deepEqual((op.body['result'] as { images: unknown[] }).images, [], 'no tag has 1000 characters');
        break;
      }
      await stillResponsive();
      if (op.body['state'] === 'running') checksWhileRunning++;
    }
    assert.ok(checksWhileRunning > 0, 'the service answered while the sync matched tags');
    const selectors = Array.from({ length: 101 }, (_, i) => `    team/r${i}: "^v"`).join('\n');
    const tooMany = await as(HOSTILE, '/v1/syncs', {
      method: 'POST',
      body: JSON.stringify({ sourceType: 'yaml', yaml: `${reg.host}:\n  images-by-tag-regex:\n${selectors}\n`, destination: `${reg.host}/mirror`, destinationType: 'docker' }),
    });
    assert.equal(tooMany.status, 400);
    assert.match(String(tooMany.body['detail']), /101 images-by-tag-regex selectors; at most 100/);
  });

  it('archive inspects beyond SKIFF_ARCHIVE_INSPECT_CONCURRENCY get 503 with Retry-After; others are served meanwhile', async () => {
    const path = join(storage, 'big.tar.gz');
    await writeBigArchive(path, 384 * 1024 * 1024);
    const tmp = join(svc.dataDir, 'tmp');
    const opening = () => existsSync(tmp) && readdirSync(tmp).some((n) => n.startsWith('.skiff-tmp-') && n.endsWith('-docker-archive-src'));
    let refusedWhileBusy = 0;
    for (let attempt = 0; attempt < 3 && refusedWhileBusy === 0; attempt++) {
      const first = as(HOSTILE, '/v1/images/inspect?image=docker-archive:big.tar.gz');
      let settled = false;
      first.then(
        () => (settled = true),
        () => (settled = true),
      );
      while (!opening() && !settled) await new Promise((r) => setTimeout(r, 20));
      if (!settled) {
        const [second] = await Promise.all([as(VICTIM, '/v1/images/inspect?image=docker-archive:big.tar.gz'), stillResponsive()]);
        if (opening()) {
          // the first inspect was running for the whole of the second: the bound applied
          assert.equal(second.status, 503, JSON.stringify(second.body));
          assert.equal(second.body['code'], 'SERVICE_BUSY');
          assert.match(String(second.body['detail']), /SKIFF_ARCHIVE_INSPECT_CONCURRENCY/);
          assert.ok(Number(second.headers.get('retry-after')) >= 1);
          refusedWhileBusy++;
        }
      }
      const answer = await first;
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body['Architecture'], 'amd64');
    }
    assert.equal(refusedWhileBusy, 1, 'an archive inspect was refused while another ran');
    const after = await as(VICTIM, '/v1/images/inspect?image=docker-archive:big.tar.gz');
    assert.equal(after.status, 200, 'the slot is free again');
  });
});
