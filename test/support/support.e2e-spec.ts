/**
 * Self-test of test/support: real docker-registry in each mode, fixtures pushed over
 * the v2 API, and skopeo as the oracle reading them back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { httpRequest } from './http';
import { after, before, describe, it } from 'node:test';
import { extract } from 'tar-stream';
import { RegistryClient } from './registry-client';
import { startRegistry, type RegistryMode, type TestRegistry } from './registry';
import { makeLayer, pushImage, pushIndex, pushMultiArch, pushTags, sha256Digest, type PushedImage } from './images';
import { dockerRef, registryFlags, skopeo, skopeoCopy, skopeoInspect, skopeoListTags } from './skopeo';

const timings: Array<[string, number]> = [];
async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings.push([label, performance.now() - start]);
  }
}
const suiteStart = performance.now();
after(() => {
  const lines = timings.map(([l, ms]) => `  ${ms.toFixed(0).padStart(6)} ms  ${l}`);
  console.log(`test-support timings (total ${(performance.now() - suiteStart).toFixed(0)} ms):\n${lines.join('\n')}`);
});

describe('makeLayer', () => {
  it('is deterministic and a valid gzip tar with implicit parent dirs', async () => {
    const files = { 'b/c.txt': 'hello\n', 'a.txt': Buffer.from([0, 1, 2]), 'empty/': '' };
    const one = makeLayer(files);
    const two = makeLayer({ 'empty/': '', 'a.txt': Buffer.from([0, 1, 2]), 'b/c.txt': 'hello\n' });
    assert.equal(one.digest, two.digest);
    assert.equal(one.digest, sha256Digest(one.bytes));
    const tar = gunzipSync(one.bytes);
    assert.equal(sha256Digest(tar), one.diffId);
    assert.equal(tar.length, one.uncompressedSize);
    const seen: string[] = [];
    const ex = extract();
    const done = new Promise<void>((resolve, reject) => {
      ex.on('entry', (h, stream, next) => {
        seen.push(`${h.type}:${h.name}:${h.size ?? 0}:${h.mtime?.toISOString() ?? ''}`);
        stream.on('end', next);
        stream.resume();
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
    });
    ex.end(tar);
    await done;
    assert.deepEqual(seen, [
      'file:a.txt:3:2024-01-01T00:00:00.000Z',
      'directory:b/:0:2024-01-01T00:00:00.000Z',
      'file:b/c.txt:6:2024-01-01T00:00:00.000Z',
      'directory:empty/:0:2024-01-01T00:00:00.000Z',
    ]);
    const gz = makeLayer(files, { compression: 'gzip' });
    assert.equal(gz.diffId, one.diffId);
  });
});

const MODES: RegistryMode[] = ['plain', 'basic', 'token'];

// Registries are independent: run them side by side (each suite's own tests stay
// sequential). SKIFF_TEST_SEQUENTIAL=1 runs them one after another (for timing).
describe('registries', { concurrency: process.env.SKIFF_TEST_SEQUENTIAL ? 1 : true }, () => {
  for (const mode of MODES) {
    describe(`${mode} registry`, { concurrency: 1 }, () => {
      let reg: TestRegistry;
      let single: PushedImage;

      before(async () => {
        reg = await timed(`${mode}: startRegistry`, () => startRegistry({ mode, deleteEnabled: true }));
      });
      after(async () => {
        await timed(`${mode}: stop`, () => reg.stop());
      });

      it('answers /v2/ as its mode says', async () => {
        const res = await httpRequest(`${reg.url}/v2/`, { ca: reg.caFile ? readFileSync(reg.caFile) : undefined });
        if (mode === 'plain') {
          assert.equal(res.status, 200);
          assert.equal(reg.caFile, undefined);
        } else {
          assert.equal(res.status, 401);
          const challenge = String(res.headers['www-authenticate']);
          assert.match(challenge, mode === 'basic' ? /^Basic / : /^Bearer realm="https:\/\/127\.0\.0\.1:\d+\/token",service="/);
          assert.ok(reg.certDir && reg.username && reg.password);
        }
        assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
      });

      it('pushImage (v2s2) is read back by skopeo inspect', async () => {
        single = await timed(`${mode}: pushImage v2s2 (2 layers)`, () =>
          pushImage(reg, 'library/single', 'v1', {
            format: 'v2s2',
            os: 'linux',
            architecture: 'amd64',
            layers: [makeLayer({ 'etc/os-release': 'ID=skiff\n' }), makeLayer({ 'app/run.sh': '#!/bin/sh\necho hi\n' })],
            config: { Env: ['PATH=/usr/bin:/bin', 'FOO=bar'], Cmd: ['/app/run.sh'], Labels: { 'org.example.k': 'v' } },
            author: 'skiff tests',
          }),
        );
        const ref = dockerRef(reg, 'library/single', 'v1');
        const info = await timed(`${mode}: skopeo inspect`, () => skopeoInspect(ref, { registry: reg }));
        assert.equal(info.Digest, single.digest);
        assert.equal(info.Architecture, 'amd64');
        assert.equal(info.Os, 'linux');
        assert.deepEqual(info.RepoTags, ['v1']);
        assert.deepEqual(info.Env, ['PATH=/usr/bin:/bin', 'FOO=bar']);
        assert.deepEqual(info.Labels, { 'org.example.k': 'v' });
        assert.deepEqual(info.Layers, single.layers.map((l) => l.digest));
        assert.equal(info.Created, '2024-01-01T00:00:00Z');

        const raw = await skopeoInspect(ref, { registry: reg, raw: true });
        assert.ok(raw.equals(single.manifestBytes));
        const config = await skopeoInspect(ref, { registry: reg, config: true });
        assert.deepEqual(config.rootfs.diff_ids, single.layers.map((l) => l.diffId));
        assert.equal(config.author, 'skiff tests');
        const rawConfig = await skopeoInspect(ref, { registry: reg, config: true, raw: true });
        assert.equal(sha256Digest(rawConfig), single.configDigest);
      });

      it('skopeo copy re-compresses the pushed layers (gzip is valid)', async () => {
        // Layers unique to this run: skopeo 1.9 keeps a blob-info cache across runs (by host:port
        // and digest) and mounts a gzip blob it remembers instead of recompressing, so layers
        // another run pushed to a registry that had this port would not be recompressed.
        const run = randomBytes(8).toString('hex');
        const fresh = await pushImage(reg, 'library/recompress', 'v1', {
          format: 'v2s2',
          os: 'linux',
          architecture: 'amd64',
          layers: [makeLayer({ 'etc/os-release': `ID=skiff-${run}\n` }), makeLayer({ 'app/run.sh': `#!/bin/sh\necho ${run}\n` })],
        });
        await timed(`${mode}: skopeo copy (zstd recompress)`, () =>
          skopeoCopy(dockerRef(reg, 'library/recompress', 'v1'), dockerRef(reg, 'copied/single', 'zstd'), {
            src: { registry: reg },
            dest: { registry: reg },
            extraArgs: ['--dest-compress-format', 'zstd', '--format', 'oci'],
          }),
        );
        const raw = await skopeoInspect(dockerRef(reg, 'copied/single', 'zstd'), { registry: reg, raw: true });
        const manifest = JSON.parse(raw.toString('utf8')) as { layers: Array<{ mediaType: string; digest: string }> };
        assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(2).fill('application/vnd.oci.image.layer.v1.tar+zstd'));
        assert.notEqual(manifest.layers[0]?.digest, fresh.layers[0]?.digest);
      });

      it('skopeo delete removes the copied image (delete enabled)', async () => {
        const ref = dockerRef(reg, 'copied/single', 'zstd');
        await timed(`${mode}: skopeo delete`, async () => {
          const res = await skopeo(['delete', ...registryFlags({ registry: reg }), ref]);
          assert.equal(res.code, 0, res.stderr);
        });
        const gone = await skopeo(['inspect', ...registryFlags({ registry: reg }), ref]);
        assert.notEqual(gone.code, 0);
        assert.match(gone.stderr, /manifest unknown/i);
      });

      for (const format of ['oci', 'v2s2'] as const) {
        it(`pushIndex (${format}) is resolved per platform by skopeo`, async () => {
          const platforms = [
            { os: 'linux', architecture: 'amd64' },
            { os: 'linux', architecture: 'arm64', variant: 'v8' },
            { os: 'linux', architecture: 'arm', variant: 'v7' },
          ];
          const { index, images } = await timed(`${mode}: pushMultiArch ${format} (3 platforms)`, () =>
            pushMultiArch(reg, `multi/${format}`, 'latest', { format, platforms }),
          );
          const ref = dockerRef(reg, `multi/${format}`, 'latest');
          const arm64 = await timed(`${mode}: skopeo inspect --override-arch`, () =>
            skopeoInspect(ref, { registry: reg, overrideArch: 'arm64', overrideVariant: 'v8', overrideOs: 'linux' }),
          );
          // skopeo 1.9 reports the top-level (index) digest, and no Variant: identify the instance by its layers.
          assert.equal(arm64.Digest, index.digest);
          assert.equal(arm64.Architecture, 'arm64');
          assert.deepEqual(arm64.Layers, images[1]?.layers.map((l) => l.digest));
          const armv7 = await skopeoInspect(ref, { registry: reg, overrideArch: 'arm', overrideVariant: 'v7' });
          assert.equal(armv7.Architecture, 'arm');
          assert.deepEqual(armv7.Layers, images[2]?.layers.map((l) => l.digest));
          const armv7Config = await skopeoInspect(ref, { registry: reg, config: true, overrideArch: 'arm', overrideVariant: 'v7' });
          assert.equal(armv7Config.variant, 'v7');
          const raw = await skopeoInspect(ref, { registry: reg, raw: true });
          assert.ok(raw.equals(index.manifestBytes));
          const parsed = JSON.parse(raw.toString('utf8')) as { mediaType: string; manifests: Array<{ platform: { variant?: string } }> };
          assert.equal(parsed.mediaType, index.mediaType);
          assert.equal(parsed.manifests[2]?.platform.variant, 'v7');

          // pushIndex directly, reusing already-pushed instances, pushed by digest only.
          const byDigest = await pushIndex(reg, `multi/${format}`, null, images.slice(0, 1), format);
          const rawByDigest = await skopeoInspect(dockerRef(reg, `multi/${format}`, byDigest.digest), { registry: reg, raw: true });
          assert.ok(rawByDigest.equals(byDigest.manifestBytes));
        });
      }

      it('skopeo list-tags sees >100 tags pushed by pushTags', async () => {
        const tags = Array.from({ length: 120 }, (_, i) => `t${String(i).padStart(3, '0')}`);
        await timed(`${mode}: pushTags x120`, () => pushTags(reg, 'library/single', single, tags));
        const listed = await timed(`${mode}: skopeo list-tags`, () => skopeoListTags(dockerRef(reg, 'library/single'), { registry: reg }));
        assert.equal(listed.Repository, `${reg.host}/library/single`);
        assert.equal(listed.Tags.length, 121);
        assert.deepEqual([...listed.Tags].sort(), [...tags, 'v1'].sort());
      });

      // Storage layout does not depend on the auth mode: check it once.
      it("pushTags via 'storage' is seen by the registry", { skip: mode !== 'plain' }, async () => {
        const tags = Array.from({ length: 150 }, (_, i) => `s${i}`);
        await timed(`${mode}: pushTags x150 via storage`, () => pushTags(reg, 'library/single', single, tags, { via: 'storage' }));
        const listed = await skopeoListTags(dockerRef(reg, 'library/single'), { registry: reg });
        assert.equal(listed.Tags.length, 121 + 150);
        const info = await skopeoInspect(dockerRef(reg, 'library/single', 's149'), { registry: reg, noTags: true });
        assert.equal(info.Digest, single.digest);
      });

      if (mode !== 'plain') {
        it('rejects wrong credentials and anonymous access', async () => {
          const ref = dockerRef(reg, 'library/single', 'v1');
          const bad = await skopeo(['inspect', '--cert-dir', reg.certDir ?? '', '--creds', `${reg.username}:wrong`, ref]);
          assert.notEqual(bad.code, 0);
          assert.match(bad.stderr, /unauthorized|invalid username\/password|authentication required/i);
          const anon = await skopeo(['inspect', '--cert-dir', reg.certDir ?? '', '--no-creds', ref]);
          assert.notEqual(anon.code, 0);
        });
      }

      if (mode === 'token') {
        it('records token requests with parsed scopes', async () => {
          reg.tokenRequests.length = 0;
          await skopeoInspect(dockerRef(reg, 'library/single', 'v1'), { registry: reg, noTags: true });
          const ok = reg.tokenRequests.filter((r) => r.status === 200);
          assert.ok(ok.length >= 1);
          for (const r of ok) {
            assert.equal(r.subject, reg.username);
            assert.equal(r.service, reg.tokenService);
            assert.deepEqual(r.requested, [{ type: 'repository', name: 'library/single', actions: ['pull'] }]);
            assert.deepEqual(r.granted, r.requested);
          }
        });
      }
    });
  }

  describe('token registry with anonymousPull', { concurrency: 1 }, () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await timed('token+anonymousPull: startRegistry', () => startRegistry({ mode: 'token', anonymousPull: true }));
    });
    after(() => reg.stop());

    it('lets anonymous clients pull but not push', async () => {
      const pushed = await pushImage(reg, 'public/img', 'v1', { format: 'oci', os: 'linux', architecture: 'amd64', layers: [makeLayer({ f: 'x' })] });
      reg.tokenRequests.length = 0;
      const info = await skopeoInspect(dockerRef(reg, 'public/img', 'v1'), { registry: reg, creds: false, noCreds: true });
      assert.equal(info.Digest, pushed.digest);
      assert.ok(reg.tokenRequests.some((r) => r.anonymous && r.granted.some((g) => g.actions.includes('pull'))));
      const anonymous = new RegistryClient(reg, { anonymous: true });
      const res = await anonymous.request('POST', '/v2/public/img/blobs/uploads/');
      assert.equal(res.status, 401);
      anonymous.close();
    });
  });
});
