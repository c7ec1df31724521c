import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entityTag, ifNoneMatchHits, passthroughContentType } from './passthrough';

const D = `sha256:${'a'.repeat(64)}`;

describe('pass-through answers', () => {
  it('carry a known manifest or config media type, anything else as application/octet-stream', () => {
    for (const t of ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.config.v1+json']) {
      assert.equal(passthroughContentType(t), t);
    }
    for (const t of ['text/html', 'application/javascript', 'image/svg+xml', 'application/json', '', 'application/vnd.oci.image.manifest.v1+json; charset=utf-7']) {
      assert.equal(passthroughContentType(t), 'application/octet-stream', t);
    }
  });

  it('If-None-Match: weak comparison, lists, *, and nothing for malformed headers', () => {
    const strong = entityTag(D);
    const weak = entityTag(D, { weak: true });
    assert.equal(strong, `"${D}"`);
    assert.equal(weak, `W/"${D}"`);
    assert.ok(ifNoneMatchHits(strong, strong));
    assert.ok(ifNoneMatchHits(weak, strong));
    assert.ok(ifNoneMatchHits(strong, weak));
    assert.ok(ifNoneMatchHits(`"x", ${weak}`, strong));
    assert.ok(ifNoneMatchHits(['"x"', strong], strong));
    assert.ok(ifNoneMatchHits('*', strong));
    assert.ok(!ifNoneMatchHits(undefined, strong));
    assert.ok(!ifNoneMatchHits(D, strong), 'unquoted');
    assert.ok(!ifNoneMatchHits(`"${D}`, strong));
    assert.ok(!ifNoneMatchHits(`"sha256:${'b'.repeat(64)}"`, strong));
    assert.ok(!ifNoneMatchHits(`${'"x", '.repeat(5000)}${strong}`, strong), 'an absurdly long header matches nothing');
  });
});
