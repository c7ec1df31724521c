import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from './digest';
import { parseManifest } from './manifest';
import { MediaType } from './media-types';
import { cosignTag, fallbackTag, isDigestTag, matchesArtifactTypes, mergeReferrersIndex, parseReferrersIndex, referrerDescriptor, subjectOfDigestTag } from './referrers';

const HEX = 'ab'.repeat(32);
const D = `sha256:${HEX}`;
const manifest = (doc: unknown) => {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { blob: { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) }, parsed: parseManifest(bytes, MediaType.ociManifest) };
};
const empty = { mediaType: MediaType.ociEmpty, digest: digestOf(Buffer.from('{}')), size: 2 };

describe('referrers tags', () => {
  it('names the fallback tag and cosign tags; sha512 references are truncated to 64 characters', () => {
    assert.equal(fallbackTag(D), `sha256-${HEX}`);
    assert.equal(cosignTag(D, 'sig'), `sha256-${HEX}.sig`);
    const long = digestOf(Buffer.from('x'), 'sha512');
    assert.equal(fallbackTag(long), `sha512-${long.slice(7, 71)}`);
    assert.ok(fallbackTag(long).length <= 128);
  });

  it('recognises digest tags, and only them', () => {
    for (const t of [`sha256-${HEX}`, `sha256-${HEX}.sig`, `sha256-${HEX}.att`, `sha256-${HEX}.sbom`]) assert.ok(isDigestTag(t), t);
    for (const t of ['latest', `sha256-${HEX.slice(1)}`, `sha256:${HEX}`, `SHA256-${HEX}`, `sha256-${HEX}.`]) assert.ok(!isDigestTag(t), t);
    assert.equal(subjectOfDigestTag(`sha256-${HEX}.sig`), D);
    assert.equal(subjectOfDigestTag('v1'), undefined);
  });
});

describe('referrer descriptors', () => {
  it('artifactType: the manifest’s own, else the config’s type, else (cosign, an image config) the first layer’s', () => {
    const own = manifest({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/spdx+json', config: empty, layers: [], annotations: { a: 'b' } });
    assert.deepEqual(referrerDescriptor(own.blob, own.parsed), { mediaType: MediaType.ociManifest, digest: own.blob.digest, size: own.blob.bytes.length, artifactType: 'application/spdx+json', annotations: { a: 'b' } });
    const helm = manifest({ schemaVersion: 2, config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D, size: 3 }, layers: [] });
    assert.equal(referrerDescriptor(helm.blob, helm.parsed).artifactType, 'application/vnd.cncf.helm.config.v1+json');
    const cosign = manifest({ schemaVersion: 2, config: { mediaType: MediaType.ociConfig, digest: D, size: 3 }, layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: D, size: 3 }] });
    assert.equal(referrerDescriptor(cosign.blob, cosign.parsed).artifactType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    const emptyOnly = manifest({ schemaVersion: 2, config: empty, layers: [{ mediaType: 'text/plain', digest: D, size: 3 }] });
    assert.equal(referrerDescriptor(emptyOnly.blob, emptyOnly.parsed).artifactType, 'text/plain');
  });

  it('filters by artifact types', () => {
    assert.ok(matchesArtifactTypes({ artifactType: 'a/b' }, undefined));
    assert.ok(matchesArtifactTypes({}, []));
    assert.ok(matchesArtifactTypes({ artifactType: 'a/b' }, ['x/y', 'a/b']));
    assert.ok(!matchesArtifactTypes({}, ['a/b']));
  });

  it('parses a referrers index, validating every descriptor', () => {
    const list = parseReferrersIndex(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: D, size: 5, artifactType: 'a/b' }] })), 'test');
    assert.deepEqual(list, [{ mediaType: MediaType.ociManifest, digest: D, size: 5, artifactType: 'a/b' }]);
    assert.deepEqual(parseReferrersIndex(Buffer.from('{"schemaVersion":2}'), 'test'), []);
    assert.throws(() => parseReferrersIndex(Buffer.from('{"manifests":[{"digest":"../x","size":1}]}'), 'test'), /invalid digest/);
    assert.throws(() => parseReferrersIndex(Buffer.from('[]'), 'test'), /not a JSON object/);
  });
});

describe('merging a fallback index', () => {
  it('appends what is missing, keeps the rest as it is, and changes nothing when nothing is missing', () => {
    const a = { mediaType: MediaType.ociManifest, digest: D, size: 5 };
    const b = { mediaType: MediaType.ociManifest, digest: digestOf(Buffer.from('b')), size: 6, artifactType: 'x/y' };
    const created = mergeReferrersIndex(undefined, [a, a], 'test');
    assert.deepEqual(created.missing, [a]);
    assert.deepEqual(JSON.parse(created.bytes.toString('utf8')), { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [a] });
    const again = mergeReferrersIndex(created.bytes, [a], 'test');
    assert.deepEqual(again.missing, []);
    assert.ok(again.bytes.equals(created.bytes));
    const merged = mergeReferrersIndex(created.bytes, [b, a], 'test');
    assert.deepEqual(merged.missing, [b]);
    assert.deepEqual((JSON.parse(merged.bytes.toString('utf8')) as { manifests: unknown[] }).manifests, [a, b]);
  });
});
