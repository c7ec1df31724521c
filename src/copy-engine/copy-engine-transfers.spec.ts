import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors/domain-error';
import { CopyEngine } from './copy-engine';
import type { TransferProgress } from './transfer-progress';
import { HostLimiter, InFlightBlobs } from './host-limiter';
import { KnownBlobs } from './known-blobs';
import { buildImage, MemoryDestination, MemoryRegistry, MemorySource } from './testing/in-memory-transports';

/** How blobs travel: mounts, the same blob once across concurrent copies, retries. */
const engine = () => new CopyEngine({ limiter: new HostLimiter(4), inflight: new InFlightBlobs() });
const code = (expected: string) => (e: { code?: string }) => e.code === expected;
const unavailable = () => new DomainError('UPSTREAM_UNAVAILABLE', 'registry answered 503', { upstreamStatus: 503, retryable: true });

describe('copy engine: mounts', () => {
  it('mounts blobs from the source repository on the same registry instead of transferring them', async () => {
    const img = buildImage();
    const registry = new MemoryRegistry();
    registry.push('src/app', img, '1');
    const source = new MemorySource(img, { reference: 'docker://registry.test/src/app:1' });
    const dest = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:1' });
    let last: TransferProgress | undefined;
    const result = await engine().copy(source, dest, {}, { onProgress: (p) => (last = p) });
    assert.equal(result.digest, img.top.digest);
    assert.equal(source.reads.size, 0, 'no blob was read');
    assert.deepEqual(dest.events.filter((e) => e.startsWith('mount')).sort(), [...img.blobs.keys()].map((d) => `mount ${d}`).sort());
    assert.equal(dest.uploads.size, 0);
    assert.equal(last?.blobsMounted, 3);
    assert.equal(last?.bytesSkipped, [...img.blobs.values()].reduce((n, b) => n + b.length, 0));
    assert.equal(registry.repository('dst/app').tags.get('1'), img.top.digest);
  });

  it('uploads what the source repository does not hold, and does not mount across registries', async () => {
    const img = buildImage();
    const registry = new MemoryRegistry();
    registry.push('src/app', { ...img, blobs: new Map([[img.config.digest, img.blobs.get(img.config.digest)!]]) });
    const dest = new MemoryDestination({ registry });
    await engine().copy(new MemorySource(img), dest, {});
    assert.deepEqual(dest.events.filter((e) => e.startsWith('mount')), [`mount ${img.config.digest}`]);
    assert.equal(dest.uploads.size, 2);

    const other = new MemoryDestination({ registry, reference: 'docker://registry.test/third/app:1' });
    await engine().copy(new MemorySource(img, { reference: 'docker://elsewhere.test/src/app:1' }), other, {});
    assert.ok(!other.events.some((e) => e.startsWith('mount')));
    assert.equal(other.uploads.size, 3);
  });
});

describe('copy engine: the same blob once across concurrent copies', () => {
  it('two copies to the same repository transfer each blob once', async () => {
    const img = buildImage();
    const registry = new MemoryRegistry();
    // Copy A's reads wait until copy B has asked for every blob (B reports its blob total
    // just before), so both copies are in flight together.
    let release!: () => void;
    const bothStarted = new Promise<void>((r) => (release = r));
    const sourceA = new MemorySource(img, { reference: 'docker://elsewhere.test/src/app:1', hooks: { chunk: () => bothStarted } });
    const sourceB = new MemorySource(img, { reference: 'docker://elsewhere.test/src/app:1' });
    const destA = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:a' });
    const destB = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:b' });
    assert.equal(destA.blobScope, destB.blobScope);
    const shared = engine();
    const copyA = shared.copy(sourceA, destA, {});
    let progressB: TransferProgress | undefined;
    const copyB = shared.copy(sourceB, destB, {}, {
      onProgress: (p) => {
        progressB = p;
        if (p.blobsTotal > 0) queueMicrotask(release);
      },
    });
    const [a, b] = await Promise.all([copyA, copyB]);
    assert.equal(a.digest, img.top.digest);
    assert.equal(b.digest, img.top.digest);
    for (const digest of img.blobs.keys()) {
      assert.equal((sourceA.reads.get(digest) ?? 0) + (sourceB.reads.get(digest) ?? 0), 1, `${digest} read once`);
      assert.equal((destA.uploads.get(digest) ?? 0) + (destB.uploads.get(digest) ?? 0), 1, `${digest} uploaded once`);
    }
    assert.equal(progressB?.blobsSkipped, 3, "B counts A's transfers as skipped");
    assert.equal(registry.repository('dst/app').tags.get('a'), img.top.digest);
    assert.equal(registry.repository('dst/app').tags.get('b'), img.top.digest);
  });

  it('a failed shared transfer is tried again by the copy that waited for it', async () => {
    const img = buildImage();
    const registry = new MemoryRegistry();
    const layer = img.layers[0]!.digest;
    let release!: () => void;
    const bothStarted = new Promise<void>((r) => (release = r));
    const hooksA = {
      chunk: async (digest: string) => {
        await bothStarted;
        if (digest === layer) throw new DomainError('REGISTRY_DENIED', 'denied', { upstreamStatus: 403, retryable: false });
      },
    };
    const sourceA = new MemorySource(img, { reference: 'docker://elsewhere.test/src/app:1', hooks: hooksA });
    const sourceB = new MemorySource(img, { reference: 'docker://elsewhere.test/src/app:1' });
    const shared = engine();
    const copyA = shared.copy(sourceA, new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:a' }), {});
    const copyB = shared.copy(sourceB, new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:b' }), {}, {
      onProgress: (p) => {
        if (p.blobsTotal > 0) queueMicrotask(release);
      },
    });
    const [a, b] = await Promise.allSettled([copyA, copyB]);
    assert.equal(a.status, 'rejected');
    assert.equal(b.status, 'fulfilled');
    assert.equal(sourceB.reads.get(layer), 1, 'B read the layer itself after A failed');
    assert.ok(registry.repository('dst/app').blobs.has(layer));
  });
});

describe('copy engine: blobs a run of copies already knows (a sync)', () => {
  it('a blob found or put at a destination earlier in the run is not asked for again there, and counts as skipped', async () => {
    const img = buildImage();
    const registry = new MemoryRegistry();
    const source = () => new MemorySource(img, { reference: 'docker://elsewhere.test/src/app:1' });
    const known = new KnownBlobs();
    const first = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:a' });
    await engine().copy(source(), first, { knownBlobs: known });
    assert.equal(first.uploads.size, 3);

    const again = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:b' });
    let last: TransferProgress | undefined;
    const result = await engine().copy(source(), again, { knownBlobs: known }, { onProgress: (p) => (last = p) });
    assert.equal(result.digest, img.top.digest);
    assert.deepEqual(again.events.filter((e) => !e.startsWith('manifest')), [], 'no blob asked for, none uploaded');
    assert.equal(last?.blobsSkipped, 3);
    assert.equal(last?.bytesSkipped, [...img.blobs.values()].reduce((n, b) => n + b.length, 0));
    assert.equal(registry.repository('dst/app').tags.get('b'), img.top.digest);

    // without the run's knowledge the destination is asked (and answers present) ...
    const alone = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/app:c' });
    await engine().copy(source(), alone, {});
    assert.equal(alone.events.filter((e) => e.startsWith('present')).length, 3);
    // ... and another repository is another scope: asked, and uploaded to
    const other = new MemoryDestination({ registry, reference: 'docker://registry.test/dst/other:1' });
    await engine().copy(source(), other, { knownBlobs: known });
    assert.equal(other.uploads.size, 3);
  });

  it('keeps at most its bound of blobs, forgetting the oldest first', () => {
    const known = new KnownBlobs(2);
    for (const k of ['a', 'b', 'a', 'c']) known.add(k);
    assert.deepEqual(['a', 'b', 'c'].map((k) => known.has(k)), [false, true, true]);
    assert.equal(known.size, 2);
    known.clear();
    assert.equal(known.has('c'), false);
  });
});

describe('copy engine: retries', () => {
  it('retries a read that fails retryably, then succeeds with the bytes counted once', async () => {
    const img = buildImage();
    const layer = img.layers[0]!.digest;
    const source = new MemorySource(img, {
      hooks: {
        open: (digest, attempt) => {
          if (digest === layer && attempt <= 2) throw unavailable();
        },
      },
    });
    const dest = new MemoryDestination();
    let last: TransferProgress | undefined;
    await engine().copy(source, dest, {}, { onProgress: (p) => (last = p) });
    assert.equal(source.reads.get(layer), 3);
    assert.ok(dest.committed);
    assert.equal(last?.bytesDone, last?.bytesTotal);
  });

  it('retries a stream broken mid-blob by a connection reset, counting its bytes once', async () => {
    const img = buildImage({ layers: ['x'.repeat(200), 'y'.repeat(200)] });
    const layer = img.layers[1]!.digest;
    const source = new MemorySource(img, {
      hooks: {
        chunk: (digest, attempt, sent) => {
          if (digest === layer && attempt === 1 && sent >= 8) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        },
      },
    });
    const dest = new MemoryDestination();
    let last: TransferProgress | undefined;
    await engine().copy(source, dest, {}, { onProgress: (p) => (last = p) });
    assert.equal(source.reads.get(layer), 2);
    assert.ok(dest.events.includes(`aborted ${layer}`), 'the broken upload was abandoned');
    assert.ok(dest.blob(layer)!.equals(img.blobs.get(layer)!));
    assert.equal(last?.bytesDone, last?.bytesTotal);
  });

  it('does not retry an error that will not change', async () => {
    const img = buildImage();
    const layer = img.layers[0]!.digest;
    const source = new MemorySource(img, {
      hooks: {
        open: (digest) => {
          if (digest === layer) throw new DomainError('REGISTRY_DENIED', 'denied', { upstreamStatus: 403, retryable: false });
        },
      },
    });
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(source, dest, { retryTimes: 3 }), code('REGISTRY_DENIED'));
    assert.equal(source.reads.get(layer), 1);
    assert.equal(dest.committed, undefined);
  });

  it('gives up after retryTimes extra attempts', async () => {
    const img = buildImage();
    const layer = img.layers[0]!.digest;
    const source = new MemorySource(img, {
      hooks: {
        open: (digest) => {
          if (digest === layer) throw unavailable();
        },
      },
    });
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(source, dest, { retryTimes: 1 }), code('UPSTREAM_UNAVAILABLE'));
    assert.equal(source.reads.get(layer), 2);
    assert.equal(dest.committed, undefined);
  });

  // The backoff between attempts (up to 5 s) was a plain timer: a cancel waited for it.
  it('a cancel ends the wait before the next attempt at once', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const img = buildImage();
    const layer = img.layers[0]!.digest;
    let failedOnce!: () => void;
    const failed = new Promise<void>((r) => (failedOnce = r));
    const source = new MemorySource(img, {
      hooks: {
        open: (digest) => {
          if (digest !== layer) return;
          failedOnce();
          throw unavailable();
        },
      },
    });
    const ac = new AbortController();
    const copy = engine().copy(source, new MemoryDestination(), { retryTimes: 5 }, { signal: ac.signal });
    let settled = false;
    const outcome = copy.then(
      () => 'succeeded',
      (e: { code?: string }) => e.code,
    );
    void outcome.finally(() => (settled = true));
    await failed;
    // let the failure reach the backoff (the clock is frozen, so the copy waits there)
    for (let turn = 0; turn < 20; turn++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    ac.abort();
    // only a wait that ends on abort lets the copy end now
    for (let turn = 0; turn < 100 && !settled; turn++) await new Promise((r) => setImmediate(r));
    assert.ok(settled, 'the copy ended without the backoff timer firing');
    assert.equal(await outcome, 'ABORTED');
    assert.equal(source.reads.get(layer), 1);
  });

  it('stops retrying when the copy is cancelled during the backoff', async () => {
    const img = buildImage();
    const layer = img.layers[0]!.digest;
    const ac = new AbortController();
    const source = new MemorySource(img, {
      hooks: {
        open: (digest) => {
          if (digest !== layer) return;
          setImmediate(() => ac.abort());
          throw unavailable();
        },
      },
    });
    const dest = new MemoryDestination();
    await assert.rejects(engine().copy(source, dest, { retryTimes: 5 }, { signal: ac.signal }), code('ABORTED'));
    assert.equal(source.reads.get(layer), 1);
    assert.equal(dest.committed, undefined);
  });
});
