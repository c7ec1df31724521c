/**
 * POST /v1/syncs against real registries started here, with `skopeo sync` (1.9.3) as the
 * oracle: for the same source and options, skopeo into one namespace and skiff into another
 * must give the same repositories, tags and digests.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pseudoRandomBytes, pushBlob, pushImage, pushMultiArch, pushTags, sha256Digest, type Layer, type PushedImage } from './support/images';
import { clientFor } from './support/registry-client';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';
import { type Operation, submit, waitForOperation } from './support/operations';

interface ImageEntry {
  source: string;
  destination: string;
  state: 'copied' | 'skipped' | 'failed' | 'planned';
  digest?: string;
  bytes?: number;
  error?: { code: string; detail: string };
}

type Op = Operation<{ images: ImageEntry[]; counts: Record<string, number>; bytes: number }>;

let src: TestRegistry;
let dst: TestRegistry;
let basic: TestRegistry;
let token: TestRegistry;
let svc: SkiffService;
let alpha: Record<string, PushedImage>;
let broken: Record<string, PushedImage>;
let regConf: string;

const plainTls = { sourceTlsVerify: false, destinationTlsVerify: false };
const ALPHA_TAGS = ['1.0.0', '1.1.0', '1.2.0-rc.1', '1.2.0', '2.0.0'];
const BETA_TAGS = ['v1', 'v2', 'v3', 'edge'];

async function post(service: SkiffService, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const { res, op } = await submit<NonNullable<Op['result']>>(service, 'syncs', body, { headers });
  return { res, body: op };
}

const waitDone = (service: SkiffService, id: string, seconds = 180): Promise<Op> => waitForOperation(service, id, seconds);

async function sync(body: Record<string, unknown>, service = svc): Promise<Op> {
  const { res, body: op } = await post(service, body);
  assert.equal(res.status, 202, JSON.stringify(op));
  assert.equal(res.headers.get('location'), `/v1/operations/${op.id}`);
  assert.equal(op.kind, 'sync');
  return waitDone(service, op.id);
}

/** repository (below `prefix/`) → tag → manifest digest, read straight from the registry. */
async function snapshot(reg: TestRegistry, prefix: string): Promise<Record<string, Record<string, string>>> {
  const client = clientFor(reg);
  const cat = JSON.parse((await client.request('GET', '/v2/_catalog?n=1000')).body.toString()) as { repositories: string[] };
  const out: Record<string, Record<string, string>> = {};
  for (const repo of cat.repositories.filter((r) => r.startsWith(`${prefix}/`)).sort()) {
    const res = await client.request('GET', `/v2/${repo}/tags/list`);
    const tags = ((JSON.parse(res.body.toString()) as { tags: string[] | null }).tags ?? []).sort();
    if (tags.length === 0) continue;
    const entry: Record<string, string> = {};
    for (const t of tags) entry[t] = await manifestDigest(reg, repo, t);
    out[repo.slice(prefix.length + 1)] = entry;
  }
  return out;
}

async function manifestDigest(reg: TestRegistry, repo: string, ref: string): Promise<string> {
  const res = await clientFor(reg).request('GET', `/v2/${repo}/manifests/${ref}`, {
    headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  return res.status === 200 ? sha256Digest(res.body) : `HTTP ${res.status}`;
}

async function skopeoSync(args: string[]): Promise<void> {
  const r = await skopeo(['sync', ...args], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
}

function yamlFile(text: string): string {
  const f = join(makeTmpDirSync('skiff-sync-yaml-'), 'sync.yaml');
  writeFileSync(f, text);
  return f;
}

function layerOf(seed: string, size: number): Layer {
  return makeLayer({ [`data/${seed}`]: pseudoRandomBytes(size, seed) });
}

before(async () => {
  [src, dst, basic, token] = await Promise.all([
    startRegistry({ mode: 'plain' }),
    startRegistry({ mode: 'plain' }),
    startRegistry({ mode: 'basic' }),
    startRegistry({ mode: 'token' }),
  ]);
  const base1 = layerOf('base1', 300_000);
  const base2 = layerOf('base2', 120_000);
  const push = (reg: TestRegistry, repo: string, tag: string, layers: Layer[], format: 'v2s2' | 'oci' = 'v2s2') =>
    pushImage(reg, repo, tag, { layers, os: 'linux', architecture: 'amd64', format, config: { Env: [`TAG=${tag}`] } });
  // The shared base blobs go into each repository first: pushing one blob twice at once races in the registry.
  for (const repo of ['lib/alpha', 'lib/beta', 'tools/gamma', 'broken/app']) {
    for (const l of [base1, base2]) await pushBlob(src, repo, l.bytes);
  }
  const alphaImages = await Promise.all(ALPHA_TAGS.map((t) => push(src, 'lib/alpha', t, [base1, base2, layerOf(`alpha-${t}`, 20_000)])));
  alpha = Object.fromEntries(ALPHA_TAGS.map((t, i) => [t, alphaImages[i]!]));
  await pushTags(src, 'lib/alpha', alpha['2.0.0']!, ['latest']);
  await Promise.all(BETA_TAGS.map((t) => push(src, 'lib/beta', t, [base1, layerOf(`beta-${t}`, 15_000)])));
  await Promise.all(['0.1', '0.2', '1.0'].map((t) => push(src, 'tools/gamma', t, [base2, layerOf(`gamma-${t}`, 10_000)], 'oci')));
  await pushMultiArch(src, 'multi/app', '1', {
    format: 'oci',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
  });
  await pushMultiArch(src, 'multi/app', '2', { format: 'v2s2', platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 's390x' }] });
  const brokenImages = await Promise.all(['1', '2', '3'].map((t) => push(src, 'broken/app', t, [base1, layerOf(`broken-${t}`, 10_000)])));
  broken = { '1': brokenImages[0]!, '2': brokenImages[1]!, '3': brokenImages[2]! };
  // The blob of tag 2's own layer disappears from the registry's storage: its manifest stays.
  const hex = broken['2']!.layers[1]!.digest.slice('sha256:'.length);
  rmSync(join(src.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), { recursive: true, force: true });

  // One at a time: the same base blob pushed twice at once into a fresh repository races in the registry.
  await push(basic, 'auth/app', 'a', [base1, layerOf('auth-a', 5_000)]);
  await push(basic, 'auth/app', 'b', [base1, layerOf('auth-b', 5_000)]);
  await push(token, 'tok/app', 'x', [base2, layerOf('tok-x', 5_000)]);
  const dir = makeTmpDirSync('skiff-sync-conf-');
  regConf = join(dir, 'registries.yaml');
  writeFileSync(regConf, `registries:\n  - location: "${token.host}"\n    ca: ${token.caFile}\n`);
  svc = await startSkiff({ SKIFF_REGISTRIES_CONFIG: regConf, SKIFF_SYNC_CERT_DIRS: basic.certDir! });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('sync from a docker repository', () => {
  it('copies every tag as skopeo sync does; a re-sync skips every image after one request each', async () => {
    await skopeoSync(['--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', `${src.host}/lib/alpha`, `${dst.host}/skopeo-repo`]);
    const op = await sync({ source: `${src.host}/lib/alpha`, sourceType: 'docker', destination: `${dst.host}/skiff-repo`, destinationType: 'docker', ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(await snapshot(dst, 'skiff-repo'), await snapshot(dst, 'skopeo-repo'));
    const tags = [...ALPHA_TAGS, 'latest'];
    assert.equal(op.result!.images.length, tags.length);
    assert.deepEqual(op.result!.counts, { copied: tags.length, skipped: 0, failed: 0, planned: 0 });
    for (const img of op.result!.images) {
      const tag = img.source.split(':').pop()!;
      assert.equal(img.source, `docker://${src.host}/lib/alpha:${tag}`);
      assert.equal(img.destination, `docker://${dst.host}/skiff-repo/alpha:${tag}`);
      assert.equal(img.digest, tag === 'latest' ? alpha['2.0.0']!.digest : alpha[tag]!.digest);
    }
    assert.equal(op.progress['imagesTotal'], tags.length);
    assert.equal(op.progress['imagesDone'], tags.length);
    // base layers are transferred once (the same destination repository dedupes them)
    const unique = new Set(Object.values(alpha).flatMap((i) => [i.configDigest, ...i.layers.map((l) => l.digest)]));
    assert.equal(Number(op.progress['blobsDone']), unique.size);

    const again = await sync({ source: `${src.host}/lib/alpha`, sourceType: 'docker', destination: `${dst.host}/skiff-repo`, destinationType: 'docker', ...plainTls });
    assert.equal(again.state, 'succeeded');
    assert.deepEqual(again.result!.counts, { copied: 0, skipped: tags.length, failed: 0, planned: 0 });
    assert.equal(again.progress['bytesDone'], 0);
  });

  it('syncs one image by tag or by digest; scoped names keep the host (host:port as host_port)', async () => {
    const byTag = await sync({ source: `docker://${src.host}/lib/beta:v2`, sourceType: 'docker', destination: `${dst.host}/one`, destinationType: 'docker', ...plainTls });
    assert.equal(byTag.state, 'succeeded', JSON.stringify(byTag.error));
    assert.deepEqual(byTag.result!.images.map((i) => i.destination), [`docker://${dst.host}/one/beta:v2`]);
    const d = alpha['1.1.0']!.digest;
    const byDigest = await sync({ source: `${src.host}/lib/alpha@${d}`, sourceType: 'docker', destination: `${dst.host}/one`, destinationType: 'docker', scoped: true, appendSuffix: '-x', ...plainTls });
    assert.equal(byDigest.state, 'succeeded', JSON.stringify(byDigest.error));
    const hostDir = src.host.replace(':', '_');
    assert.deepEqual(byDigest.result!.images.map((i) => i.destination), [`docker://${dst.host}/one/${hostDir}/lib/alpha@${d}`]);
    assert.equal(await manifestDigest(dst, `one/${hostDir}/lib/alpha`, d), d);
    assert.deepEqual(await snapshot(dst, `one/${hostDir}`), {}, 'a digest entry is pushed untagged');
  });

  it('multi-arch: the system instance by default, every instance with all — as skopeo', async () => {
    for (const [all, ns] of [
      [false, 'sys'],
      [true, 'all'],
    ] as const) {
      await skopeoSync(['--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', ...(all ? ['--all'] : []), `${src.host}/multi/app`, `${dst.host}/skopeo-${ns}`]);
      const op = await sync({ source: `${src.host}/multi/app`, sourceType: 'docker', destination: `${dst.host}/skiff-${ns}`, destinationType: 'docker', all, ...plainTls });
      assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      const mine = await snapshot(dst, `skiff-${ns}`);
      assert.deepEqual(mine, await snapshot(dst, `skopeo-${ns}`), ns);
      const srcIndex = await manifestDigest(src, 'multi/app', '1');
      if (all) assert.equal(mine['app']!['1'], srcIndex);
      else assert.notEqual(mine['app']!['1'], srcIndex);
    }
  });
});

describe('sync from a YAML document', () => {
  it('images (tags, digests, all tags) and images-by-tag-regex give what skopeo sync --src yaml gives', async () => {
    const yaml = [
      `${src.host}:`,
      '  tls-verify: false',
      '  images:',
      '    lib/beta: []',
      `    lib/alpha: ["1.0.0", "${alpha['1.2.0']!.digest}"]`,
      '  images-by-tag-regex:',
      '    tools/gamma: ^0\\.',
      '',
    ].join('\n');
    await skopeoSync(['--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', yamlFile(yaml), `${dst.host}/skopeo-y`]);
    const op = await sync({ sourceType: 'yaml', yaml, destination: `${dst.host}/skiff-y`, destinationType: 'docker', destinationTlsVerify: false });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const mine = await snapshot(dst, 'skiff-y');
    assert.deepEqual(mine, await snapshot(dst, 'skopeo-y'));
    assert.deepEqual(Object.keys(mine).sort(), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(Object.keys(mine['gamma']!).sort(), ['0.1', '0.2']);
    assert.deepEqual(Object.keys(mine['alpha']!), ['1.0.0'], 'the digest entry is not tagged');
    assert.equal(await manifestDigest(dst, 'skiff-y/alpha', alpha['1.2.0']!.digest), alpha['1.2.0']!.digest);
    // base1 is shared by alpha and beta: uploaded into one repository, mounted into the other
    assert.ok(Number(op.progress['blobsMounted']) >= 1, JSON.stringify(op.progress));
  });

  it('images-by-semver selects tags with Masterminds semantics; scoped names with a port use host_port', async () => {
    const yaml = `${src.host}:\n  tls-verify: false\n  images-by-semver:\n    lib/alpha: ">= 1.1, < 2"\n`;
    const op = await sync({ sourceType: 'yaml', yaml, destination: `${dst.host}/semver`, destinationType: 'docker', destinationTlsVerify: false, scoped: true });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const hostDir = src.host.replace(':', '_');
    assert.deepEqual(await snapshot(dst, 'semver'), {
      [`${hostDir}/lib/alpha`]: { '1.1.0': alpha['1.1.0']!.digest, '1.2.0': alpha['1.2.0']!.digest },
    });
  });

  it('credentials in the YAML reach a basic-auth registry through an allowed cert-dir, and a token-auth one; they are never stored', async () => {
    const yaml = [
      `${basic.host}:`,
      `  cert-dir: ${basic.certDir}`,
      '  credentials:',
      `    username: ${basic.username}`,
      `    password: ${basic.password}`,
      '  images:',
      '    auth/app: []',
      `${token.host}:`,
      '  credentials:',
      `    username: ${token.username}`,
      `    password: ${token.password}`,
      '  images:',
      '    tok/app: [x]',
      '',
    ].join('\n');
    const { res, body: queued } = await post(svc, { sourceType: 'yaml', yaml, destination: `${dst.host}/authd`, destinationType: 'docker', destinationTlsVerify: false });
    assert.equal(res.status, 202, JSON.stringify(queued));
    const storedYaml = String(queued.request['yaml']);
    assert.ok(!storedYaml.includes(basic.password!) && !storedYaml.includes(token.password!), storedYaml);
    assert.match(storedYaml, /\[redacted\]/);
    const op = await waitDone(svc, queued.id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.deepEqual(Object.keys(await snapshot(dst, 'authd')).sort(), ['app']);
    assert.deepEqual(Object.keys((await snapshot(dst, 'authd'))['app']!).sort(), ['a', 'b', 'x']);
    assert.ok(!svc.log().includes(basic.password!) && !svc.log().includes(token.password!));

    const bad = await post(svc, { sourceType: 'yaml', yaml: `${basic.host}:\n  cert-dir: ${basic.tmpDir}\n  images:\n    auth/app: []\n`, destination: `${dst.host}/x`, destinationType: 'docker' });
    assert.equal(bad.res.status, 400);
    assert.match(bad.body.detail!, /cert-dir/);
  });

  it('a cert-dir with several CAs and a client certificate reaches a registry that requires one', async () => {
    const mtls = await startRegistry({ mode: 'basic', requireClientCert: true });
    const img = await pushImage(mtls, 'mtls/app', 'v1', { layers: [makeLayer({ m: 'tls' })], os: 'linux', architecture: 'amd64', format: 'oci' });
    // skopeo's cert-dir layout: every *.crt is a CA (here two: a bundle is built), one *.cert/*.key pair
    const certDir = makeTmpDirSync('skiff-sync-certdir-');
    writeFileSync(join(certDir, 'ca.crt'), readFileSync(mtls.caFile!));
    writeFileSync(join(certDir, 'other-ca.crt'), readFileSync(mtls.caFile!));
    writeFileSync(join(certDir, 'client.cert'), readFileSync(mtls.clientCertFile!));
    writeFileSync(join(certDir, 'client.key'), readFileSync(mtls.clientKeyFile!));
    const own = await startSkiff({ SKIFF_SYNC_CERT_DIRS: certDir });
    try {
      const yaml = `${mtls.host}:\n  cert-dir: ${certDir}\n  credentials: {username: ${mtls.username}, password: ${mtls.password}}\n  images:\n    mtls/app: []\n`;
      const op = await sync({ sourceType: 'yaml', yaml, destination: `${dst.host}/mtls`, destinationType: 'docker', destinationTlsVerify: false }, own);
      assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
      assert.deepEqual(await snapshot(dst, 'mtls'), { app: { v1: img.digest } });

      // without the client certificate the registry refuses the connection
      const caOnly = makeTmpDirSync('skiff-sync-certdir-ca-');
      writeFileSync(join(caOnly, 'ca.crt'), readFileSync(mtls.caFile!));
      const refusedYaml = `${mtls.host}:\n  cert-dir: ${caOnly}\n  credentials: {username: ${mtls.username}, password: ${mtls.password}}\n  images:\n    mtls/app: []\n`;
      const other = await startSkiff({ SKIFF_SYNC_CERT_DIRS: caOnly });
      try {
        const failed = await sync({ sourceType: 'yaml', yaml: refusedYaml, destination: `${dst.host}/mtls-refused`, destinationType: 'docker', destinationTlsVerify: false }, other);
        assert.equal(failed.state, 'failed', JSON.stringify(failed));
        assert.match(JSON.stringify(failed.error ?? failed.result), /client certificate/);
      } finally {
        await other.stop();
      }
    } finally {
      await own.stop();
      await mtls.stop();
    }
  });
});

describe('dir sources and destinations', () => {
  it('registry → dir names and writes images as skopeo does; dir → registry brings them back', async () => {
    const out = makeTmpDirSync('skiff-skopeo-dir-');
    await skopeoSync(['--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${src.host}/lib/beta`, join(out, 'mirror')]);
    const op = await sync({ source: `${src.host}/lib/beta`, sourceType: 'docker', destination: 'mirror', destinationType: 'dir', ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    const root = join(svc.dataDir, 'images', 'mirror');
    assert.deepEqual(readdirSync(root).filter((n) => !n.startsWith('.')).sort(), readdirSync(join(out, 'mirror')).sort());
    for (const name of readdirSync(join(out, 'mirror'))) {
      assert.equal(sha256Digest(readFileSync(join(root, name, 'manifest.json'))), sha256Digest(readFileSync(join(out, 'mirror', name, 'manifest.json'))), name);
    }
    const again = await sync({ source: `${src.host}/lib/beta`, sourceType: 'docker', destination: 'mirror', destinationType: 'dir', ...plainTls });
    assert.deepEqual(again.result!.counts, { copied: 0, skipped: BETA_TAGS.length, failed: 0, planned: 0 });

    const back = await sync({ source: 'mirror', sourceType: 'dir', destination: `${dst.host}/fromdir`, destinationType: 'docker', destinationTlsVerify: false });
    assert.equal(back.state, 'succeeded', JSON.stringify(back.error));
    assert.equal(back.result!.images[0]!.source.startsWith('dir:mirror/'), true);
    await skopeoSync(['--src', 'dir', '--dest', 'docker', '--dest-tls-verify=false', join(out, 'mirror'), `${dst.host}/skopeo-fromdir`]);
    const mine = await snapshot(dst, 'fromdir');
    assert.deepEqual(mine, await snapshot(dst, 'skopeo-fromdir'));
    const original = await snapshot(src, 'lib');
    assert.deepEqual(mine['beta'], original['beta']);
  });
});

describe('failures, dry runs and validation', () => {
  it('keepGoing records the broken image and copies the rest; without it the first failure fails the operation with what was done', async () => {
    const going = await sync({ source: `${src.host}/broken/app`, sourceType: 'docker', destination: `${dst.host}/kg`, destinationType: 'docker', keepGoing: true, ...plainTls });
    assert.equal(going.state, 'succeeded', JSON.stringify(going.error));
    assert.deepEqual(going.result!.counts, { copied: 2, skipped: 0, failed: 1, planned: 0 });
    const failed = going.result!.images.find((i) => i.state === 'failed')!;
    assert.equal(failed.source, `docker://${src.host}/broken/app:2`);
    assert.ok(failed.error?.code, JSON.stringify(failed));
    assert.deepEqual(await snapshot(dst, 'kg'), { app: { '1': broken['1']!.digest, '3': broken['3']!.digest } });

    const stopped = await sync({ source: `${src.host}/broken/app`, sourceType: 'docker', destination: `${dst.host}/stop`, destinationType: 'docker', ...plainTls });
    assert.equal(stopped.state, 'failed');
    assert.equal(stopped.error!.code, failed.error!.code);
    assert.match(stopped.error!.detail, /broken\/app:2/);
    const images = stopped.result!.images;
    assert.ok(images.some((i) => i.state === 'failed' && i.source.endsWith(':2')), JSON.stringify(images));
    for (const i of images.filter((x) => x.state === 'copied')) assert.equal(await manifestDigest(dst, 'stop/app', i.source.split(':').pop()!), i.digest);
  });

  it('a dry run lists every image, its destination and the bytes to transfer, and writes nothing', async () => {
    const op = await sync({ source: `${src.host}/lib/alpha`, sourceType: 'docker', destination: `${dst.host}/dry`, destinationType: 'docker', dryRun: true, ...plainTls });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error));
    assert.equal(op.result!.images.length, ALPHA_TAGS.length + 1);
    assert.ok(op.result!.images.every((i) => i.state === 'planned' && i.destination.startsWith(`docker://${dst.host}/dry/alpha:`)));
    const unique = new Map(Object.values(alpha).flatMap((i) => [[i.configDigest, i.configBytes.length] as const, ...i.layers.map((l) => [l.digest, l.size] as const)]));
    assert.equal(op.result!.bytes, [...unique.values()].reduce((a, b) => a + b, 0));
    assert.deepEqual(await snapshot(dst, 'dry'), {});
    const blob = await clientFor(dst).request('HEAD', `/v2/dry/alpha/blobs/${alpha['1.0.0']!.layers[0]!.digest}`);
    assert.equal(blob.status, 404);

    const afterReal = await sync({ source: `${src.host}/lib/alpha`, sourceType: 'docker', destination: `${dst.host}/skiff-repo`, destinationType: 'docker', dryRun: true, ...plainTls });
    assert.deepEqual(afterReal.result!.counts, { copied: 0, skipped: ALPHA_TAGS.length + 1, failed: 0, planned: 0 });
    assert.equal(afterReal.result!.bytes, 0);
  });

  it('a digest entry whose manifest the copy changes is pushed under the digest written (skopeo fails there)', async () => {
    const d = alpha['1.0.0']!.digest;
    const yaml = `${src.host}:\n  tls-verify: false\n  images:\n    lib/alpha: ["${d}"]\n    multi/app: ["${await manifestDigest(src, 'multi/app', '1')}"]\n`;
    const op = await sync({ sourceType: 'yaml', yaml, destination: `${dst.host}/conv`, destinationType: 'docker', destinationTlsVerify: false, format: 'oci' });
    assert.equal(op.state, 'succeeded', JSON.stringify(op.error ?? op.result));
    for (const img of op.result!.images) {
      assert.equal(img.state, 'copied', JSON.stringify(img));
      const repo = img.source.includes('/lib/alpha@') ? 'alpha' : 'app';
      assert.equal(img.destination, `docker://${dst.host}/conv/${repo}@${img.digest}`);
      assert.equal(await manifestDigest(dst, `conv/${repo}`, img.digest!), img.digest);
    }
    assert.notEqual(op.result!.images[0]!.digest, d);
    assert.deepEqual(await snapshot(dst, 'conv'), {}, 'nothing is tagged');
  });

  it('cancel stops a running sync at once and tags nothing partial', async () => {
    const proxy = await startFaultProxy(src.url);
    try {
      proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, action: { kind: 'stall' } });
      const { body: op } = await post(svc, { source: `${proxy.host}/lib/beta`, sourceType: 'docker', destination: `${dst.host}/cancelled`, destinationType: 'docker', ...plainTls });
      for (let i = 0; i < 200; i++) {
        const cur = (await (await fetch(`${svc.url}/v1/operations/${op.id}`)).json()) as Op;
        if (cur.state === 'running' && cur.progress['phase'] === 'copying') break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const c = await fetch(`${svc.url}/v1/operations/${op.id}/cancel`, { method: 'POST' });
      assert.equal(c.status, 202);
      const done = await waitDone(svc, op.id, 30);
      assert.equal(done.state, 'cancelled');
      assert.deepEqual(await snapshot(dst, 'cancelled'), {});
    } finally {
      await proxy.close();
    }
  });

  it('refuses bad requests before anything is queued', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ source: 'dir-a', sourceType: 'dir', destination: 'dir-b', destinationType: 'dir' }, 'INVALID_ARGUMENT'],
      [{ sourceType: 'yaml', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_ARGUMENT'],
      [{ source: 'r.example/a', sourceType: 'yaml', yaml: 'r.example:\n  images:\n    a: []\n', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_ARGUMENT'],
      [{ sourceType: 'yaml', yaml: 'r.example:\n  images-by-tag-regex:\n    a: "(?=x)"\n', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_ARGUMENT'],
      [{ sourceType: 'yaml', yaml: 'r.example:\n  imagez:\n    a: []\n', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_ARGUMENT'],
      [{ source: 'r.example/UPPER', sourceType: 'docker', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_REFERENCE'],
      [{ source: `r.example/a:1@${alpha['1.0.0']!.digest}`, sourceType: 'docker', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_ARGUMENT'],
      [{ source: 'r.example/a', sourceType: 'docker', destination: '../out', destinationType: 'dir' }, 'PATH_ESCAPES_STORAGE_ROOT'],
      [{ source: 'r.example/a', sourceType: 'docker', destination: 'r.example/x:tag', destinationType: 'docker' }, 'INVALID_REFERENCE'],
      [{ source: 'r.example/a', sourceType: 'docker', destination: 'r.example/x', destinationType: 'docker', preserveDigests: true, format: 'oci' }, 'INVALID_ARGUMENT'],
      [{ source: 'r.example/a', sourceType: 'oci', destination: 'r.example/x', destinationType: 'docker' }, 'INVALID_ARGUMENT'],
    ];
    for (const [body, code] of cases) {
      const { res, body: p } = await post(svc, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(p.code, code, JSON.stringify(p));
    }
  });

  it('a restarted sync whose YAML carried credentials fails with CREDENTIALS_UNAVAILABLE', async () => {
    let proxy: FaultProxy | undefined;
    const own = await startSkiff({ SKIFF_MAX_CONCURRENT_OPERATIONS: '1', SKIFF_SYNC_CERT_DIRS: basic.certDir! });
    try {
      proxy = await startFaultProxy(src.url);
      proxy.addRule({ method: 'GET', path: /\/tags\/list/, times: Infinity, action: { kind: 'stall' } });
      const blocker = await post(own, { source: `${proxy.host}/lib/alpha`, sourceType: 'docker', destination: `${dst.host}/blocked`, destinationType: 'docker', ...plainTls });
      assert.equal(blocker.res.status, 202);
      const yaml = `${basic.host}:\n  cert-dir: ${basic.certDir}\n  credentials: {username: ${basic.username}, password: ${basic.password}}\n  images:\n    auth/app: []\n`;
      const { body: queued } = await post(own, { sourceType: 'yaml', yaml, destination: `${dst.host}/restarted`, destinationType: 'docker', destinationTlsVerify: false });
      assert.equal(queued.state, 'queued');
      await own.kill();
      proxy.clearRules();
      const again = await startSkiff({ SKIFF_SYNC_CERT_DIRS: basic.certDir! }, { dataDir: own.dataDir });
      try {
        const done = await waitDone(again, queued.id, 60);
        assert.equal(done.state, 'failed');
        assert.equal(done.error!.code, 'CREDENTIALS_UNAVAILABLE');
        assert.ok(!again.log().includes(basic.password!) && !own.log().includes(basic.password!));
        await waitDone(again, blocker.body.id, 60);
      } finally {
        await again.stop();
      }
    } finally {
      await proxy?.close();
    }
  });
});
