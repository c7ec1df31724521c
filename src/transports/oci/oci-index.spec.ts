import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REF_NAME_ANNOTATION, addManifestToIndex, emptyOciIndex, parseOciIndex, selectIndexEntry, serializeOciIndex } from './oci-index';

const M = 'application/vnd.oci.image.manifest.v1+json';
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const named = (digest: string, size: number, name?: string) => ({ mediaType: M, digest, size, ...(name ? { annotations: { [REF_NAME_ANNOTATION]: name } } : {}) });

describe('index.json (containers/image 5.23 rules)', () => {
  it('reproduces the bytes skopeo 1.9 writes for first / second / first again / unnamed', () => {
    let index = emptyOciIndex();
    index = addManifestToIndex(index, named(A, 557, 'first'));
    assert.equal(
      serializeOciIndex(index).toString(),
      `{"schemaVersion":2,"manifests":[{"mediaType":"${M}","digest":"${A}","size":557,"annotations":{"org.opencontainers.image.ref.name":"first"}}]}`,
    );
    index = addManifestToIndex(index, named(B, 704, 'second'));
    index = addManifestToIndex(index, named(B, 704, 'first'));
    index = addManifestToIndex(index, named(B, 704));
    // the old "first" keeps its entry without a name; the unnamed B is appended (the other B entries are named)
    assert.equal(
      serializeOciIndex(index).toString(),
      `{"schemaVersion":2,"manifests":[{"mediaType":"${M}","digest":"${A}","size":557},` +
        `{"mediaType":"${M}","digest":"${B}","size":704,"annotations":{"org.opencontainers.image.ref.name":"second"}},` +
        `{"mediaType":"${M}","digest":"${B}","size":704,"annotations":{"org.opencontainers.image.ref.name":"first"}},` +
        `{"mediaType":"${M}","digest":"${B}","size":704}]}`,
    );
    // an unnamed entry with the same digest is replaced, not duplicated
    const again = addManifestToIndex(index, named(A, 557, 'third'));
    assert.equal(again.manifests.length, 4);
    assert.deepEqual(again.manifests[0]!.annotations, { [REF_NAME_ANNOTATION]: 'third' });
  });

  it('rewriting a tag with the same image leaves one entry', () => {
    const index = addManifestToIndex(addManifestToIndex(emptyOciIndex(), named(A, 1, 'x')), named(A, 1, 'x'));
    assert.equal(index.manifests.length, 1);
  });

  it('round-trips what it reads, dropping unknown fields and empty maps as Go does', () => {
    const text = `{"schemaVersion":2,"extra":1,"manifests":[{"mediaType":"${M}","digest":"${A}","size":3,"annotations":{},"platform":{"os":"linux","architecture":"arm64","variant":"v8"},"foo":"bar"}],"annotations":{"z":"1","a":"<&>"}}`;
    assert.equal(
      serializeOciIndex(parseOciIndex(Buffer.from(text))).toString(),
      `{"schemaVersion":2,"manifests":[{"mediaType":"${M}","digest":"${A}","size":3,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}],"annotations":{"a":"\\u003c\\u0026\\u003e","z":"1"}}`,
    );
  });

  it('refuses what is not an index of valid descriptors (LAYOUT_INVALID)', () => {
    for (const text of ['{', '[]', '{"schemaVersion":3,"manifests":[]}', '{"manifests":{}}', `{"manifests":[{"digest":"sha256:xyz","size":1}]}`, `{"manifests":[{"digest":"${A}","size":-1}]}`, `{"manifests":[{"digest":"${A}","size":"1"}]}`]) {
      assert.throws(() => parseOciIndex(Buffer.from(text)), (e: { code?: string }) => e.code === 'LAYOUT_INVALID', text);
    }
  });

  it('selects by name (OCI entries only), by @N, or the only image', () => {
    const index = parseOciIndex(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: A, size: 1, annotations: { [REF_NAME_ANNOTATION]: 'x' } },
            named(B, 2, 'x'),
          ],
        }),
      ),
    );
    const byName = selectIndexEntry(index, { image: 'x' });
    assert.ok('entry' in byName && byName.position === 1);
    const byIndex = selectIndexEntry(index, { sourceIndex: 0 });
    assert.ok('entry' in byIndex && byIndex.entry.digest === A);
    assert.deepEqual(Object.keys(selectIndexEntry(index, { sourceIndex: 2 })), ['problem', 'message']);
    assert.equal((selectIndexEntry(index, {}) as { problem: string }).problem, 'ambiguous');
    assert.equal((selectIndexEntry(index, { image: 'y' }) as { problem: string }).problem, 'not-found');
    assert.equal((selectIndexEntry(emptyOciIndex(), {}) as { problem: string }).problem, 'not-found');
  });
});
