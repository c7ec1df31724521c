import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { digestOf } from '../image-spec/digest';
import type { DockerImageReference } from '../image-spec/image-reference';
import type { BlobInfo, ImageDestination, MountSource } from '../transports/transport';
import { RegistryBlobLocations, SyncDestination } from './sync-destination';

const BLOB: BlobInfo = { digest: 'sha256:' + 'a'.repeat(64), size: 3 };

/** A registry repository in memory: blobs by repository, mounts recorded. */
class FakeRegistryDestination implements ImageDestination {
  readonly hostKey = 'docker://reg.example';
  readonly blobScope: string;
  readonly reference: DockerImageReference;
  readonly calls: string[] = [];
  manifests = new Map<string, string>();

  constructor(
    private readonly store: Map<string, Set<string>>,
    readonly repository: string,
    private readonly uploadGate?: Promise<void>,
  ) {
    this.blobScope = `docker://reg.example/${repository}`;
    this.reference = { transport: 'docker', named: { domain: 'reg.example', path: repository, tag: 'latest' } };
  }

  private has(repo: string, digest: string): boolean {
    return this.store.get(repo)?.has(digest) ?? false;
  }

  supportedManifestTypes(): readonly string[] {
    return ['application/vnd.oci.image.manifest.v1+json'];
  }

  async tryReuseBlob(blob: BlobInfo, opts: { mountFrom?: MountSource }): Promise<'present' | 'mounted' | undefined> {
    this.calls.push(`head ${opts.mountFrom ? `mount-from ${opts.mountFrom.repository}` : ''}`.trim());
    if (this.has(this.repository, blob.digest)) return 'present';
    if (opts.mountFrom && this.has(opts.mountFrom.repository, blob.digest)) {
      this.store.set(this.repository, new Set([...(this.store.get(this.repository) ?? []), blob.digest]));
      return 'mounted';
    }
    return undefined;
  }

  async putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }): Promise<BlobInfo> {
    this.calls.push('upload');
    for await (const _ of stream) void _;
    await this.uploadGate;
    const info = blob.known ?? blob.final();
    this.store.set(this.repository, new Set([...(this.store.get(this.repository) ?? []), info.digest]));
    return info;
  }

  async putManifest(bytes: Buffer, _mediaType: string, opts: { instanceDigest?: string }): Promise<void> {
    this.manifests.set(opts.instanceDigest ?? 'latest', digestOf(bytes));
  }

  async close(): Promise<void> {}
}

describe('SyncDestination blob sharing across repositories of one registry', () => {
  it('a second repository waits for the first upload, then mounts instead of uploading', async () => {
    const store = new Map<string, Set<string>>();
    const locations = new RegistryBlobLocations();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const innerA = new FakeRegistryDestination(store, 'ns/a', gate);
    const innerB = new FakeRegistryDestination(store, 'ns/b');
    const a = new SyncDestination(innerA, locations, digestOf);
    const b = new SyncDestination(innerB, locations, digestOf);

    assert.equal(await a.tryReuseBlob(BLOB, {}), undefined, 'missing: A claims and uploads');
    const bReuse = b.tryReuseBlob(BLOB, {});
    const aUpload = a.putBlob(Readable.from([Buffer.from('abc')]), { known: BLOB, final: () => BLOB }, {});
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(innerB.calls, [], 'B waits while A uploads');
    open();
    await aUpload;
    assert.equal(await bReuse, 'mounted');
    assert.deepEqual(innerA.calls, ['head', 'upload']);
    assert.deepEqual(innerB.calls, ['head mount-from ns/a']);

    // A third repository mounts from a known location straight away.
    const innerC = new FakeRegistryDestination(store, 'ns/c');
    assert.equal(await new SyncDestination(innerC, locations, digestOf).tryReuseBlob(BLOB, {}), 'mounted');
    assert.deepEqual(innerC.calls, ['head mount-from ns/a']);
  });

  it('a claim released without an upload lets the waiter upload itself', async () => {
    const store = new Map<string, Set<string>>();
    const locations = new RegistryBlobLocations();
    const a = new SyncDestination(new FakeRegistryDestination(store, 'ns/a'), locations, digestOf);
    const innerB = new FakeRegistryDestination(store, 'ns/b');
    const b = new SyncDestination(innerB, locations, digestOf);
    assert.equal(await a.tryReuseBlob(BLOB, {}), undefined);
    const waiting = b.tryReuseBlob(BLOB, {});
    await a.close();
    assert.equal(await waiting, undefined, 'B now holds the claim and uploads');
    assert.deepEqual(innerB.calls, ['head']);
  });

  it('a waiter stops waiting when its signal aborts', async () => {
    const locations = new RegistryBlobLocations();
    const store = new Map<string, Set<string>>();
    const a = new SyncDestination(new FakeRegistryDestination(store, 'ns/a'), locations, digestOf);
    const b = new SyncDestination(new FakeRegistryDestination(store, 'ns/b'), locations, digestOf);
    await a.tryReuseBlob(BLOB, {});
    const ac = new AbortController();
    const waiting = b.tryReuseBlob(BLOB, { signal: ac.signal });
    ac.abort(new Error('cancelled'));
    await assert.rejects(waiting, /cancelled/);
  });

  it('reports written manifests; a digest destination whose manifest changed is written under the new digest', async () => {
    const store = new Map<string, Set<string>>();
    const inner = new FakeRegistryDestination(store, 'ns/a');
    const old = 'sha256:' + 'b'.repeat(64);
    (inner as { reference: DockerImageReference }).reference = { transport: 'docker', named: { domain: 'reg.example', path: 'ns/a', digest: old } };
    const d = new SyncDestination(inner, new RegistryBlobLocations(), digestOf);
    assert.equal(d.written, undefined);
    const bytes = Buffer.from('{"schemaVersion":2}');
    await d.putManifest(bytes, 'application/vnd.oci.image.manifest.v1+json', {});
    assert.deepEqual(d.written, { digest: digestOf(bytes) });
    assert.deepEqual([...inner.manifests.keys()], [digestOf(bytes)]);
  });
});
