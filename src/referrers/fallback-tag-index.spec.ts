import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../image-spec/digest';
import { type ReferrerDescriptor, parseReferrersIndex } from '../image-spec/referrers';
import { type TagIndexStore, addToFallbackIndex } from './fallback-tag-index';

const TAG = 'sha256-' + 'a'.repeat(64);
const ref = (label: string): ReferrerDescriptor => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(Buffer.from(label)), size: 100, artifactType: 'application/x-' + label });

/** A tag store in memory; `preconditions` makes it answer 412 like a registry that honours If-Match. */
class MemoryTagStore implements TagIndexStore {
  bytes?: Buffer;
  writes = 0;
  /** Called after each read and write has taken effect (lets a test interleave another writer). */
  after?: (op: 'read' | 'write', n: number) => Promise<void> | void;
  private reads = 0;
  constructor(private readonly preconditions = false) {}

  async read(): Promise<{ digest: string; bytes: Buffer } | undefined> {
    const snapshot = this.bytes ? { digest: digestOf(this.bytes), bytes: this.bytes } : undefined;
    await this.after?.('read', ++this.reads);
    return snapshot;
  }

  async write(_tag: string, bytes: Buffer, _type: string, cond: { ifMatch?: string; ifNoneMatch?: boolean }): Promise<'written' | 'precondition-failed'> {
    if (this.preconditions) {
      const current = this.bytes ? digestOf(this.bytes) : undefined;
      if ((cond.ifMatch && cond.ifMatch !== current) || (cond.ifNoneMatch && current)) return 'precondition-failed';
    }
    this.bytes = bytes;
    this.writes++;
    await this.after?.('write', this.writes);
    return 'written';
  }

  listed(): string[] {
    return this.bytes ? parseReferrersIndex(this.bytes, 'test').map((d) => d.digest).sort() : [];
  }
}

const noPause = async (): Promise<void> => undefined;
const opts = () => ({ signal: new AbortController().signal, pause: noPause });

describe('fallback tag index', () => {
  it('creates the index, then finds nothing to do', async () => {
    const store = new MemoryTagStore();
    const a = ref('a');
    assert.deepEqual(await addToFallbackIndex(store, TAG, [a], opts()), { written: true, attempts: 1, preconditionsHonoured: false });
    assert.deepEqual(store.listed(), [a.digest]);
    assert.deepEqual(await addToFallbackIndex(store, TAG, [a], opts()), { written: false, attempts: 1, preconditionsHonoured: false });
    assert.equal(store.writes, 1);
  });

  it('keeps what another writer put there, its unknown fields included', async () => {
    const store = new MemoryTagStore();
    const other = { ...ref('other'), 'x-unknown': 1 };
    store.bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [other], annotations: { keep: 'me' } }));
    await addToFallbackIndex(store, TAG, [ref('mine')], opts());
    const doc = JSON.parse(store.bytes.toString('utf8')) as { manifests: Record<string, unknown>[]; annotations: Record<string, string> };
    assert.deepEqual(doc.manifests[0], other);
    assert.equal(doc.manifests.length, 2);
    assert.deepEqual(doc.annotations, { keep: 'me' });
  });

  /**
   * Writer A reads "absent"; before it writes, writer B reads "absent" and writes {b}; then A
   * writes {a} (its stale merge), losing b. `bConfirmsAfterA`: B's confirming read comes after
   * A's write (B's settle pause outlasts A's read-to-write), else before it.
   */
  async function twoWriters(bConfirmsAfterA: boolean): Promise<MemoryTagStore> {
    const store = new MemoryTagStore();
    const a = ref('a');
    const b = ref('b');
    let bRun: Promise<unknown> | undefined;
    let bWrote!: () => void;
    const afterBWrite = new Promise<void>((r) => (bWrote = r));
    let aWrote!: () => void;
    const afterAWrite = new Promise<void>((r) => (aWrote = r));
    const writerB: TagIndexStore = {
      read: () => store.read(),
      write: async (tag, bytes, type, cond) => {
        const r = await store.write(tag, bytes, type, cond);
        bWrote();
        return r;
      },
    };
    const writerA: TagIndexStore = {
      read: async () => {
        const current = await store.read();
        if (!bRun) {
          bRun = addToFallbackIndex(writerB, TAG, [b], { signal: new AbortController().signal, pause: () => (bConfirmsAfterA ? afterAWrite : Promise.resolve()) });
          await afterBWrite;
          if (!bConfirmsAfterA) await bRun;
        }
        return current;
      },
      write: async (tag, bytes, type, cond) => {
        const r = await store.write(tag, bytes, type, cond);
        aWrote();
        return r;
      },
    };
    await addToFallbackIndex(writerA, TAG, [a], opts());
    await bRun;
    return store;
  }

  it('without preconditions: a writer whose entry was overwritten by a stale write writes it again', async () => {
    const store = await twoWriters(true);
    assert.deepEqual(store.listed(), [ref('a').digest, ref('b').digest].sort());
    assert.equal(store.writes, 3, 'b, then a over it, then b again');
  });

  it('the documented limit: a stale write landing after the other writer confirmed loses its entry (what the settle pause is for)', async () => {
    const store = await twoWriters(false);
    assert.deepEqual(store.listed(), [ref('a').digest]);
  });

  it('with preconditions: a stale write is refused (412) and redone on the fresh index', async () => {
    const store = new MemoryTagStore(true);
    const a = ref('a');
    const b = ref('b');
    let interleaved = false;
    store.after = async (op) => {
      if (op === 'read' && !interleaved) {
        interleaved = true;
        // Someone writes between A's read and A's write.
        store.bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [b] }));
      }
    };
    const outcome = await addToFallbackIndex(store, TAG, [a], opts());
    assert.equal(outcome.preconditionsHonoured, true);
    assert.equal(outcome.attempts, 2);
    assert.deepEqual(store.listed(), [a.digest, b.digest].sort());
  });

  it('fails (retryable) when the index keeps being replaced', async () => {
    const store = new MemoryTagStore();
    store.after = (op) => {
      if (op === 'write') store.bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    };
    await assert.rejects(addToFallbackIndex(store, TAG, [ref('a')], { ...opts(), maxAttempts: 3 }), (e: Error & { code?: string }) => e.code === 'UPSTREAM_UNAVAILABLE' && /3 rounds/.test(e.message));
  });

  it('refuses a current index that is not an index of valid descriptors', async () => {
    const store = new MemoryTagStore();
    store.bytes = Buffer.from(JSON.stringify({ manifests: [{ digest: 'sha256:nothex', size: 1 }] }));
    await assert.rejects(addToFallbackIndex(store, TAG, [ref('a')], opts()), (e: Error & { code?: string }) => e.code === 'MANIFEST_INVALID');
  });
});
