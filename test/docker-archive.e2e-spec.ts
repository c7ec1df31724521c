/**
 * docker-archive: through the HTTP API, against a real registry and a real Docker Engine, with
 * skopeo as the oracle both ways: what skiff writes is byte-identical to what skopeo writes for
 * the same copy, skopeo and `docker load` read it; what `docker save` and skopeo write, skiff
 * reads exactly as skopeo does. Failed and cancelled copies leave neither archive nor temp file.
 *
 * The tests that need dockerd skip (saying why) when it cannot start here: see
 * test/support/dockerd.ts for what it needs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DAEMONS_REQUIRED, DockerdUnavailableError, startDockerd, type TestDockerd } from './support/dockerd';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { listTree } from './support/files';
import { makeLayer, pseudoRandomBytes, pushImage, sha256Digest, type PushedImage } from './support/images';
import { inspectImage } from './support/images-api';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeoJson, skopeoOk, comparableInspect } from './support/skopeo';
import { makeTar } from './support/tar';
import { makeTmpDirSync } from './support/tmp';
import { type Operation, type Submitted, copySucceeded, submitCopy, waitForOperation } from './support/operations';

let reg: TestRegistry;
let proxy: FaultProxy;
let svc: SkiffService;
let root: string;
let app: PushedImage;
let ociImg: PushedImage;
let big: PushedImage;
let dockerd: TestDockerd | undefined;
let dockerdMissing = '';


type Op = Operation<{ digest: string; mediaType: string }>;

const R = (repo: string) => `docker://${reg.host}/${repo}`;
const P = (repo: string) => `docker://${proxy.host}/${repo}`;
const abs = (p: string) => join(root, p);
const tmpOf = () => join(svc.dataDir, 'tmp');

/** POST /v1/copies (with Prefer: wait=120 unless `wait` is false), plain-HTTP registries. */
async function submit(body: Record<string, unknown>, wait = true): Promise<{ status: number; op: Submitted<{ digest: string; mediaType: string }> }> {
  const { res, op } = await submitCopy<{ digest: string; mediaType: string }>(svc, body, { wait });
  return { status: res.status, op };
}

const ok = (body: Record<string, unknown>): Promise<Op> => copySucceeded(svc, body);

const waitDone = (id: string, seconds = 60): Promise<Op> => waitForOperation(svc, id, seconds);

const inspect = (query: Record<string, string>) => inspectImage(svc, query);

async function tags(repository: string): Promise<{ status: number; body: { Repository?: string; Tags?: string[]; code?: string } }> {
  const res = await fetch(`${svc.url}/v1/images/tags?${new URLSearchParams({ repository })}`);
  return { status: res.status, body: (await res.json()) as { Tags?: string[] } };
}

/** skopeo's stdout, which must exit 0. */
const sk = async (args: string[]): Promise<Buffer> => (await skopeoOk(args)).stdoutBytes;

function manifestJsonOf(archive: string): { Config: string; RepoTags: string[]; Layers: string[] }[] {
  return JSON.parse(tarMember(readFileSync(archive), 'manifest.json').toString('utf8')) as { Config: string; RepoTags: string[]; Layers: string[] }[];
}

/** A member of a plain (ustar) tar, read without any library. */
function tarMember(tar: Buffer, name: string): Buffer {
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const n = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const prefix = h.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const full = prefix ? `${prefix}/${n}` : n;
    if (full === name) return tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} not in the archive`);
}

function needDockerd(t: TestContext): TestDockerd | undefined {
  if (!dockerd) t.skip(`dockerd unavailable: ${dockerdMissing}`);
  return dockerd;
}

before(async () => {
  reg = await startRegistry({ mode: 'plain' });
  proxy = await startFaultProxy(reg.url);
  const base = makeLayer({ 'etc/os-release': 'ID=skiff\n', 'bin/tool': pseudoRandomBytes(120_000, 'da-base') });
  app = await pushImage(reg, 'team/app', '1.0', {
    layers: [base, makeLayer({ 'app/data': pseudoRandomBytes(60_000, 'da-app') }, { compression: 'gzip' })],
    config: { Env: ['A=1'], Cmd: ['/app/bin'], Labels: { team: 'platform', 'x&y': '<z>' } },
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
    dockerVersion: '24.0.7',
  });
  ociImg = await pushImage(reg, 'team/oci', '2.0', { layers: [base, makeLayer({ oci: 'yes' })], os: 'linux', architecture: 'arm64', variant: 'v8', format: 'oci' });
  big = await pushImage(reg, 'team/big', '1', {
    layers: [makeLayer({ 'small/x': 'x' }), makeLayer({ 'big/blob': pseudoRandomBytes(6 * 1024 * 1024, 'da-big') })],
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
  });
  root = makeTmpDirSync('skiff-da-root-');
  for (const d of ['out', 'sk', 'saved']) mkdirSync(abs(d));
  const started = Date.now();
  [svc] = await Promise.all([
    startSkiff({ SKIFF_STORAGE_ROOT: root }),
    startDockerd().then(
      (d) => {
        dockerd = d;
      },
      (e: unknown) => {
        if (!(e instanceof DockerdUnavailableError) || DAEMONS_REQUIRED) throw e;
        dockerdMissing = e.message;
      },
    ),
  ]);
  if (dockerd) process.stderr.write(`# dockerd ready in ${dockerd.startMs} ms (setup ${Date.now() - started} ms)\n`);
  else process.stderr.write(`# dockerd unavailable, its tests skip: ${dockerdMissing}\n`);
});

after(async () => {
  await svc?.stop();
  await dockerd?.stop();
  await proxy?.close();
  await stopAll();
});

describe('registry → docker-archive', () => {
  it('writes exactly the archive skopeo writes, additionalTags included, and leaves no temp file', async () => {
    const extra = ['example.com/other/app:extra', 'app:second'];
    await ok({ source: R('team/app:1.0'), destination: 'docker-archive:out/app.tar:team/app:1.0', additionalTags: extra });
    await sk(['copy', '--src-tls-verify=false', ...extra.flatMap((t) => ['--additional-tag', t]), R('team/app:1.0'), `docker-archive:${abs('sk/app.tar')}:team/app:1.0`]);
    assert.ok(readFileSync(abs('out/app.tar')).equals(readFileSync(abs('sk/app.tar'))), 'skiff and skopeo archives differ');
    const [item] = manifestJsonOf(abs('out/app.tar'));
    assert.deepEqual(item!.RepoTags, ['docker.io/team/app:1.0', 'example.com/other/app:extra', 'docker.io/library/app:second']);
    assert.equal(item!.Config, `${app.configDigest.slice(7)}.json`);
    assert.deepEqual(item!.Layers, app.layers.map((l) => `${l.diffId.slice(7)}.tar`));
    assert.deepEqual(listTree(abs('out')), ['app.tar']);
    assert.deepEqual(listTree(tmpOf()), []);
  });

  it('skopeo reads what skiff wrote: inspect and raw manifest equal skiff’s own reading', async () => {
    for (const ref of ['out/app.tar', 'out/app.tar:team/app:1.0', 'out/app.tar:example.com/other/app:extra', 'out/app.tar:@0']) {
      const mine = await inspect({ image: `docker-archive:${ref}` });
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      const theirs = await skopeoJson(['inspect', `docker-archive:${abs(ref)}`]);
      assert.deepEqual(comparableInspect(mine.body), theirs, ref);
      const raw = await inspect({ image: `docker-archive:${ref}`, raw: 'true' });
      assert.ok(raw.bytes.equals(await sk(['inspect', '--raw', `docker-archive:${abs(ref)}`])), `raw ${ref}`);
    }
  });

  it('an OCI image is converted (Docker v2s2, config kept), byte-identical to skopeo', async () => {
    const op = await ok({ source: R('team/oci:2.0'), destination: 'docker-archive:out/oci.tar' });
    assert.equal(op.result!.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    await sk(['copy', '--src-tls-verify=false', R('team/oci:2.0'), `docker-archive:${abs('sk/oci.tar')}`]);
    assert.ok(readFileSync(abs('out/oci.tar')).equals(readFileSync(abs('sk/oci.tar'))), 'skiff and skopeo archives differ');
    const [item] = manifestJsonOf(abs('out/oci.tar'));
    assert.deepEqual(item!.RepoTags, []);
    assert.equal(item!.Config, `${ociImg.configDigest.slice(7)}.json`);
    const theirs = await skopeoJson(['inspect', `docker-archive:${abs('out/oci.tar')}`]);
    assert.equal(theirs['Architecture'], 'arm64');
  });

  it('docker load of skiff’s archive lists the image with the config digest as ID and every tag', async (t) => {
    const d = needDockerd(t);
    if (!d) return;
    const out = await d.dockerOk(['load', '-i', abs('out/app.tar')]);
    assert.match(out, /Loaded image: team\/app:1\.0/);
    const info = JSON.parse(await d.dockerOk(['image', 'inspect', 'team/app:1.0'])) as { Id: string; RepoTags: string[] }[];
    assert.equal(info[0]!.Id, app.configDigest);
    assert.deepEqual([...info[0]!.RepoTags].sort(), ['app:second', 'example.com/other/app:extra', 'team/app:1.0']);
    const untagged = await d.dockerOk(['load', '-i', abs('out/oci.tar')]);
    assert.match(untagged, new RegExp(`Loaded image ID: ${ociImg.configDigest}`));
  });
});

describe('archives written by docker save and by skopeo', () => {
  before(async () => {
    if (!dockerd) return;
    // an imported image (docker's own config) and a loaded one (a registry image's config)
    const rootfs = makeTar([
      { path: 'etc', type: 'dir', mtime: 1_700_000_000 },
      { path: 'etc/hostname', type: 'file', content: Buffer.from('imported\n'), mtime: 1_700_000_000 },
      { path: 'data', type: 'file', content: pseudoRandomBytes(30_000, 'da-import'), mtime: 1_700_000_000 },
    ]);
    writeFileSync(abs('saved/rootfs.tar'), rootfs);
    await dockerd.dockerOk(['import', '--change', 'ENV IMPORTED=1', abs('saved/rootfs.tar'), 'skiff/imported:1']);
    await dockerd.dockerOk(['tag', 'skiff/imported:1', 'localhost:5000/skiff/imported:alias']);
    await dockerd.dockerOk(['load', '-i', abs('sk/app.tar')]);
    await dockerd.dockerOk(['save', '-o', abs('saved/one.tar'), 'team/app:1.0']);
    await dockerd.dockerOk(['save', '-o', abs('saved/multi.tar'), 'team/app:1.0', 'skiff/imported:1', 'localhost:5000/skiff/imported:alias']);
  });

  it('inspect of a docker save archive equals skopeo’s (by default, by NAME:TAG, raw, config)', async (t) => {
    if (!needDockerd(t)) return;
    for (const ref of ['saved/one.tar', 'saved/one.tar:team/app:1.0', 'saved/one.tar:@0']) {
      const mine = await inspect({ image: `docker-archive:${ref}` });
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      assert.deepEqual(comparableInspect(mine.body), await skopeoJson(['inspect', `docker-archive:${abs(ref)}`]), ref);
    }
    const raw = await inspect({ image: 'docker-archive:saved/one.tar', raw: 'true' });
    assert.ok(raw.bytes.equals(await sk(['inspect', '--raw', `docker-archive:${abs('saved/one.tar')}`])));
    // the config bytes, and a layer, as blobs of the archive (verified while they stream)
    const config = await fetch(`${svc.url}/v1/images/blobs/${app.configDigest}?${new URLSearchParams({ repository: 'docker-archive:saved/one.tar' })}`);
    assert.equal(config.status, 200);
    assert.equal(sha256Digest(Buffer.from(await config.arrayBuffer())), app.configDigest);
    const diffId = (JSON.parse(raw.bytes.toString('utf8')) as { layers: { digest: string }[] }).layers[0]!.digest;
    const layer = await fetch(`${svc.url}/v1/images/blobs/${diffId}?${new URLSearchParams({ repository: 'docker-archive:saved/one.tar' })}`);
    assert.equal(layer.status, 200);
    assert.equal(sha256Digest(Buffer.from(await layer.arrayBuffer())), diffId);
  });

  it('a multi-image archive: @N and NAME:TAG select as skopeo does; no selection is 400, a bad index 404', async (t) => {
    if (!needDockerd(t)) return;
    for (const ref of ['saved/multi.tar:@0', 'saved/multi.tar:@1', 'saved/multi.tar:skiff/imported:1', 'saved/multi.tar:localhost:5000/skiff/imported:alias', 'saved/multi.tar:docker.io/team/app:1.0']) {
      const mine = await inspect({ image: `docker-archive:${ref}` });
      assert.equal(mine.status, 200, `${ref}: ${JSON.stringify(mine.body)}`);
      assert.deepEqual(comparableInspect(mine.body), await skopeoJson(['inspect', `docker-archive:${abs(ref)}`]), ref);
    }
    const none = await inspect({ image: 'docker-archive:saved/multi.tar' });
    assert.equal(none.status, 400);
    assert.match(String(none.body['detail']), /holds 2 images/);
    const bad = await inspect({ image: 'docker-archive:saved/multi.tar:@7' });
    assert.equal(bad.status, 404);
    const missing = await inspect({ image: 'docker-archive:saved/multi.tar:no/such:tag' });
    assert.equal(missing.status, 404);
  });

  it('list-tags equals skopeo list-tags (docker save, skopeo and skiff archives)', async (t) => {
    const refs = ['out/app.tar', 'out/oci.tar', 'sk/app.tar', ...(dockerd ? ['saved/one.tar', 'saved/multi.tar'] : [])];
    if (!dockerd) t.diagnostic(`docker save archives skipped: ${dockerdMissing}`);
    for (const ref of refs) {
      const mine = await tags(`docker-archive:${ref}`);
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      const theirs = (await skopeoJson(['list-tags', `docker-archive:${abs(ref)}`])) as { Tags: string[] };
      assert.deepEqual(mine.body.Tags, theirs.Tags, ref);
    }
    assert.deepEqual((await tags('docker-archive:out/oci.tar')).body.Tags, ['@0']);
  });

  it('skiff reads what skopeo wrote, plain and gzip-compressed', async () => {
    // skopeo 1.9.3 itself cannot read a gzip-compressed docker-archive ("loading tar component
    // manifest.json: unexpected EOF"): the .gz reading is compared with skopeo's of the plain tar
    writeFileSync(abs('sk/app.tar.gz'), gzipSync(readFileSync(abs('sk/app.tar'))));
    for (const [ref, plain] of [
      ['sk/app.tar', 'sk/app.tar'],
      ['sk/app.tar:team/app:1.0', 'sk/app.tar:team/app:1.0'],
      ['sk/app.tar.gz', 'sk/app.tar'],
      ['sk/app.tar.gz:docker.io/library/app:second', 'sk/app.tar:docker.io/library/app:second'],
    ] as const) {
      const mine = await inspect({ image: `docker-archive:${ref}` });
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      assert.deepEqual(comparableInspect(mine.body), await skopeoJson(['inspect', `docker-archive:${abs(plain)}`]), ref);
    }
    const raw = await inspect({ image: 'docker-archive:sk/app.tar.gz', raw: 'true' });
    assert.ok(raw.bytes.equals(await sk(['inspect', '--raw', `docker-archive:${abs('sk/app.tar')}`])));
    assert.deepEqual(listTree(tmpOf()), [], 'the decompressed copy is removed');
  });

  it('layer files stored compressed inside an archive are read as skopeo reads them (uncompressed sizes, DiffIDs)', async () => {
    const layerTar = makeTar([{ path: 'data.bin', type: 'file', content: pseudoRandomBytes(40_000, 'da-gz-layer'), mtime: 1_700_000_000 }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['GZ=1'] }, rootfs: { type: 'layers', diff_ids: [sha256Digest(layerTar)] } }));
    const archive = makeTar([
      { path: 'layer.tar.gz', type: 'file', content: gzipSync(layerTar), mtime: 0 },
      { path: 'config.json', type: 'file', content: config, mtime: 0 },
      { path: 'manifest.json', type: 'file', content: Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['gz/app:1'], Layers: ['layer.tar.gz'] }])), mtime: 0 },
    ]);
    writeFileSync(abs('sk/gzlayer.tar'), archive);
    const mine = await inspect({ image: 'docker-archive:sk/gzlayer.tar', raw: 'true' });
    assert.ok(mine.bytes.equals(await sk(['inspect', '--raw', `docker-archive:${abs('sk/gzlayer.tar')}`])));
    const manifest = JSON.parse(mine.bytes.toString('utf8')) as { layers: { size: number; digest: string }[] };
    assert.deepEqual(manifest.layers.map((l) => [l.digest, l.size]), [[sha256Digest(layerTar), layerTar.length]]);
    // the layer streams uncompressed (verified against its DiffID) into a registry
    await ok({ source: 'docker-archive:sk/gzlayer.tar', destination: R('gzlayer/app:1') });
    const pushed = JSON.parse((await sk(['inspect', '--raw', '--tls-verify=false', R('gzlayer/app:1')])).toString('utf8')) as { config: { digest: string } };
    assert.equal(pushed.config.digest, sha256Digest(config));
  });

  it('a docker save archive copied to a registry: skopeo inspects it, the config is the image', async (t) => {
    const d = needDockerd(t);
    if (!d) return;
    await ok({ source: 'docker-archive:saved/multi.tar:skiff/imported:1', destination: R('fromsave/imported:1') });
    const id = JSON.parse(await d.dockerOk(['image', 'inspect', 'skiff/imported:1'])) as { Id: string }[];
    const theirs = await skopeoJson(['inspect', '--tls-verify=false', R('fromsave/imported:1')]);
    const manifest = JSON.parse((await sk(['inspect', '--raw', '--tls-verify=false', R('fromsave/imported:1')])).toString('utf8')) as { config: { digest: string } };
    assert.equal(manifest.config.digest, id[0]!.Id);
    assert.ok((theirs['Env'] as string[]).includes('IMPORTED=1'));
  });

  it('layers from an archive are gzip-compressed for a registry, as skopeo does', async () => {
    await ok({ source: 'docker-archive:sk/app.tar', destination: R('fromarchive/app:1') });
    const manifest = JSON.parse((await sk(['inspect', '--raw', '--tls-verify=false', R('fromarchive/app:1')])).toString('utf8')) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
    assert.equal(manifest.config.digest, app.configDigest);
    for (const l of manifest.layers) {
      const blob = Buffer.from(await (await fetch(`${reg.url}/v2/fromarchive/app/blobs/${l.digest}`)).arrayBuffer());
      assert.equal(blob.subarray(0, 2).toString('hex'), '1f8b', `layer ${l.digest} is gzip`);
    }
    // what skopeo inspect reports from the registry matches the archive's config
    const fromReg = await skopeoJson(['inspect', '--tls-verify=false', R('fromarchive/app:1')]);
    assert.deepEqual(fromReg['Env'], ['A=1']);
  });

  it('docker-archive → docker-archive with a new tag is what skopeo writes, and docker loads it', async (t) => {
    await ok({ source: 'docker-archive:sk/app.tar', destination: 'docker-archive:out/retag.tar:retagged/app:2' });
    await sk(['copy', 'docker-archive:' + abs('sk/app.tar'), `docker-archive:${abs('sk/retag.tar')}:retagged/app:2`]);
    assert.ok(readFileSync(abs('out/retag.tar')).equals(readFileSync(abs('sk/retag.tar'))), 'skiff and skopeo archives differ');
    const d = needDockerd(t);
    if (!d) return;
    await d.dockerOk(['load', '-i', abs('out/retag.tar')]);
    const info = JSON.parse(await d.dockerOk(['image', 'inspect', 'retagged/app:2'])) as { Id: string }[];
    assert.equal(info[0]!.Id, app.configDigest);
  });
});

describe('failed and cancelled copies leave nothing behind', () => {
  it('a layer that does not match its digest fails the copy: no archive, no temp file', async () => {
    const rule = proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${app.layers[1]!.digest}`), times: Infinity, action: { kind: 'tamper' } });
    try {
      const { op } = await submit({ source: P('team/app:1.0'), destination: 'docker-archive:out/tampered.tar', retryTimes: 0 });
      assert.equal(op.state, 'failed');
      assert.equal(op.error!.code, 'DIGEST_MISMATCH');
    } finally {
      rule.times = 0;
    }
    assert.ok(!listTree(abs('out')).some((f) => f.includes('tampered')), listTree(abs('out')).join(','));
    assert.deepEqual(listTree(tmpOf()), []);
  });

  it('a cancelled copy stops mid-layer: no archive, no temp file', async () => {
    const rule = proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${big.layers[1]!.digest}`), times: Infinity, action: { kind: 'stall' } });
    try {
      const { status, op } = await submit({ source: P('team/big:1'), destination: 'docker-archive:out/cancelled.tar' }, false);
      assert.equal(status, 202);
      for (let i = 0; i < 400; i++) {
        const cur = (await (await fetch(`${svc.url}/v1/operations/${op.id}`)).json()) as Op;
        if (cur.state === 'running' && Number(cur.progress['blobsDone']) >= 1) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal((await fetch(`${svc.url}/v1/operations/${op.id}/cancel`, { method: 'POST' })).status, 202);
      assert.equal((await waitDone(op.id, 30)).state, 'cancelled');
    } finally {
      rule.times = 0;
    }
    assert.ok(!listTree(abs('out')).some((f) => f.includes('cancelled')), listTree(abs('out')).join(','));
    assert.deepEqual(listTree(tmpOf()), []);
  });

  it('an existing archive is never overwritten (409, as skopeo refuses to modify it); a bad tag or @N is 400', async () => {
    const before = readFileSync(abs('out/app.tar'));
    const { op } = await submit({ source: R('team/oci:2.0'), destination: 'docker-archive:out/app.tar' });
    assert.equal(op.state, 'failed');
    assert.equal(op.error!.code, 'STORAGE_CONFLICT');
    assert.ok(readFileSync(abs('out/app.tar')).equals(before));
    const badTag = await submit({ source: R('team/oci:2.0'), destination: 'docker-archive:out/x.tar', additionalTags: ['NoUpper:1'] });
    assert.equal(badTag.status, 400);
    const nameOnly = await submit({ source: R('team/oci:2.0'), destination: 'docker-archive:out/x.tar', additionalTags: ['name-only'] });
    assert.equal(nameOnly.status, 400);
    assert.match(String(nameOnly.op.detail), /must be a tagged reference/);
    const notArchive = await submit({ source: R('team/oci:2.0'), destination: R('x/y:1'), additionalTags: ['a:b'] });
    assert.equal(notArchive.status, 400);
    const indexed = await submit({ source: R('team/oci:2.0'), destination: 'docker-archive:out/x.tar:@0' });
    assert.equal(indexed.op.error?.status ?? indexed.status, 400);
    assert.ok(!existsSync(abs('out/x.tar')));
    assert.deepEqual(listTree(tmpOf()), []);
  });

  it('paths outside the storage root are refused (400)', async () => {
    const res = await inspect({ image: 'docker-archive:../escape.tar' });
    assert.equal(res.status, 400);
    assert.equal(res.body['code'], 'PATH_ESCAPES_STORAGE_ROOT');
    const missing = await inspect({ image: 'docker-archive:out/none.tar' });
    assert.equal(missing.status, 404);
  });
});
