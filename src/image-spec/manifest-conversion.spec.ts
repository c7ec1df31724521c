import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { convertImageManifest, convertIndex } from './manifest-conversion';
import type { ImageManifest } from './manifest';
import { type IndexManifest, systemPlatform } from './manifest';
import { MediaType } from './media-types';

const instance = { mediaType: MediaType.ociManifest, digest: `sha256:${'a'.repeat(64)}`, size: 10 };
const replaced = new Map([[instance.digest, { mediaType: MediaType.dockerV2S2, digest: `sha256:${'b'.repeat(64)}`, size: 9 }]]);

describe('convertIndex', () => {
  it('OCI index → Docker list: an instance without platform gets the host platform (containers/image ToSchema2List: runtime.GOOS/GOARCH)', () => {
    const index: IndexManifest = { kind: 'index', mediaType: MediaType.ociIndex, manifests: [instance] };
    const list = JSON.parse(convertIndex(index, 'v2s2', replaced).toString('utf8')) as { manifests: { platform: unknown }[] };
    const host = systemPlatform();
    assert.deepEqual(list.manifests[0]!.platform, { architecture: host.architecture, os: host.os });
  });

  it('a Docker list re-serialised keeps an absent platform empty (its Go struct is not a pointer)', () => {
    const index: IndexManifest = { kind: 'index', mediaType: MediaType.dockerManifestList, manifests: [{ ...instance, mediaType: MediaType.dockerV2S2 }] };
    const list = JSON.parse(convertIndex(index, 'v2s2', new Map()).toString('utf8')) as { manifests: { platform: unknown }[] };
    assert.deepEqual(list.manifests[0]!.platform, { architecture: '', os: '' });
  });
});

describe('convertImageManifest', () => {
  const config = { mediaType: MediaType.ociConfig, digest: `sha256:${'c'.repeat(64)}`, size: 2 };
  const layer = (mediaType: string) => ({ mediaType, digest: `sha256:${'d'.repeat(64)}`, size: 3 });
  it('refuses, as containers/image does, a layer of the other format (or unknown) in the manifest it converts', () => {
    const oci: ImageManifest = { kind: 'image', mediaType: MediaType.ociManifest, config, layers: [layer(MediaType.dockerLayerGzip)] };
    assert.throws(() => convertImageManifest(oci, 'v2s2'), /Unknown media type during manifest conversion/);
    const docker: ImageManifest = { kind: 'image', mediaType: MediaType.dockerV2S2, config: { ...config, mediaType: MediaType.dockerConfig }, layers: [layer(MediaType.ociLayerGzip)] };
    assert.throws(() => convertImageManifest(docker, 'oci'), /Unknown media type during manifest conversion/);
    assert.equal(convertImageManifest({ ...oci, layers: [layer(MediaType.ociLayerGzip)] }, 'v2s2').layers[0]!.mediaType, MediaType.dockerLayerGzip);
    assert.equal(convertImageManifest({ ...docker, layers: [layer(MediaType.dockerLayerGzip)] }, 'oci').layers[0]!.mediaType, MediaType.ociLayerGzip);
  });
});
