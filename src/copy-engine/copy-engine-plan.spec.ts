import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MediaType } from '../image-spec/media-types';
import { CopyEngine } from './copy-engine';
import type { CopyOptions } from './copy-options';
import { HostLimiter, InFlightBlobs } from './host-limiter';
import { buildImage, buildIndex, MemoryDestination, MemoryRegistry, MemorySource, type BuiltImage } from './testing/in-memory-transports';

/** CopyEngine.plan(): what copy() would do, decided by the same functions, with nothing written. */
const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });
const code = (expected: string) => (e: { code?: string }) => e.code === expected;

const amd64 = buildImage({ platform: { os: 'linux', architecture: 'amd64' } });
const arm64 = buildImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
const list = buildIndex([amd64, arm64], { format: 'v2s2' });
const blobsOf = (...images: { config: { digest: string }; layers: readonly { digest: string }[] }[]) => images.flatMap((i) => [i.config, ...i.layers].map((d) => d.digest)).sort();

const MODES: { name: string; image: BuiltImage; opts: CopyOptions }[] = [
  { name: 'a single image', image: amd64, opts: {} },
  { name: 'multiArch=system', image: list, opts: { platform: { os: 'linux', architecture: 'arm64' } } },
  { name: 'multiArch=all', image: list, opts: { multiArch: 'all' } },
  { name: 'multiArch=filtered', image: list, opts: { multiArch: 'filtered', platforms: [{ os: 'linux', architecture: 'amd64' }] } },
];

describe('copy engine: plan', () => {
  for (const { name, image, opts } of MODES) {
    it(`${name}: plans the digest copy() writes, writes nothing, then finds the copy up to date`, async () => {
      const registry = new MemoryRegistry();
      const dest = () => new MemoryDestination({ registry });
      const probe = dest();
      const before = await engine().plan(new MemorySource(image), probe, opts, { blobs: 'check' });
      assert.equal(before.action, 'copy');
      assert.deepEqual(probe.events, [], 'planning writes nothing');
      assert.deepEqual(before.transfer, before.blobs, 'an empty destination lacks every blob');
      const result = await engine().copy(new MemorySource(image), dest(), opts);
      assert.equal(before.digest, result.digest);
      assert.equal(before.sourceDigest, result.sourceDigest);
      assert.deepEqual(before.instances.map((d) => d.digest), result.manifests.map((m) => m.digest));
      const after = await engine().plan(new MemorySource(image), dest(), opts, { blobs: 'check' });
      assert.equal(after.action, 'skip');
      assert.equal(after.digest, result.digest);
      assert.equal(after.transfer, undefined, 'nothing is checked for an image that is there');
    });
  }

  it('multiArch=sparse: plans the source index, unchanged, with the chosen instances', async () => {
    const plan = await engine().plan(new MemorySource(list), new MemoryDestination(), { multiArch: 'sparse', platforms: [{ os: 'linux', architecture: 'amd64' }] }, { blobs: 'list' });
    assert.equal(plan.action, 'copy');
    assert.equal(plan.digest, list.top.digest);
    assert.deepEqual(plan.instances.map((d) => d.digest), [amd64.top.digest]);
    assert.deepEqual(plan.blobs!.map((b) => b.digest).sort(), blobsOf(amd64));
  });

  it('lists the blobs of what is written, each once: the chosen instance, every instance, the filtered ones', async () => {
    const plan = (opts: CopyOptions) => engine().plan(new MemorySource(list), new MemoryDestination(), opts, { blobs: 'list' });
    assert.deepEqual((await plan({ platform: { os: 'linux', architecture: 'arm64' } })).blobs!.map((b) => b.digest).sort(), blobsOf(arm64));
    assert.deepEqual((await plan({ multiArch: 'all' })).blobs!.map((b) => b.digest).sort(), [...new Set(blobsOf(amd64, arm64))].sort());
    const filtered = await plan({ multiArch: 'filtered', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    assert.deepEqual(filtered.blobs!.map((b) => b.digest).sort(), blobsOf(amd64));
    assert.equal(filtered.sourceDigest, list.top.digest);
    assert.notEqual(filtered.digest, list.top.digest, 'a new index');
    assert.equal((await plan({ multiArch: 'index-only' })).blobs!.length, 0);
  });

  it('transfers only what the destination lacks, asking without mounting', async () => {
    const registry = new MemoryRegistry();
    registry.push('dst/app', amd64);
    registry.push('src/app', arm64);
    const probe = new MemoryDestination({ registry });
    const plan = await engine().plan(new MemorySource(list), probe, { multiArch: 'all' }, { blobs: 'check' });
    assert.equal(plan.action, 'copy');
    assert.deepEqual(plan.transfer!.map((b) => b.digest).sort(), blobsOf(arm64).filter((d) => !blobsOf(amd64).includes(d)).sort());
    assert.ok(!probe.events.some((e) => e.startsWith('mount')), 'a plan never mounts');
  });

  it('never finds an image up to date when the copy converts it', async () => {
    const registry = new MemoryRegistry();
    await engine().copy(new MemorySource(amd64), new MemoryDestination({ registry }), {});
    const plan = await engine().plan(new MemorySource(amd64), new MemoryDestination({ registry }), { format: 'oci' });
    assert.equal(plan.action, 'copy');
    assert.equal(plan.digest, amd64.top.digest, 'the digest as written when nothing is converted');
  });

  it('refuses what copy() refuses before it transfers anything', async () => {
    const plan = (opts: CopyOptions, image: BuiltImage = list) => engine().plan(new MemorySource(image), new MemoryDestination(), opts);
    await assert.rejects(plan({ preserveDigests: true, format: 'oci' }), code('INVALID_ARGUMENT'));
    await assert.rejects(plan({ multiArch: 'filtered' }), code('INVALID_ARGUMENT'));
    await assert.rejects(plan({ multiArch: 'filtered', preserveDigests: true, platforms: [{ os: 'linux', architecture: 'amd64' }] }), code('INVALID_ARGUMENT'));
    await assert.rejects(plan({ platform: { os: 'linux', architecture: 's390x' } }), code('PLATFORM_NOT_FOUND'));
    await assert.rejects(
      engine().plan(new MemorySource(list), new MemoryDestination({ acceptsIndexes: false, manifestTypes: [MediaType.dockerV2S2] }), { multiArch: 'sparse', platforms: [{ os: 'linux', architecture: 'amd64' }] }),
      code('OPERATION_NOT_SUPPORTED'),
    );
    // a single image is copied as it is in every mode, and so planned
    assert.equal((await plan({ multiArch: 'filtered', preserveDigests: true, platforms: [{ os: 'linux', architecture: 'amd64' }] }, amd64)).digest, amd64.top.digest);
  });

  it('waits in beforePull before it reads the source', async () => {
    const order: string[] = [];
    const source = new MemorySource(amd64);
    const read = source.getManifest.bind(source);
    source.getManifest = async (o) => (order.push('read'), read(o));
    await engine().plan(source, new MemoryDestination(), { beforePull: async () => void order.push('wait') });
    assert.deepEqual(order, ['wait', 'read']);
  });
});
