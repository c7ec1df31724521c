/**
 * POST /v1/copies and the operations that track them, against two real registries (and the
 * authenticated setups), with skopeo verifying every destination.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, MediaTypes, pseudoRandomBytes, pushImage, pushMultiArch, putManifest, sha256Digest, type PushedImage } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo, skopeoManifestDigest } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Operation, submit, waitForOperation } from './support/operations';

let src: TestRegistry;
let dst: TestRegistry;
let basic: TestRegistry;
let token: TestRegistry;
let svc: SkiffService;
let single: PushedImage;
let big: PushedImage;
let regConf: string;

type Op = Operation<{ digest: string; mediaType: string; manifests: { digest: string; mediaType: string; platform?: { architecture: string } }[] }>;

const S = (r: string) => `docker://${src.host}/${r}`;
const D = (r: string) => `docker://${dst.host}/${r}`;
const plainTls = { sourceTlsVerify: false, destinationTlsVerify: false };

async function post(service: SkiffService, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const { res, op } = await submit<NonNullable<Op['result']>>(service, 'copies', body, { headers });
  return { res, body: op };
}

const waitDone = (service: SkiffService, id: string, seconds = 120): Promise<Op> => waitForOperation(service, id, seconds);

async function copy(body: Record<string, unknown>, service = svc): Promise<Op> {
  const { res, body: op } = await post(service, body);
  assert.equal(res.status, 202, JSON.stringify(op));
  assert.equal(res.headers.get('location'), `/v1/operations/${op.id}`);
  return waitDone(service, op.id);
}

before(async () => {
  [src, dst, basic, token] = await Promise.all([
    startRegistry({ mode: 'plain' }),
    startRegistry({ mode: 'plain', deleteEnabled: true }),
    startRegistry({ mode: 'basic' }),
    startRegistry({ mode: 'token' }),
  ]);
  const base = makeLayer({ 'etc/base': pseudoRandomBytes(200_000, 'base') });
  single = await pushImage(src, 'team/app', '1.0', {
    layers: [base, makeLayer({ 'app/bin': pseudoRandomBytes(100_000, 'app') })],
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
    config: { Env: ['A=1'], Cmd: ['/app/bin'], Labels: { team: 'platform' } },
  });
  await pushMultiArch(src, 'team/multi', 'latest', {
    format: 'oci',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
  });
  // Large enough that cancelling and killing land mid-copy.
  big = await pushImage(src, 'team/big', 'v1', {
    layers: Array.from({ length: 4 }, (_, i) => makeLayer({ [`blob${i}`]: pseudoRandomBytes(24 * 1024 * 1024, `big${i}`) })),
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
  });
  const dir = makeTmpDirSync('skiff-copy-conf-');
  regConf = join(dir, 'registries.yaml');
  writeFileSync(regConf, `registries:\n  - location: "${basic.host}"\n    ca: ${basic.caFile}\n  - location: "${token.host}"\n    ca: ${token.caFile}\n`);
  svc = await startSkiff({ SKIFF_REGISTRIES_CONFIG: regConf });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('copy between registries', () => {
  it('copies a single image unchanged; skopeo sees the same digest; a second copy skips every blob', async () => {
    const op = await copy({ source: S('team/app:1.0'), destination: D('team/app:1.0'), ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.result!.digest, single.digest);
    assert.equal(await skopeoManifestDigest(D('team/app:1.0')), single.digest);
    assert.equal(op.progress['blobsDone'], 3);
    assert.equal(op.progress['bytesDone'], op.progress['bytesTotal']);
    const again = await copy({ source: S('team/app:1.0'), destination: D('team/app:1.0'), ...plainTls });
    assert.equal(again.state, 'succeeded');
    assert.equal(again.progress['blobsSkipped'], 3);
    assert.equal(again.progress['bytesDone'], 0);
  });

  it('mounts blobs across repositories of the same registry', async () => {
    const op = await copy({ source: D('team/app:1.0'), destination: D('other/app:1.0'), ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.progress['blobsMounted'], 3);
    assert.equal(await skopeoManifestDigest(D('other/app:1.0')), single.digest);
  });

  it('multiArch=all copies every instance and the index, digests preserved', async () => {
    const op = await copy({ source: S('team/multi:latest'), destination: D('team/multi:all'), multiArch: 'all', preserveDigests: true, ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const indexDigest = await skopeoManifestDigest(S('team/multi:latest'));
    assert.equal(op.result!.digest, indexDigest);
    assert.equal(await skopeoManifestDigest(D('team/multi:all')), indexDigest);
    assert.equal(op.result!.manifests.length, 3);
    for (const m of op.result!.manifests) assert.equal(await skopeoManifestDigest(D(`team/multi@${m.digest}`)), m.digest);
  });

  it('multiArch=system and platform write the chosen instance, as skopeo does', async () => {
    for (const [tag, platform, skopeoArgs] of [
      ['sys', undefined, []],
      ['arm64', { architecture: 'arm64' }, ['--override-arch', 'arm64']],
      ['armv7', { architecture: 'arm', variant: 'v7' }, ['--override-arch', 'arm', '--override-variant', 'v7']],
    ] as const) {
      const op = await copy({ source: S('team/multi:latest'), destination: D(`team/multi:${tag}`), ...(platform ? { platform } : {}), ...plainTls });
      assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      const r = await skopeo([...skopeoArgs, 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', S('team/multi:latest'), D(`skopeo/multi:${tag}`)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await skopeoManifestDigest(D(`team/multi:${tag}`)), await skopeoManifestDigest(D(`skopeo/multi:${tag}`)), tag);
    }
  });

  it('multiArch=index-only fails clearly without the instances and works once they are there', async () => {
    const missing = await copy({ source: S('team/multi:latest'), destination: D('fresh/multi:idx'), multiArch: 'index-only', ...plainTls });
    assert.equal(missing.state, 'failed');
    assert.equal(missing.error!.code, 'IMAGE_NOT_FOUND');
    assert.match(missing.error!.detail, /index-only/);
    assert.equal(await skopeoManifestDigest(D('fresh/multi:idx')), undefined);
    const ok = await copy({ source: S('team/multi:latest'), destination: D('team/multi:idx'), multiArch: 'index-only', ...plainTls });
    assert.equal(ok.state, 'succeeded', JSON.stringify(ok.error));
    assert.equal(await skopeoManifestDigest(D('team/multi:idx')), await skopeoManifestDigest(S('team/multi:latest')));
  });

  it('format conversion gives the same bytes as skopeo --format', async () => {
    for (const [format, all] of [
      ['oci', false],
      ['v2s2', true],
    ] as const) {
      const srcRef = all ? S('team/multi:latest') : S('team/app:1.0');
      const op = await copy({ source: srcRef, destination: D(`conv/${format}:x`), format, ...(all ? { multiArch: 'all' } : {}), ...plainTls });
      assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      const r = await skopeo(['copy', '--format', format, ...(all ? ['--all'] : []), '--src-tls-verify=false', '--dest-tls-verify=false', srcRef, D(`skconv/${format}:x`)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await skopeoManifestDigest(D(`conv/${format}:x`)), await skopeoManifestDigest(D(`skconv/${format}:x`)), format);
      const cfg = await skopeo(['inspect', '--config', '--tls-verify=false', D(`conv/${format}:x`)]);
      assert.equal(cfg.code, 0, cfg.stderr);
    }
  });

  it('format v2s2 converts an OCI image that declares an artifactType beside its image config, as skopeo does (the type is dropped)', async () => {
    const img = await pushImage(src, 'typed/app', 'v1', { layers: [makeLayer({ typed: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci', annotations: { 'org.example': 'a' } });
    const declared = { ...(JSON.parse(img.manifestBytes.toString('utf8')) as Record<string, unknown>), artifactType: 'application/vnd.example+type' };
    await putManifest(src, 'typed/app', 'v1', Buffer.from(JSON.stringify(declared)), MediaTypes.ociManifest);
    const op = await copy({ source: S('typed/app:v1'), destination: D('typed/app:v2s2'), format: 'v2s2', ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const r = await skopeo(['copy', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', S('typed/app:v1'), D('typed/skopeo:v2s2')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(op.result!.digest, await skopeoManifestDigest(D('typed/skopeo:v2s2')));
    assert.equal(op.result!.mediaType, MediaTypes.dockerManifest);
  });

  it('multiArch=all with format v2s2: an OCI index instance without platform gets the host platform in the list, as skopeo writes it', async () => {
    const img = await pushImage(src, 'noplat/app', 'v1', { layers: [makeLayer({ noplat: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    const index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: img.mediaType, digest: img.digest, size: img.size }] };
    await putManifest(src, 'noplat/app', 'idx', Buffer.from(JSON.stringify(index)), MediaTypes.ociIndex);
    const op = await copy({ source: S('noplat/app:idx'), destination: D('noplat/app:v2s2'), format: 'v2s2', multiArch: 'all', ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const r = await skopeo(['copy', '--all', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', S('noplat/app:idx'), D('noplat/skopeo:v2s2')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(op.result!.digest, await skopeoManifestDigest(D('noplat/skopeo:v2s2')));
  });

  it('an index whose platform lacks architecture is read as skopeo reads it: copied with multiArch=all and as a v2s2 list, no instance chosen for the system', async () => {
    const img = await pushImage(src, 'osonly/app', 'v1', { layers: [makeLayer({ osonly: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    const index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: img.mediaType, digest: img.digest, size: img.size, platform: { os: 'linux' } }] };
    const indexDigest = await putManifest(src, 'osonly/app', 'idx', Buffer.from(JSON.stringify(index)), MediaTypes.ociIndex);
    const all = await copy({ source: S('osonly/app:idx'), destination: D('osonly/app:all'), multiArch: 'all', ...plainTls });
    assert.equal(all.state, 'succeeded', JSON.stringify(all.error));
    assert.equal(all.result!.digest, indexDigest);
    const list = await copy({ source: S('osonly/app:idx'), destination: D('osonly/app:v2s2'), multiArch: 'all', format: 'v2s2', ...plainTls });
    assert.equal(list.state, 'succeeded', JSON.stringify(list.error));
    const r = await skopeo(['copy', '--all', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', S('osonly/app:idx'), D('osonly/skopeo:v2s2')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(list.result!.digest, await skopeoManifestDigest(D('osonly/skopeo:v2s2')));
    const system = await copy({ source: S('osonly/app:idx'), destination: D('osonly/app:one'), ...plainTls });
    assert.equal(system.state, 'failed');
    assert.equal(system.error?.code, 'PLATFORM_NOT_FOUND', JSON.stringify(system.error));
  });

  it('an OCI manifest with a Docker config is an artifact, as skopeo takes it: inspect and format v2s2 are refused, a plain copy keeps it unchanged', async () => {
    const img = await pushImage(src, 'dockercfg/app', 'v1', { layers: [makeLayer({ dockercfg: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    const doc = JSON.parse(img.manifestBytes.toString('utf8')) as { config: Record<string, unknown> };
    doc.config['mediaType'] = MediaTypes.dockerConfig;
    const digest = await putManifest(src, 'dockercfg/app', 'v1', Buffer.from(JSON.stringify(doc)), MediaTypes.ociManifest);
    const theirs = await skopeo(['inspect', '--tls-verify=false', S('dockercfg/app:v1')]);
    assert.match(theirs.stderr, /unsupported image-specific operation on artifact/);
    const ours = await svc.api.GET('/v1/images/inspect', { params: { query: { image: S('dockercfg/app:v1'), tlsVerify: false } } });
    assert.equal(ours.response.status, 400, JSON.stringify(ours.error));
    assert.match(String((ours.error as { detail?: string }).detail), /unsupported image-specific operation on artifact/);
    const refused = await copy({ source: S('dockercfg/app:v1'), destination: D('dockercfg/app:v2s2'), format: 'v2s2', ...plainTls });
    assert.equal(refused.error?.code, 'OPERATION_NOT_SUPPORTED', JSON.stringify(refused.error));
    const r = await skopeo(['copy', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', S('dockercfg/app:v1'), D('dockercfg/skopeo:v2s2')]);
    assert.notEqual(r.code, 0);
    const kept = await copy({ source: S('dockercfg/app:v1'), destination: D('dockercfg/app:v1'), ...plainTls });
    assert.equal(kept.state, 'succeeded', JSON.stringify(kept.error));
    assert.equal(kept.result!.digest, digest);
  });

  it('recompresses layers with zstd; skopeo reads the result', async () => {
    const op = await copy({ source: S('team/app:1.0'), destination: D('zstd/app:1.0'), compression: { format: 'zstd', level: 3 }, ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.result!.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const raw = JSON.parse((await skopeo(['inspect', '--raw', '--tls-verify=false', D('zstd/app:1.0')])).stdout) as { layers: { mediaType: string }[] };
    assert.deepEqual(raw.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.v1.tar+zstd']);
    const out = makeTmpDirSync('skiff-zstd-');
    const r = await skopeo(['copy', '--src-tls-verify=false', D('zstd/app:1.0'), `dir:${out}/img`]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('refuses contradictory options and bad references at submit time', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ source: S('team/app:1.0'), destination: D('x/y:z'), preserveDigests: true, format: 'oci' }, 400, 'INVALID_ARGUMENT'],
      [{ source: 'docker://team/UPPER:x', destination: D('x/y:z') }, 400, 'INVALID_REFERENCE'],
      [{ source: S('team/app:1.0'), destination: 'oci:../escape:x' }, 400, 'PATH_ESCAPES_STORAGE_ROOT'],
      [{ source: S('team/app:1.0'), destination: D('x/y:z'), multiArch: 'some' }, 400, 'INVALID_ARGUMENT'],
      [{ source: S('team/app:1.0'), destination: D('x/y:z'), additionalTags: ['a:b'] }, 400, 'INVALID_ARGUMENT'],
    ];
    for (const [body, status, code] of cases) {
      const { res, body: p } = await post(svc, body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(p.code, code, JSON.stringify(p));
    }
  });
});

describe('operations', () => {
  it('Idempotency-Key returns the same operation, and 422 for a different body', async () => {
    const body = { source: S('team/app:1.0'), destination: D('idem/app:1.0'), ...plainTls };
    const a = await post(svc, body, { 'Idempotency-Key': 'key-1' });
    const b = await post(svc, body, { 'Idempotency-Key': 'key-1' });
    assert.equal(a.body.id, b.body.id);
    const c = await post(svc, { ...body, destination: D('idem/other:1.0') }, { 'Idempotency-Key': 'key-1' });
    assert.equal(c.res.status, 422);
    await waitDone(svc, a.body.id);
  });

  it('Prefer: wait answers 200 with the finished operation', async () => {
    const { res, body } = await post(svc, { source: S('team/app:1.0'), destination: D('prefer/app:1.0'), ...plainTls }, { Prefer: 'wait=60' });
    assert.equal(res.status, 200);
    assert.equal(body.state, 'succeeded');
  });

  it('streams progress as server-sent events', async () => {
    const { body: op } = await post(svc, { source: S('team/app:1.0'), destination: D('sse/app:1.0'), ...plainTls });
    const res = await fetch(`${svc.url}/v1/operations/${op.id}/events`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await res.text();
    assert.match(text, /^id: \d+$/m);
    assert.match(text, /"state":"succeeded"/);
  });

  it('cancel mid-copy stops at once and leaves no tag', async () => {
    const { body: op } = await post(svc, { source: S('team/big:v1'), destination: D('cancel/big:v1'), ...plainTls });
    for (let i = 0; i < 200; i++) {
      const cur = (await (await fetch(`${svc.url}/v1/operations/${op.id}`)).json()) as Op;
      if (cur.state === 'running' && Number(cur.progress['bytesDone']) > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const c = await fetch(`${svc.url}/v1/operations/${op.id}/cancel`, { method: 'POST' });
    assert.equal(c.status, 202);
    const done = await waitDone(svc, op.id, 30);
    assert.equal(done.state, 'cancelled');
    assert.equal(await skopeoManifestDigest(D('cancel/big:v1')), undefined);
    const del = await fetch(`${svc.url}/v1/operations/${op.id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await fetch(`${svc.url}/v1/operations/${op.id}`)).status, 404);
  });

  it('a process killed mid-copy resumes the operation after restart', async () => {
    const own = await startSkiff({});
    const { body: op } = await post(own, { source: S('team/big:v1'), destination: D('restart/big:v1'), ...plainTls });
    let seen: Op | undefined;
    for (let i = 0; i < 400; i++) {
      seen = (await (await fetch(`${own.url}/v1/operations/${op.id}`)).json()) as Op;
      if (Number(seen.progress['bytesDone']) > 0 || seen.state !== 'queued') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await own.kill();
    assert.equal(seen?.state, 'running', 'killed while the copy was running');
    const again = await startSkiff({}, { dataDir: own.dataDir });
    try {
      const done = await waitDone(again, op.id, 120);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      assert.equal(await skopeoManifestDigest(D('restart/big:v1')), big.digest);
    } finally {
      await again.stop();
    }
  });

  it('inline credentials are never stored; a restarted copy that needed them fails clearly', async () => {
    // The source's blob reads stall, so the copy is still running when the process is killed.
    const stalling = await startFaultProxy(src.url);
    stalling.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, action: { kind: 'stall' } });
    const own = await startSkiff({ SKIFF_REGISTRIES_CONFIG: regConf });
    try {
      const body = {
        source: `docker://${stalling.host}/team/big:v1`,
        destination: `docker://${basic.host}/creds/big:v1`,
        sourceTlsVerify: false,
        destinationAuth: { username: basic.username, password: basic.password },
      };
      const { body: op } = await post(own, body);
      assert.equal(JSON.stringify(op.request).includes(basic.password!), false);
      assert.equal('destinationAuth' in op.request, false);
      for (let i = 0; i < 400 && stalling.requestsTo(/\/blobs\/sha256:/).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(stalling.requestsTo(/\/blobs\/sha256:/).length > 0, 'the copy reached the blobs');
      await own.kill();
      const again = await startSkiff({ SKIFF_REGISTRIES_CONFIG: regConf }, { dataDir: own.dataDir });
      try {
        const done = await waitDone(again, op.id, 60);
        assert.equal(done.state, 'failed');
        assert.equal(done.error!.code, 'CREDENTIALS_UNAVAILABLE');
        assert.ok(!again.log().includes(basic.password!));
      } finally {
        await again.stop();
      }
    } finally {
      await own.kill();
      await stalling.close();
    }
  });
});

describe('authenticated and hostile upstreams', () => {
  it('copies from a token-auth registry to a basic-auth registry with inline credentials', async () => {
    await pushImage(token, 'tok/app', 'v1', { layers: [makeLayer({ t: 'token' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    const op = await copy({
      source: `docker://${token.host}/tok/app:v1`,
      destination: `docker://${basic.host}/copied/app:v1`,
      sourceAuth: { username: token.username, password: token.password },
      destinationAuth: { username: basic.username, password: basic.password },
    });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const r = await skopeo(['inspect', '--raw', '--cert-dir', basic.certDir!, '--creds', `${basic.username}:${basic.password}`, `docker://${basic.host}/copied/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256Digest(r.stdoutBytes), op.result!.digest);
  });

  let proxy: FaultProxy;
  before(async () => {
    proxy = await startFaultProxy(src.url);
  });
  after(async () => {
    await proxy?.close();
  });

  it('survives a reset mid-blob and a 500 and a 429 once', async () => {
    const rules = [
      proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: 1, action: { kind: 'reset', when: 'mid-body' } }),
      proxy.addRule({ method: 'GET', path: /\/manifests\//, times: 1, action: { kind: 'status', status: 500 } }),
      proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: 1, action: { kind: 'status', status: 429, retryAfter: '1' } }),
    ];
    const op = await copy({ source: `docker://${proxy.host}/team/app:1.0`, destination: D('flaky/app:1.0'), ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(rules.map((r) => r.times), [0, 0, 0], 'every fault was met');
    assert.equal(await skopeoManifestDigest(D('flaky/app:1.0')), single.digest);
    proxy.clearRules();
  });

  it('a blob whose bytes do not match its digest fails the copy and nothing is tagged', async () => {
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${single.layers[1]!.digest}`), times: Infinity, action: { kind: 'tamper' } });
    const op = await copy({ source: `docker://${proxy.host}/team/app:1.0`, destination: D('tampered/app:1.0'), ...plainTls });
    proxy.clearRules();
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'DIGEST_MISMATCH');
    assert.equal(op.error!.status, 502);
    assert.equal(await skopeoManifestDigest(D('tampered/app:1.0')), undefined);
    const blob = await fetch(`${dst.url}/v2/tampered/app/blobs/${single.layers[1]!.digest}`, { method: 'HEAD' });
    assert.equal(blob.status, 404, 'the tampered blob was not published');
  });
});
