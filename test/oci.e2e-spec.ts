/**
 * oci: and oci-archive: through the HTTP API (inspect, copy in both directions, delete), against
 * a real registry, with skopeo as the oracle both ways: what skiff writes skopeo reads (and is
 * byte-identical to what skopeo writes for the same copy), what skopeo writes skiff reads.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { startFaultProxy } from './support/fault-proxy';
import { fileDigests } from './support/files';
import { makeLayer, pseudoRandomBytes, pushImage, pushMultiArch, type PushedImage } from './support/images';
import { inspectImage } from './support/images-api';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeoInspect, skopeoManifestDigest, skopeoOk, comparableInspect } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { makeTar } from './support/tar';
import { type Operation, copyFinished, copySucceeded } from './support/operations';

let reg: TestRegistry;
let svc: SkiffService;
let root: string;
let v2s2: PushedImage;
let oci: PushedImage;

type Op = Operation<{ digest: string; mediaType: string; manifests: { digest: string }[] }>;

const R = (repo: string) => `docker://${reg.host}/${repo}`;
const abs = (p: string) => join(root, p);
/** POST /v1/copies between the plain-HTTP registries, answered finished (a refusal as state `refused`). */
const copy = (body: Record<string, unknown>, service = svc): Promise<Op> => copyFinished(service, body);
const ok = (body: Record<string, unknown>, service = svc): Promise<Op> => copySucceeded(service, body);
const inspect = (query: Record<string, string>) => inspectImage(svc, query);

async function del(image: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${svc.url}/v1/images?${new URLSearchParams({ image })}`, { method: 'DELETE' });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function indexOf(layout: string): { manifests: { digest: string; annotations?: Record<string, string> }[] } {
  return JSON.parse(readFileSync(join(abs(layout), 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
}

const refNames = (layout: string) => indexOf(layout).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? null);

before(async () => {
  reg = await startRegistry({ mode: 'plain', deleteEnabled: true });
  const layers = [makeLayer({ 'etc/os-release': 'ID=skiff\n' }), makeLayer({ 'app/bin': pseudoRandomBytes(50_000, 'oci-app') })];
  v2s2 = await pushImage(reg, 'team/app', '1.0', {
    layers,
    config: { Env: ['A=1'], Cmd: ['/app/bin'], Labels: { team: 'platform', 'x&y': '<z>' } },
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
    dockerVersion: '24.0.7',
  });
  oci = await pushImage(reg, 'team/oci', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'oci', annotations: { 'org.opencontainers.image.title': 'x' } });
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
  ];
  await pushMultiArch(reg, 'team/multi', 'latest', { format: 'oci', platforms, config: { Env: ['M=1'] } });
  await pushMultiArch(reg, 'team/multid', 'latest', { format: 'v2s2', platforms });
  await pushImage(reg, 'team/other', 'v1', { layers: [layers[0]!, makeLayer({ other: 'x' })], os: 'linux', architecture: 'amd64', format: 'oci' });
  root = makeTmpDirSync('skiff-oci-root-');
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: root });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('oci: destination', () => {
  it('registry → oci → registry keeps the digest; the layout is byte-identical to skopeo’s', async () => {
    const op = await ok({ source: R('team/oci:v1'), destination: 'oci:rt:v1' });
    assert.equal(op.result!.digest, oci.digest);
    await skopeoOk(['copy', '--src-tls-verify=false', R('team/oci:v1'), `oci:${abs('sk-rt')}:v1`]);
    assert.deepEqual(fileDigests(abs('rt')), fileDigests(abs('sk-rt')));
    const back = await ok({ source: 'oci:rt:v1', destination: R('back/oci:v1') });
    assert.equal(back.result!.digest, oci.digest);
    assert.equal(await skopeoManifestDigest(R('back/oci:v1')), oci.digest);
  });

  it('a Docker v2s2 image is converted exactly as skopeo converts it (same manifest digest, same files)', async () => {
    const op = await ok({ source: R('team/app:1.0'), destination: 'oci:conv:x' });
    await skopeoOk(['copy', '--src-tls-verify=false', R('team/app:1.0'), `oci:${abs('sk-conv')}:x`]);
    assert.deepEqual(fileDigests(abs('conv')), fileDigests(abs('sk-conv')));
    assert.equal(op.result!.digest, indexOf('sk-conv').manifests[0]!.digest);
    assert.equal(op.result!.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  it('skopeo reads what skiff wrote: inspect equal, and skopeo copies it to a registry unchanged', async () => {
    for (const image of ['rt:v1', 'conv:x']) {
      const ours = await inspect({ image: `oci:${image}` });
      assert.equal(ours.status, 200);
      const theirs = (await skopeoInspect(`oci:${abs(image.split(':')[0]!)}:${image.split(':')[1]}`)) as unknown as Record<string, unknown>;
      assert.deepEqual(comparableInspect(ours.body), theirs);
      assert.equal('Name' in ours.body, false);
      assert.deepEqual(ours.body['RepoTags'], []);
    }
    await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${abs('conv')}:x`, R('sk/conv:x')]);
    assert.equal(await skopeoManifestDigest(R('sk/conv:x')), indexOf('conv').manifests[0]!.digest);
  });

  it('multiArch=all writes the index and every instance as skopeo --all does (OCI index and Docker list)', async () => {
    for (const [repo, layout] of [
      ['team/multi:latest', 'multi'],
      ['team/multid:latest', 'multid'],
    ] as const) {
      const op = await ok({ source: R(repo), destination: `oci:${layout}:all`, multiArch: 'all' });
      assert.equal(op.result!.mediaType, 'application/vnd.oci.image.index.v1+json');
      assert.equal(op.result!.manifests.length, 3);
      await skopeoOk(['copy', '--all', '--src-tls-verify=false', R(repo), `oci:${abs(`sk-${layout}`)}:all`]);
      assert.deepEqual(fileDigests(abs(layout)), fileDigests(abs(`sk-${layout}`)), layout);
    }
    // an OCI index comes back unchanged
    const back = await ok({ source: 'oci:multi:all', destination: R('back/multi:all'), multiArch: 'all', preserveDigests: true });
    assert.equal(back.result!.digest, await skopeoManifestDigest(R('team/multi:latest')));
    assert.equal(await skopeoManifestDigest(R('back/multi:all')), back.result!.digest);
    // instance selection equals skopeo's
    const ours = await inspect({ image: 'oci:multi:all', arch: 'arm64' });
    const theirs = (await skopeoInspect(`oci:${abs('multi')}:all`, { overrideArch: 'arm64' })) as unknown as Record<string, unknown>;
    assert.deepEqual(comparableInspect(ours.body), theirs);
  });

  it('several tags share one layout; re-tagging follows skopeo’s index.json rules exactly', async () => {
    const steps: [string, string][] = [
      ['team/app:1.0', 'first'],
      ['team/oci:v1', 'second'],
      ['team/other:v1', 'third'],
      ['team/oci:v1', 'first'],
      ['team/oci:v1', ''],
    ];
    for (const [repo, tag] of steps) {
      await ok({ source: R(repo), destination: `oci:tags${tag ? `:${tag}` : ''}` });
      await skopeoOk(['copy', '--src-tls-verify=false', R(repo), `oci:${abs('sk-tags')}${tag ? `:${tag}` : ''}`]);
    }
    assert.deepEqual(readFileSync(abs('tags/index.json')), readFileSync(abs('sk-tags/index.json')));
    assert.deepEqual(fileDigests(abs('tags')), fileDigests(abs('sk-tags')));
    assert.deepEqual(refNames('tags'), [null, 'second', 'third', 'first', null]);
    // the shared base layer is stored once
    assert.equal(readdirSync(abs('tags/blobs/sha256')).filter((n) => `sha256:${n}` === v2s2.layers[0]!.digest).length, 1);
    // @N selects by position, as newer skopeo does
    const at1 = await inspect({ image: 'oci:tags:@1' });
    assert.equal(at1.body['Digest'], oci.digest);
  });

  it('copying an image already in the layout under that name skips every blob', async () => {
    const again = await ok({ source: R('team/oci:v1'), destination: 'oci:rt:v1' });
    assert.equal(again.progress['bytesDone'], 0);
    assert.equal(again.progress['blobsSkipped'], 3);
  });

  it('cancelling a copy into a layout mid-transfer leaves no entry and no blob of it', async () => {
    const big = await pushImage(reg, 'team/big', 'v1', {
      layers: Array.from({ length: 3 }, (_, i) => makeLayer({ [`blob${i}`]: pseudoRandomBytes(24 * 1024 * 1024, `oci-big${i}`) })),
      os: 'linux',
      architecture: 'amd64',
      format: 'oci',
    });
    await ok({ source: R('team/oci:v1'), destination: 'oci:cancel:kept' });
    const before = readdirSync(abs('cancel/blobs/sha256')).sort();
    // The last layer never arrives, so the cancel lands mid-transfer, after the other blobs were written.
    const proxy = await startFaultProxy(reg.url);
    const last = big.layers.at(-1)!.digest;
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${last}$`), times: Infinity, action: { kind: 'stall' } });
    try {
      const res = await fetch(`${svc.url}/v1/copies`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: `docker://${proxy.host}/team/big:v1`, destination: 'oci:cancel:big', sourceTlsVerify: false }),
      });
      const op = (await res.json()) as Op;
      let reached = false;
      for (let i = 0; i < 400 && !reached; i++) {
        const cur = (await (await fetch(`${svc.url}/v1/operations/${op.id}`)).json()) as Op;
        reached = proxy.requestsTo(new RegExp(`/blobs/${last}$`)).length > 0 && Number(cur.progress['bytesDone']) >= 2 * 24 * 1024 * 1024;
        if (!reached) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(reached, 'the other layers were written and the last one was being read');
      await fetch(`${svc.url}/v1/operations/${op.id}/cancel`, { method: 'POST' });
      const done = (await (await fetch(`${svc.url}/v1/operations/${op.id}?waitSeconds=30`)).json()) as Op;
      assert.equal(done.state, 'cancelled');
      assert.deepEqual(refNames('cancel'), ['kept']);
      assert.deepEqual(readdirSync(abs('cancel/blobs/sha256')).sort(), before);
      assert.deepEqual(readdirSync(abs('cancel')).sort(), ['blobs', 'index.json', 'oci-layout']);
    } finally {
      await proxy.close();
    }
  });

  it('concurrent copies from two processes into one layout keep every tag', async () => {
    const other = await startSkiff({ SKIFF_STORAGE_ROOT: root });
    try {
      const sources = ['team/app:1.0', 'team/oci:v1', 'team/other:v1'];
      const ops = await Promise.all(
        Array.from({ length: 8 }, (_, i) => copy({ source: R(sources[i % 3]!), destination: `oci:shared:t${i}` }, i % 2 ? other : svc)),
      );
      for (const op of ops) assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      assert.deepEqual(refNames('shared').sort(), Array.from({ length: 8 }, (_, i) => `t${i}`));
      assert.equal(existsSync(abs('shared/index.json.lock')), false);
      for (let i = 0; i < 8; i++) await skopeoOk(['inspect', `oci:${abs('shared')}:t${i}`]);
    } finally {
      await other.stop();
    }
  });
});

describe('oci: source (skopeo wrote it)', () => {
  before(async () => {
    await skopeoOk(['copy', '--src-tls-verify=false', R('team/app:1.0'), `oci:${abs('bysk')}:app`]);
    await skopeoOk(['copy', '--all', '--src-tls-verify=false', R('team/multid:latest'), `oci:${abs('bysk')}:multi`]);
  });

  it('inspect equals skopeo inspect of the same layout, raw and config too', async () => {
    for (const tag of ['app', 'multi']) {
      const ours = await inspect({ image: `oci:bysk:${tag}` });
      assert.equal(ours.status, 200);
      assert.deepEqual(comparableInspect(ours.body), (await skopeoInspect(`oci:${abs('bysk')}:${tag}`)) as unknown as Record<string, unknown>);
      const raw = await inspect({ image: `oci:bysk:${tag}`, raw: 'true' });
      assert.deepEqual(raw.bytes, await skopeoInspect(`oci:${abs('bysk')}:${tag}`, { raw: true }));
      const cfg = await inspect({ image: `oci:bysk:${tag}`, config: 'true' });
      assert.deepEqual(cfg.body, await skopeoInspect(`oci:${abs('bysk')}:${tag}`, { config: true }));
      // an image's config bytes as a blob of the layout: what skopeo --config --raw prints
      const configDigest = (JSON.parse(raw.bytes.toString('utf8')) as { config?: { digest: string } }).config?.digest;
      if (configDigest) {
        const blob = await fetch(`${svc.url}/v1/images/blobs/${configDigest}?${new URLSearchParams({ repository: `oci:bysk:${tag}` })}`);
        assert.equal(blob.status, 200);
        assert.deepEqual(Buffer.from(await blob.arrayBuffer()), await skopeoInspect(`oci:${abs('bysk')}:${tag}`, { config: true, raw: true }));
      }
    }
  });

  it('copies out to a registry with the digest skopeo would produce', async () => {
    const op = await ok({ source: 'oci:bysk:app', destination: R('fromsk/app:x') });
    await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${abs('bysk')}:app`, R('fromsk/app:sk')]);
    assert.equal(op.result!.digest, await skopeoManifestDigest(R('fromsk/app:sk')));
    const all = await ok({ source: 'oci:bysk:multi', destination: R('fromsk/multi:x'), multiArch: 'all' });
    assert.equal(all.result!.digest, indexOf('bysk').manifests[1]!.digest);
  });
});

describe('delete on oci:', () => {
  it('removes the reference and collects only the blobs nothing else uses', async () => {
    await ok({ source: R('team/app:1.0'), destination: 'oci:gc:a' });
    await ok({ source: R('team/other:v1'), destination: 'oci:gc:b' });
    await ok({ source: R('team/multi:latest'), destination: 'oci:gc:c', multiArch: 'all' });
    const before = readdirSync(abs('gc/blobs/sha256'));
    const gone = await del('oci:gc:a');
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(gone.body['digest'], indexOf('sk-conv').manifests[0]!.digest);
    assert.deepEqual(refNames('gc'), ['b', 'c']);
    const afterDelete = readdirSync(abs('gc/blobs/sha256'));
    // a's manifest, its converted config and its own layer go; the base layer shared with b stays
    assert.equal(before.length - afterDelete.length, 3);
    assert.ok(afterDelete.includes(v2s2.layers[0]!.digest.slice(7)));
    // what remains is complete: skopeo copies both remaining images out of it
    await skopeoOk(['copy', `oci:${abs('gc')}:b`, `dir:${makeTmpDirSync('skiff-gc-b-')}/x`]);
    await skopeoOk(['copy', '--all', `oci:${abs('gc')}:c`, `dir:${makeTmpDirSync('skiff-gc-c-')}/x`]);
    assert.equal((await del('oci:gc:c')).status, 200);
    assert.equal(readdirSync(abs('gc/blobs/sha256')).length, 4);
    const missing = await del('oci:gc:a');
    assert.equal(missing.status, 404);
    assert.equal(missing.body['code'], 'IMAGE_NOT_FOUND');
  });

  it('is refused for oci-archive: and dir: (skopeo has no delete there either)', async () => {
    for (const image of ['oci-archive:x.tar:a', 'dir:x']) {
      const r = await del(image);
      assert.equal(r.status, 400, image);
      assert.equal(r.body['code'], 'OPERATION_NOT_SUPPORTED');
    }
  });
});

describe('oci-archive:', () => {
  it('writes the archive skopeo writes (same files) and reads skopeo’s', async () => {
    const op = await ok({ source: R('team/app:1.0'), destination: 'oci-archive:arch/app.tar:first' });
    await skopeoOk(['copy', '--src-tls-verify=false', R('team/app:1.0'), `oci-archive:${abs('sk-app.tar')}:first`]);
    const [ours, theirs] = [makeTmpDirSync('skiff-xa-'), makeTmpDirSync('skiff-xb-')];
    execFileSync('tar', ['-xf', abs('arch/app.tar'), '-C', ours]);
    execFileSync('tar', ['-xf', abs('sk-app.tar'), '-C', theirs]);
    assert.deepEqual(fileDigests(ours), fileDigests(theirs));
    assert.deepEqual(
      execFileSync('tar', ['-tf', abs('arch/app.tar')]).toString().split('\n').filter(Boolean),
      ['blobs/', 'blobs/sha256/', ...Object.keys(fileDigests(theirs)).filter((p) => p.startsWith('blobs/')).sort(), 'index.json', 'oci-layout'],
    );
    // skopeo reads ours, skiff reads skopeo's
    const theirsOfOurs = (await skopeoInspect(`oci-archive:${abs('arch/app.tar')}:first`)) as unknown as Record<string, unknown>;
    const oursOfTheirs = await inspect({ image: 'oci-archive:sk-app.tar:first' });
    assert.deepEqual(comparableInspect(oursOfTheirs.body), theirsOfOurs);
    assert.equal(theirsOfOurs['Digest'], op.result!.digest);
    // and it goes back to a registry unchanged
    const back = await ok({ source: 'oci-archive:sk-app.tar:first', destination: R('fromarch/app:x') });
    assert.equal(back.result!.digest, op.result!.digest);
    assert.deepEqual(readdirSync(join(svc.dataDir, 'tmp')), [], 'extracted and staged layouts are removed');
  });

  it('writing again replaces the archive with one holding only the new image (as skopeo)', async () => {
    await ok({ source: R('team/oci:v1'), destination: 'oci-archive:arch/app.tar:second' });
    const names = await inspect({ image: 'oci-archive:arch/app.tar:first' });
    assert.equal(names.status, 404);
    assert.equal((await inspect({ image: 'oci-archive:arch/app.tar' })).body['Digest'], oci.digest);
    assert.deepEqual(readdirSync(abs('arch')), ['app.tar'], 'no temp archive is left next to it');
  });

  it('multi-arch archives round-trip', async () => {
    const op = await ok({ source: R('team/multi:latest'), destination: 'oci-archive:arch/multi.tar', multiArch: 'all' });
    const back = await ok({ source: 'oci-archive:arch/multi.tar', destination: R('fromarch/multi:x'), multiArch: 'all' });
    assert.equal(back.result!.digest, op.result!.digest);
    assert.equal(await skopeoManifestDigest(R('fromarch/multi:x')), await skopeoManifestDigest(R('team/multi:latest')));
  });

  it('hostile or broken archives are refused clearly', async () => {
    const mtime = 1_700_000_000;
    writeFileSync(abs('evil.tar'), makeTar([{ path: '../escape', type: 'file', content: Buffer.from('x'), mtime }]));
    writeFileSync(abs('notar.tar'), 'this is not a tar archive at all'.repeat(40));
    writeFileSync(abs('nolayout.tar'), makeTar([{ path: 'hello.txt', type: 'file', content: Buffer.from('hi'), mtime }]));
    const evil = await inspect({ image: 'oci-archive:evil.tar' });
    assert.equal(evil.body['code'], 'ARCHIVE_INVALID');
    assert.equal(evil.status, 422);
    assert.equal(existsSync(join(root, '..', 'escape')), false);
    const notar = await inspect({ image: 'oci-archive:notar.tar' });
    assert.equal(notar.status, 422, JSON.stringify(notar.body));
    assert.equal(notar.body['code'], 'ARCHIVE_INVALID');
    const nolayout = await inspect({ image: 'oci-archive:nolayout.tar' });
    assert.equal(nolayout.status, 422);
    assert.equal(nolayout.body['code'], 'LAYOUT_INVALID');
    assert.equal((await inspect({ image: 'oci-archive:absent.tar' })).status, 404);
    assert.deepEqual(readdirSync(join(svc.dataDir, 'tmp')), []);
  });
});

describe('broken layouts and bad paths', () => {
  /** A fresh copy of the `rt` layout (written by skiff above) to break. */
  function brokenCopy(name: string): { dir: string; manifestDigest: string; manifest: { config: { digest: string }; layers: { digest: string; size: number }[] } } {
    execFileSync('cp', ['-r', abs('rt'), abs(name)]);
    const manifestDigest = indexOf(name).manifests[0]!.digest;
    const manifest = JSON.parse(readFileSync(join(abs(name), 'blobs/sha256', manifestDigest.slice(7)), 'utf8')) as {
      config: { digest: string };
      layers: { digest: string; size: number }[];
    };
    return { dir: abs(name), manifestDigest, manifest };
  }
  const blobPath = (dir: string, digest: string) => join(dir, 'blobs/sha256', digest.slice(7));

  it('index.json that is not JSON, or lies about the manifest, is a 422 naming the problem', async () => {
    const a = brokenCopy('bad-json');
    writeFileSync(join(a.dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    const r1 = await inspect({ image: 'oci:bad-json:v1' });
    assert.equal(r1.status, 422);
    assert.equal(r1.body['code'], 'LAYOUT_INVALID');
    assert.match(String(r1.body['detail']), /index\.json is not valid JSON/);

    const b = brokenCopy('bad-size');
    writeFileSync(join(b.dir, 'index.json'), readFileSync(join(b.dir, 'index.json'), 'utf8').replace(/"size":\d+/, '"size":12'));
    const r2 = await inspect({ image: 'oci:bad-size:v1' });
    assert.equal(r2.status, 422);
    assert.match(String(r2.body['detail']), /12 bytes/);

    const c = brokenCopy('no-manifest');
    execFileSync('rm', [blobPath(c.dir, c.manifestDigest)]);
    const r3 = await inspect({ image: 'oci:no-manifest:v1' });
    assert.equal(r3.status, 422);
    assert.match(String(r3.body['detail']), /missing/);

    const d = brokenCopy('bad-digest');
    const text = readFileSync(blobPath(d.dir, d.manifestDigest), 'utf8');
    assert.match(text, /"digest":\s*"sha256:/);
    // same size, one character of the config digest changed
    writeFileSync(blobPath(d.dir, d.manifestDigest), text.replace(/("digest":\s*"sha256:)(.)/, (_m, p: string, c: string) => p + (c === 'a' ? 'b' : 'a')));
    const r4 = await inspect({ image: 'oci:bad-digest:v1' });
    assert.equal(r4.status, 422);
    assert.match(String(r4.body['detail']), /hashes to/);
  });

  it('a missing, resized or altered layer fails the copy and nothing is tagged', async () => {
    const e = brokenCopy('no-layer');
    execFileSync('rm', [blobPath(e.dir, e.manifest.layers[1]!.digest)]);
    const f = brokenCopy('short-layer');
    writeFileSync(blobPath(f.dir, f.manifest.layers[1]!.digest), 'short');
    const g = brokenCopy('altered-layer');
    const layer = readFileSync(blobPath(g.dir, g.manifest.layers[1]!.digest));
    layer[layer.length - 20] ^= 0xff;
    writeFileSync(blobPath(g.dir, g.manifest.layers[1]!.digest), layer);
    for (const [layout, code] of [
      ['no-layer', 'LAYOUT_INVALID'],
      ['short-layer', 'LAYOUT_INVALID'],
      ['altered-layer', 'DIGEST_MISMATCH'],
    ] as const) {
      const op = await copy({ source: `oci:${layout}:v1`, destination: R(`broken/${layout}:v1`) });
      assert.equal(op.state, 'failed', layout);
      assert.equal(op.error!.code, code, JSON.stringify(op.error));
      assert.equal(await skopeoManifestDigest(R(`broken/${layout}:v1`)), undefined);
      // into a layout: nothing referenced, no blob of it left behind, no temp files
      const into = await copy({ source: `oci:${layout}:v1`, destination: `oci:failed-${layout}:v1` });
      assert.equal(into.state, 'failed');
      assert.equal(existsSync(abs(`failed-${layout}`)), false, `failed-${layout} is removed`);
    }
  });

  it('a blob that is a symbolic link out of the storage root is refused (400), never read', async () => {
    const h = brokenCopy('linked-out');
    const outside = join(makeTmpDirSync('skiff-outside-blob-'), 'secret');
    writeFileSync(outside, readFileSync(blobPath(h.dir, h.manifest.config.digest)));
    execFileSync('rm', [blobPath(h.dir, h.manifest.config.digest)]);
    symlinkSync(outside, blobPath(h.dir, h.manifest.config.digest));
    const r = await inspect({ image: 'oci:linked-out:v1' });
    assert.equal(r.status, 400);
    assert.equal(r.body['code'], 'PATH_ESCAPES_STORAGE_ROOT');
  });

  it('selection problems: several images without a name (400), unknown name or layout (404)', async () => {
    const several = await inspect({ image: 'oci:tags' });
    assert.equal(several.status, 400);
    assert.match(String(several.body['detail']), /more than one image/);
    assert.equal((await inspect({ image: 'oci:tags:nope' })).status, 404);
    assert.equal((await inspect({ image: 'oci:tags:@9' })).status, 404);
    assert.equal((await inspect({ image: 'oci:nothing-here:x' })).status, 404);
    const at = await copy({ source: R('team/oci:v1'), destination: 'oci:tags:@0' });
    assert.equal(at.error!.code, 'INVALID_REFERENCE');
  });

  it('paths that leave the storage root are 400, for reading and writing', async () => {
    mkdirSync(abs('links'), { recursive: true });
    symlinkSync(makeTmpDirSync('skiff-outside-'), abs('links/out'));
    for (const image of ['oci:../x:y', 'oci:/etc:y', 'oci:links/out:y', 'oci-archive:../x.tar', 'oci-archive:links/out/x.tar']) {
      const r = await inspect({ image });
      assert.equal(r.status, 400, image);
      assert.equal(r.body['code'], 'PATH_ESCAPES_STORAGE_ROOT', image);
      const c = await copy({ source: R('team/oci:v1'), destination: image });
      assert.equal(c.error?.code, 'PATH_ESCAPES_STORAGE_ROOT', image);
    }
    assert.deepEqual(readdirSync(join(abs('links/out'))), []);
  });
});
