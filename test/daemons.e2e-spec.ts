/**
 * docker-daemon: and containers-storage: through the HTTP API, against a real registry, a real
 * Docker Engine (test/support/dockerd.ts) and a real Podman API service (`podman system service`
 * on vfs storage in a tmp dir), with the docker and podman CLIs and skopeo as oracles: images
 * copied into a daemon are listed with the right ID (config digest) and tags; images loaded
 * with the CLI are copied out to a registry and skopeo reads them with the same config digest;
 * skiff's inspect of docker-daemon: equals skopeo's. An absent daemon gives a 503 problem and
 * never fails /readyz.
 *
 * Each half skips (saying why) when its daemon cannot start here.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { DAEMONS_REQUIRED, DockerdUnavailableError, startDockerd, type TestDockerd } from './support/dockerd';
import { makeLayer, pseudoRandomBytes, pushImage, type PushedImage } from './support/images';
import { inspectImage } from './support/images-api';
import { startPodman, type TestPodman } from './support/podman';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo, skopeoJson } from './support/skopeo';
import { makeTmpDir, removeTmpDir } from './support/tmp';
import { mountTmpfs, requireTmpfs } from './support/tmpfs';
import { type Operation, type Submitted, copySucceeded, submitCopy } from './support/operations';

/** The engine transports are opt-in (SKIFF_TRANSPORTS): the services of these tests enable every transport. */
const ALL_TRANSPORTS = 'docker,oci,oci-archive,docker-archive,dir,docker-daemon,containers-storage';

let reg: TestRegistry;
let svc: SkiffService;
let absentSvc: SkiffService;
let app: PushedImage;
let dockerd: TestDockerd | undefined;
let dockerdMissing = '';
let podman: TestPodman | undefined;
let podmanMissing = '';

type Op = Operation<{ digest: string }>;

/** POST /v1/copies with Prefer: wait=120, plain-HTTP registries. */
async function submit(body: Record<string, unknown>, s = svc): Promise<{ status: number; op: Submitted<{ digest: string }> }> {
  const { res, op } = await submitCopy<{ digest: string }>(s, body);
  return { status: res.status, op };
}

const ok = (body: Record<string, unknown>): Promise<Op> => copySucceeded(svc, body);
const inspect = (image: string, s = svc) => inspectImage(s, { image });

const needDocker = (t: TestContext): boolean => {
  if (dockerd) return true;
  t.skip(`dockerd cannot run here: ${dockerdMissing}`);
  return false;
};
const needPodman = (t: TestContext): boolean => {
  if (podman) return true;
  t.skip(`podman cannot run here: ${podmanMissing}`);
  return false;
};

before(async () => {
  reg = await startRegistry({ mode: 'plain' });
  app = await pushImage(reg, 'team/app', '1.0', {
    layers: [makeLayer({ 'etc/os-release': 'ID=skiff\n', 'bin/tool': pseudoRandomBytes(200_000, 'dd-base') }), makeLayer({ 'app/data': pseudoRandomBytes(50_000, 'dd-app') }, { compression: 'gzip' })],
    config: { Env: ['PATH=/usr/bin', 'MODE=daemon'], Cmd: ['/bin/tool', '--serve'], Entrypoint: ['/bin/sh', '-c'], Labels: { 'org.example.team': 'skiff' } },
    os: 'linux',
    architecture: 'amd64',
    format: 'v2s2',
  });
  try {
    dockerd = await startDockerd();
  } catch (e) {
    if (!(e instanceof DockerdUnavailableError) || DAEMONS_REQUIRED) throw e;
    dockerdMissing = e.message;
  }
  try {
    podman = await startPodman();
  } catch (e) {
    if (DAEMONS_REQUIRED) throw e;
    podmanMissing = (e as Error).message;
  }
  const env: Record<string, string> = { SKIFF_TRANSPORTS: ALL_TRANSPORTS };
  if (dockerd) env.DOCKER_HOST = dockerd.host;
  if (podman) env.CONTAINER_HOST = `unix://${podman.socket}`;
  const absentDir = await makeTmpDir('skiff-nodaemon-');
  [svc, absentSvc] = await Promise.all([
    startSkiff(env),
    startSkiff({ SKIFF_TRANSPORTS: ALL_TRANSPORTS, DOCKER_HOST: `unix://${absentDir}/docker.sock`, CONTAINER_HOST: `unix://${absentDir}/podman.sock` }),
  ]);
});

after(async () => {
  await Promise.all([svc?.stop(), absentSvc?.stop()]);
  await Promise.all([dockerd?.stop(), podman?.stop()]);
  await stopAll();
});

describe('docker-daemon:', () => {
  it('registry → docker-daemon: docker images shows the config digest as ID and the tags', async (t) => {
    if (!needDocker(t)) return;
    await ok({ source: `docker://${reg.host}/team/app:1.0`, destination: 'docker-daemon:example.com/team/app:loaded' });
    await ok({ source: `docker://${reg.host}/team/app:1.0`, destination: 'docker-daemon:busybox:extra' });
    const id = (await dockerd!.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'example.com/team/app:loaded'])).trim();
    assert.equal(id, app.configDigest);
    const listed = await dockerd!.dockerOk(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.match(listed, new RegExp(`example.com/team/app:loaded ${app.configDigest}`));
    assert.match(listed, new RegExp(`busybox:extra ${app.configDigest}`));
    const cfg = JSON.parse(await dockerd!.dockerOk(['image', 'inspect', '--format', '{{json .Config}}', 'example.com/team/app:loaded'])) as Record<string, unknown>;
    assert.deepEqual(cfg.Env, ['PATH=/usr/bin', 'MODE=daemon']);
    assert.deepEqual(cfg.Cmd, ['/bin/tool', '--serve']);
    assert.deepEqual(cfg.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(cfg.Labels, { 'org.example.team': 'skiff' });
  });

  it('a copy into the daemon sends the layers as they are and reports the manifest digest skopeo reports (the source\'s)', async (t) => {
    if (!needDocker(t)) return;
    const tmp = await makeTmpDir('skiff-dd-digest-');
    try {
      const digestFile = join(tmp, 'digest');
      const r = await skopeo(['copy', '--src-tls-verify=false', '--dest-daemon-host', dockerd!.host, '--digestfile', digestFile, `docker://${reg.host}/team/app:1.0`, 'docker-daemon:example.com/team/app:by-skopeo']);
      assert.equal(r.code, 0, r.stderr);
      const theirs = (await readFile(digestFile, 'utf8')).trim();
      assert.equal(theirs, app.digest);
      const op = await ok({ source: `docker://${reg.host}/team/app:1.0`, destination: 'docker-daemon:example.com/team/app:by-skiff' });
      assert.equal(op.result?.digest, theirs);
      for (const tag of ['by-skopeo', 'by-skiff']) {
        assert.equal((await dockerd!.dockerOk(['image', 'inspect', '--format', '{{.Id}}', `example.com/team/app:${tag}`])).trim(), app.configDigest);
      }
    } finally {
      await removeTmpDir(tmp);
    }
  });

  it('inspect docker-daemon: equals skopeo inspect docker-daemon:', async (t) => {
    if (!needDocker(t)) return;
    await ok({ source: `docker://${reg.host}/team/app:1.0`, destination: 'docker-daemon:example.com/team/app:inspected' });
    const mine = await inspect('docker-daemon:example.com/team/app:inspected');
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    const theirs = await skopeoJson(['inspect', '--daemon-host', dockerd!.host, 'docker-daemon:example.com/team/app:inspected']);
    const { LayersData: _a, Variant: _b, ...m } = mine.body;
    const { LayersData: _c, Variant: _d, ...s } = theirs;
    assert.deepEqual(m, s);
    const raw = await skopeo(['inspect', '--raw', '--daemon-host', dockerd!.host, 'docker-daemon:example.com/team/app:inspected']);
    assert.equal(mine.body.Digest, 'sha256:' + (await import('node:crypto')).createHash('sha256').update(raw.stdoutBytes).digest('hex'));
    const byId = await inspect(`docker-daemon:${app.configDigest}`);
    assert.equal(byId.status, 200, JSON.stringify(byId.body));
    assert.equal(byId.body.Digest, mine.body.Digest);
  });

  it('a docker-loaded image is copied out to a registry; skopeo reads it with the same config digest', async (t) => {
    if (!needDocker(t)) return;
    // an image only the daemon has: docker load of a skopeo-written docker-archive
    const tmp = await makeTmpDir('skiff-dl-');
    try {
      const tar = join(tmp, 'img.tar');
      const r = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/team/app:1.0`, `docker-archive:${tar}:local/only:v1`]);
      assert.equal(r.code, 0, r.stderr);
      await dockerd!.dockerOk(['load', '-i', tar]);
    } finally {
      await removeTmpDir(tmp);
    }
    await dockerd!.dockerOk(['rmi', `${reg.host}/team/app:1.0`]).catch(() => undefined);
    await ok({ source: 'docker-daemon:local/only:v1', destination: `docker://${reg.host}/team/fromdaemon:v1` });
    const theirs = await skopeoJson(['inspect', '--tls-verify=false', `docker://${reg.host}/team/fromdaemon:v1`]);
    const cfg = await skopeo(['inspect', '--tls-verify=false', '--config', '--raw', `docker://${reg.host}/team/fromdaemon:v1`]);
    assert.equal('sha256:' + (await import('node:crypto')).createHash('sha256').update(cfg.stdoutBytes).digest('hex'), app.configDigest);
    assert.deepEqual(theirs.Env, ['PATH=/usr/bin', 'MODE=daemon']);
    assert.deepEqual(theirs.Labels, { 'org.example.team': 'skiff' });
  });

  it('an unknown image is a 404 problem; an image-ID destination is refused', async (t) => {
    if (!needDocker(t)) return;
    const r = await inspect('docker-daemon:nothing/here:v1');
    assert.equal(r.status, 404, JSON.stringify(r.body));
    assert.equal(r.body.code, 'IMAGE_NOT_FOUND');
    // an unknown image ID: the engine's export answers 500 ("failed to get digest …"); skopeo fails, and so is it a 404 here, with the daemon's words
    const unknownId = `sha256:${'a'.repeat(64)}`;
    const theirs = await skopeo(['inspect', '--daemon-host', dockerd!.host, `docker-daemon:${unknownId}`]);
    assert.notEqual(theirs.code, 0);
    const byId = await inspect(`docker-daemon:${unknownId}`);
    assert.equal(byId.status, 404, JSON.stringify(byId.body));
    assert.equal(byId.body.code, 'IMAGE_NOT_FOUND');
    assert.match(String(byId.body.detail), new RegExp(`docker-daemon:${unknownId}: .*${'a'.repeat(64)}`));
    const { status, op } = await submit({ source: `docker://${reg.host}/team/app:1.0`, destination: `docker-daemon:${app.configDigest}` });
    assert.ok(status === 400 || op.error?.status === 400, JSON.stringify(op));
  });
});

describe('docker-daemon: on a full staging area', () => {
  it("a load whose blobs do not fit in the data directory's staging area is a 507; the daemon gets nothing and nothing is left", async (t) => {
    if (!needDocker(t) || !requireTmpfs(t)) return;
    const dataDir = await makeTmpDir('skiff-dd-full-');
    // 128 KiB: less than the 200 KB layer once decompressed for the load
    const staging = mountTmpfs(128 * 1024, { on: join(dataDir, 'tmp') });
    const full = await startSkiff({ DOCKER_HOST: dockerd!.host, SKIFF_TRANSPORTS: ALL_TRANSPORTS }, { dataDir });
    try {
      const { status, op } = await submit({ source: `docker://${reg.host}/team/app:1.0`, destination: 'docker-daemon:example.com/team/full:1', retryTimes: 0 }, full);
      assert.equal(status, 200, JSON.stringify(op));
      assert.equal(op.state, 'failed');
      assert.equal(op.error?.status, 507, JSON.stringify(op.error));
      assert.equal(op.error?.code, 'INSUFFICIENT_STORAGE');
      assert.match(op.error!.detail, /^docker-daemon:example\.com\/team\/full:1: staging blob .*the data directory's volume/);
      assert.equal(op.error!.detail.includes(dataDir), false);
      assert.notEqual((await dockerd!.docker(['image', 'inspect', 'example.com/team/full:1'])).code, 0, 'nothing was loaded');
      assert.deepEqual(readdirSync(staging.dir), []);
      assert.equal(full.alive(), true);
    } finally {
      await full.stop({ keepData: true });
      staging.unmount();
      await removeTmpDir(dataDir);
    }
  });
});

describe('containers-storage:', () => {
  it('registry → containers-storage: podman images shows the config digest as ID and the tag', async (t) => {
    if (!needPodman(t)) return;
    await ok({ source: `docker://${reg.host}/team/app:1.0`, destination: 'containers-storage:example.com/team/app:pod' });
    const r = await podman!.run(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`example.com/team/app:pod ${app.configDigest}`));
  });

  it('a copy into the store reports the manifest digest skopeo reports (the source\'s, layers kept as they are)', async (t) => {
    if (!needPodman(t)) return;
    const tmp = await makeTmpDir('skiff-cs-digest-');
    try {
      const digestFile = join(tmp, 'digest');
      const store = `[vfs@${join(podman!.tmpDir, 'root')}+${join(podman!.tmpDir, 'run')}]`;
      const r = await skopeo(['copy', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${reg.host}/team/app:1.0`, `containers-storage:${store}example.com/team/app:pod-skopeo`]);
      assert.equal(r.code, 0, r.stderr);
      const theirs = (await readFile(digestFile, 'utf8')).trim();
      assert.equal(theirs, app.digest);
      const op = await ok({ source: `docker://${reg.host}/team/app:1.0`, destination: 'containers-storage:example.com/team/app:pod-skiff' });
      assert.equal(op.result?.digest, theirs);
      const listed = await podman!.run(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
      assert.match(listed.stdout, new RegExp(`example.com/team/app:pod-skiff ${app.configDigest}`));
    } finally {
      await removeTmpDir(tmp);
    }
  });

  it('a podman-loaded image is copied out to a registry with the same config digest; a store specifier must match', async (t) => {
    if (!needPodman(t)) return;
    const tmp = await makeTmpDir('skiff-pl-');
    try {
      const tar = join(tmp, 'img.tar');
      const s = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/team/app:1.0`, `docker-archive:${tar}:local/podonly:v1`]);
      assert.equal(s.code, 0, s.stderr);
      const l = await podman!.run(['load', '-i', tar]);
      assert.equal(l.code, 0, l.stderr);
    } finally {
      await removeTmpDir(tmp);
    }
    const root = join(podman!.tmpDir, 'root');
    const runroot = join(podman!.tmpDir, 'run');
    await ok({ source: `containers-storage:[vfs@${root}+${runroot}]docker.io/local/podonly:v1`, destination: `docker://${reg.host}/team/frompodman:v1` });
    const cfg = await skopeo(['inspect', '--tls-verify=false', '--config', '--raw', `docker://${reg.host}/team/frompodman:v1`]);
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.equal('sha256:' + (await import('node:crypto')).createHash('sha256').update(cfg.stdoutBytes).digest('hex'), app.configDigest);

    const mine = await inspect(`containers-storage:[vfs@${root}+${runroot}]docker.io/local/podonly:v1`);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.equal(mine.body.Name, 'docker.io/local/podonly');
    assert.deepEqual(mine.body.Env, ['PATH=/usr/bin', 'MODE=daemon']);
    assert.deepEqual(mine.body.Labels, { 'org.example.team': 'skiff' });

    const wrong = await inspect('containers-storage:[overlay@/var/lib/elsewhere+/run/elsewhere]docker.io/local/podonly:v1');
    assert.equal(wrong.status, 400, JSON.stringify(wrong.body));
    assert.match(String(wrong.body.detail), /store specifier/);
  });
});

describe('daemons absent', () => {
  it('docker-daemon: and containers-storage: give 503 problems; /readyz stays ready and reports them', async () => {
    for (const image of ['docker-daemon:busybox:latest', 'containers-storage:busybox:latest']) {
      const r = await inspect(image, absentSvc);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.code, 'DAEMON_UNAVAILABLE');
    }
    const { status, op } = await submit({ source: `docker://${reg.host}/team/app:1.0`, destination: 'docker-daemon:x/y:z' }, absentSvc);
    assert.ok(status === 503 || op.error?.code === 'DAEMON_UNAVAILABLE', JSON.stringify(op));
    const ready = await fetch(`${absentSvc.url}/readyz`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { status: string; checks: { name: string; ok: boolean; optional?: boolean }[] };
    assert.equal(body.status, 'ready');
    assert.deepEqual(
      body.checks.filter((c) => c.optional).map((c) => [c.name, c.ok]),
      [
        ['dockerDaemon', false],
        ['podman', false],
      ],
    );
  });
});
