import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from './digest';
import type { IndexManifest } from './manifest';
import { MediaType } from './media-types';
import { choosePlatformInstances, filterIndexDocument, formatPlatformSpec, parsePlatformSpec } from './platform-list';

const entry = (label: string, platform?: { os: string; architecture: string; variant?: string }) => ({ mediaType: MediaType.ociManifest, digest: digestOf(Buffer.from(label)), size: 10, ...(platform ? { platform } : {}) });
const amd64 = entry('amd64', { os: 'linux', architecture: 'amd64' });
const arm64 = entry('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' });
const armv6 = entry('armv6', { os: 'linux', architecture: 'arm', variant: 'v6' });
const armv7 = entry('armv7', { os: 'linux', architecture: 'arm', variant: 'v7' });
const index: IndexManifest = { kind: 'index', mediaType: MediaType.ociIndex, manifests: [amd64, armv6, arm64, armv7] };

describe('platform lists', () => {
  it('parses os/architecture[/variant] and refuses anything else', () => {
    assert.deepEqual(parsePlatformSpec('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatformSpec('windows/amd64'), { os: 'windows', architecture: 'amd64' });
    for (const bad of ['linux', 'linux/', '/amd64', 'linux/arm/v7/x', 'Linux/amd64', 'linux/am d64', `linux/${'a'.repeat(65)}`]) assert.throws(() => parsePlatformSpec(bad), /os\/architecture/, bad);
    assert.equal(formatPlatformSpec({ os: 'linux', architecture: 'arm', variant: 'v7' }), 'linux/arm/v7');
  });

  it('chooses as skopeo --override-* would, each instance once, in index order', () => {
    const pick = (...specs: string[]) => choosePlatformInstances(index, specs.map(parsePlatformSpec)).map((d) => d.digest);
    assert.deepEqual(pick('linux/arm'), [armv7.digest]); // the compatibility order: v8, v7, v6, v5 after ""
    assert.deepEqual(pick('linux/arm/v6'), [armv6.digest]);
    assert.deepEqual(pick('linux/arm64'), [arm64.digest]);
    assert.deepEqual(pick('linux/arm64/v8', 'linux/amd64', 'linux/amd64'), [amd64.digest, arm64.digest]);
    assert.throws(() => pick('linux/s390x'), (e: Error & { code?: string }) => e.code === 'PLATFORM_NOT_FOUND' && /s390x/.test(e.message));
  });

  it('filters the index document, keeping its other fields; everything chosen keeps its bytes', () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index.manifests, annotations: { k: 'v' } }, null, 2));
    const filtered = JSON.parse(filterIndexDocument(bytes, index, [arm64]).toString('utf8')) as { manifests: unknown[]; annotations: unknown };
    assert.deepEqual(filtered.manifests, [arm64]);
    assert.deepEqual(filtered.annotations, { k: 'v' });
    assert.equal(filterIndexDocument(bytes, index, index.manifests), bytes);
  });
});
