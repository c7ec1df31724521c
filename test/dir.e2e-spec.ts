/**
 * dir: through the HTTP API (inspect, copy in both directions), against a real registry, with
 * skopeo as the oracle both ways: skiff's directories are byte-identical to skopeo's for the
 * same copy, and each reads what the other wrote.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileDigests } from './support/files';
import { makeLayer, pseudoRandomBytes, pushImage, pushMultiArch, type PushedImage } from './support/images';
import { inspectImage } from './support/images-api';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeoInspect, skopeoManifestDigest, skopeoOk, comparableInspect } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
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
const copy = (body: Record<string, unknown>): Promise<Op> => copyFinished(svc, body);
const ok = (body: Record<string, unknown>): Promise<Op> => copySucceeded(svc, body);
const inspect = (query: Record<string, string>) => inspectImage(svc, query);

/** Hidden staging or leftover entries in the storage root (not the replicas' lease directory, .skiff). */
const leftovers = () => readdirSync(root).filter((n) => n.startsWith('.') && n !== '.skiff');

before(async () => {
  reg = await startRegistry({ mode: 'plain' });
  const layers = [makeLayer({ 'etc/os-release': 'ID=skiff\n' }), makeLayer({ 'app/bin': pseudoRandomBytes(40_000, 'dir-app') })];
  v2s2 = await pushImage(reg, 'team/app', '1.0', { layers, config: { Env: ['A=1'], Labels: { a: 'b' } }, os: 'linux', architecture: 'amd64', format: 'v2s2' });
  oci = await pushImage(reg, 'team/oci', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'oci' });
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  await pushMultiArch(reg, 'team/multid', 'latest', { format: 'v2s2', platforms });
  await pushMultiArch(reg, 'team/multi', 'latest', { format: 'oci', platforms });
  root = makeTmpDirSync('skiff-dir-root-');
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: root });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('dir: destination and source', () => {
  it('registry → dir → registry keeps digests; the directory equals skopeo’s byte for byte', async () => {
    for (const [repo, name, digest] of [
      ['team/app:1.0', 'app', v2s2.digest],
      ['team/oci:v1', 'oci', oci.digest],
    ] as const) {
      const op = await ok({ source: R(repo), destination: `dir:${name}` });
      assert.equal(op.result!.digest, digest);
      await skopeoOk(['copy', '--src-tls-verify=false', R(repo), `dir:${abs(`sk-${name}`)}`]);
      assert.deepEqual(fileDigests(abs(name)), fileDigests(abs(`sk-${name}`)), name);
      const back = await ok({ source: `dir:${name}`, destination: R(`back/${name}:x`) });
      assert.equal(back.result!.digest, digest);
      assert.equal(await skopeoManifestDigest(R(`back/${name}:x`)), digest);
    }
    assert.equal(statSync(abs('app')).mode & 0o777, 0o755);
    assert.deepEqual(leftovers(), []);
  });

  it('multiArch=all stores the list and <hex>.manifest.json instances as skopeo --all does', async () => {
    for (const repo of ['team/multid:latest', 'team/multi:latest']) {
      const name = repo.split(':')[0]!.replace('/', '-');
      const op = await ok({ source: R(repo), destination: `dir:${name}`, multiArch: 'all' });
      await skopeoOk(['copy', '--all', '--src-tls-verify=false', R(repo), `dir:${abs(`sk-${name}`)}`]);
      assert.deepEqual(fileDigests(abs(name)), fileDigests(abs(`sk-${name}`)), name);
      assert.ok(readdirSync(abs(name)).includes(`${op.result!.manifests[0]!.digest.slice(7)}.manifest.json`));
      const back = await ok({ source: `dir:${name}`, destination: R(`back/${name}:all`), multiArch: 'all' });
      assert.equal(back.result!.digest, await skopeoManifestDigest(R(repo)));
    }
  });

  it('skopeo reads what skiff wrote, skiff reads what skopeo wrote: inspect, raw and config equal', async () => {
    for (const name of ['app', 'sk-app', 'oci', 'team-multid', 'sk-team-multi']) {
      const ours = await inspect({ image: `dir:${name}` });
      assert.equal(ours.status, 200, JSON.stringify(ours.body));
      assert.deepEqual(comparableInspect(ours.body), (await skopeoInspect(`dir:${abs(name)}`)) as unknown as Record<string, unknown>, name);
      assert.equal('Name' in ours.body, false);
      assert.deepEqual(ours.body['RepoTags'], []);
      assert.deepEqual((await inspect({ image: `dir:${name}`, raw: 'true' })).bytes, await skopeoInspect(`dir:${abs(name)}`, { raw: true }));
      assert.deepEqual((await inspect({ image: `dir:${name}`, config: 'true' })).body, await skopeoInspect(`dir:${abs(name)}`, { config: true }));
    }
    await skopeoOk(['copy', '--dest-tls-verify=false', `dir:${abs('app')}`, R('sk/fromdir:x')]);
    assert.equal(await skopeoManifestDigest(R('sk/fromdir:x')), v2s2.digest);
  });

  it('dir → oci converts as skopeo does', async () => {
    await ok({ source: 'dir:app', destination: 'oci:fromdir:x' });
    await skopeoOk(['copy', `dir:${abs('app')}`, `oci:${abs('sk-fromdir')}:x`]);
    assert.deepEqual(fileDigests(abs('fromdir')), fileDigests(abs('sk-fromdir')));
  });

  it('replaces an earlier dir: image; refuses a directory that is not one, or a file (409)', async () => {
    await ok({ source: R('team/oci:v1'), destination: 'dir:app' });
    assert.deepEqual(fileDigests(abs('app')), fileDigests(abs('sk-oci')));
    mkdirSync(abs('precious'));
    writeFileSync(abs('precious/notes.txt'), 'keep');
    writeFileSync(abs('plainfile'), 'x');
    for (const dest of ['dir:precious', 'dir:plainfile']) {
      const op = await copy({ source: R('team/oci:v1'), destination: dest });
      assert.equal(op.state, 'failed', dest);
      assert.equal(op.error!.code, 'STORAGE_CONFLICT');
      assert.equal(op.error!.status, 409);
    }
    assert.equal(readFileSync(abs('precious/notes.txt'), 'utf8'), 'keep');
    assert.deepEqual(leftovers(), []);
  });

  it('a copy that fails leaves the existing image untouched and creates nothing new', async () => {
    execFileSync('cp', ['-r', abs('sk-app'), abs('tampered')]);
    const layer = join(abs('tampered'), v2s2.layers[1]!.digest.slice(7));
    const bytes = readFileSync(layer);
    bytes[bytes.length - 30] ^= 0xff;
    writeFileSync(layer, bytes);
    const before = fileDigests(abs('oci'));
    const over = await copy({ source: 'dir:tampered', destination: 'dir:oci' });
    assert.equal(over.state, 'failed');
    assert.equal(over.error!.code, 'DIGEST_MISMATCH');
    assert.deepEqual(fileDigests(abs('oci')), before);
    const fresh = await copy({ source: 'dir:tampered', destination: 'dir:new-one' });
    assert.equal(fresh.state, 'failed');
    assert.equal(existsSync(abs('new-one')), false);
    assert.deepEqual(leftovers(), []);
  });

  it('broken directories give clear problems', async () => {
    execFileSync('cp', ['-r', abs('sk-app'), abs('badjson')]);
    writeFileSync(abs('badjson/manifest.json'), '{"schemaVersion": 2,');
    const r1 = await inspect({ image: 'dir:badjson' });
    assert.equal(r1.status, 422);
    assert.equal(r1.body['code'], 'LAYOUT_INVALID');
    execFileSync('cp', ['-r', abs('sk-app'), abs('noblob')]);
    execFileSync('rm', [join(abs('noblob'), v2s2.layers[0]!.digest.slice(7))]);
    const op = await copy({ source: 'dir:noblob', destination: R('broken/noblob:x') });
    assert.equal(op.error!.code, 'LAYOUT_INVALID');
    assert.match(op.error!.detail, /missing/);
    assert.equal(await skopeoManifestDigest(R('broken/noblob:x')), undefined);
    execFileSync('cp', ['-r', abs('sk-app'), abs('noconfig')]);
    execFileSync('rm', [join(abs('noconfig'), v2s2.configDigest.slice(7))]);
    assert.equal((await inspect({ image: 'dir:noconfig' })).status, 422);
    assert.equal((await inspect({ image: 'dir:does-not-exist' })).status, 404);
  });

  it('paths that leave the storage root are 400', async () => {
    for (const image of ['dir:../x', 'dir:/tmp', 'dir:a/../../x']) {
      const r = await inspect({ image });
      assert.equal(r.status, 400, image);
      assert.equal(r.body['code'], 'PATH_ESCAPES_STORAGE_ROOT');
      const c = await copy({ source: R('team/oci:v1'), destination: image });
      assert.equal(c.error!.code, 'PATH_ESCAPES_STORAGE_ROOT');
    }
  });
});
