import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors/domain-error';
import { digestOf } from './digest';
import {
  type IndexManifest,
  type Platform,
  ManifestInvalidError,
  PlatformNotFoundError,
  chooseInstance,
  guessManifestMediaType,
  normalizeManifestMediaType,
  parseDescriptor,
  parseManifest,
  wantedPlatforms,
} from './manifest';
import { MediaType } from './media-types';

const enc = (doc: unknown): Buffer => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
const d = (label: string): string => digestOf(Buffer.from(label));
const SHA512 = digestOf(Buffer.from('sha512 content'), 'sha512');

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ManifestInvalidError, `expected ManifestInvalidError, got ${String(err)}`);
    assert.ok(err instanceof DomainError);
    assert.equal(err.code, 'MANIFEST_INVALID');
    assert.match(err.message, pattern);
    return true;
  });
}

const v2s2Doc = {
  schemaVersion: 2,
  mediaType: MediaType.dockerV2S2,
  config: { mediaType: MediaType.dockerConfig, size: 1469, digest: d('config') },
  layers: [
    { mediaType: MediaType.dockerLayerGzip, size: 2_000_000, digest: d('layer0') },
    {
      mediaType: MediaType.dockerForeignLayerGzip,
      size: 5,
      digest: d('layer1'),
      urls: ['https://example.invalid/l1', 7],
    },
  ],
};

const ociManifestDoc = {
  schemaVersion: 2,
  config: { mediaType: MediaType.ociConfig, size: 10, digest: d('oci-config') },
  layers: [{ mediaType: MediaType.ociLayerGzip, size: 32, digest: d('oci-layer'), annotations: { 'org.example.a': 'b' } }],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
};

const ociIndexDoc = {
  schemaVersion: 2,
  mediaType: MediaType.ociIndex,
  manifests: [
    { mediaType: MediaType.ociManifest, size: 500, digest: d('amd64'), platform: { os: 'linux', architecture: 'amd64' } },
    {
      mediaType: MediaType.ociManifest,
      size: 501,
      digest: d('arm64'),
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
    {
      mediaType: MediaType.ociManifest,
      size: 502,
      digest: d('windows'),
      platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1', 'os.features': ['win32k', 3] },
    },
  ],
  annotations: { 'org.example.index': 'yes' },
};

const dockerListDoc = {
  schemaVersion: 2,
  mediaType: MediaType.dockerManifestList,
  manifests: [
    { mediaType: MediaType.dockerV2S2, size: 7143, digest: d('list-amd64'), platform: { architecture: 'amd64', os: 'linux' } },
    {
      mediaType: MediaType.dockerV2S2,
      size: 7682,
      digest: d('list-arm'),
      platform: { architecture: 'arm', os: 'linux', variant: 'v7', features: ['sse4'] },
    },
  ],
};

function v1Compat(obj: Record<string, unknown>): { v1Compatibility: string } {
  return { v1Compatibility: JSON.stringify(obj) };
}

const schema1Unsigned = {
  schemaVersion: 1,
  name: 'library/hello',
  tag: 'latest',
  architecture: 'amd64',
  fsLayers: [{ blobSum: d('s1-top') }, { blobSum: d('s1-base') }],
  history: [v1Compat({ id: 'b'.repeat(64), parent: 'a'.repeat(64), created: '2016-01-01T00:00:00Z' }), v1Compat({ id: 'a'.repeat(64) })],
};

const schema1Signed = {
  ...schema1Unsigned,
  signatures: [{ header: { alg: 'ES256' }, signature: 'c2ln', protected: 'cHJvdA' }],
};

describe('parseManifest: Docker v2 schema 2', () => {
  it('parses config and layers, keeping descriptor media types, urls (strings only) and order', () => {
    const m = parseManifest(enc(v2s2Doc), MediaType.dockerV2S2);
    assert.equal(m.kind, 'image');
    if (m.kind !== 'image') return;
    assert.equal(m.mediaType, MediaType.dockerV2S2);
    assert.deepEqual(m.config, { mediaType: MediaType.dockerConfig, size: 1469, digest: d('config') });
    assert.equal(m.layers.length, 2);
    assert.deepEqual(m.layers[0], { mediaType: MediaType.dockerLayerGzip, size: 2_000_000, digest: d('layer0') });
    assert.deepEqual(m.layers[1]!.urls, ['https://example.invalid/l1']);
    assert.equal(m.annotations, undefined);
    assert.equal('annotations' in m, false);
  });

  it('accepts a manifest with no layers', () => {
    const m = parseManifest(enc({ ...v2s2Doc, layers: [] }), MediaType.dockerV2S2);
    assert.equal(m.kind === 'image' && m.layers.length, 0);
  });

  it('refuses a manifest without "layers" or without "config"', () => {
    const { layers: _l, ...noLayers } = v2s2Doc;
    assertInvalid(() => parseManifest(enc(noLayers), MediaType.dockerV2S2), /no "layers" list/);
    assertInvalid(() => parseManifest(enc({ ...v2s2Doc, layers: {} }), MediaType.dockerV2S2), /no "layers" list/);
    const { config: _c, ...noConfig } = v2s2Doc;
    assertInvalid(() => parseManifest(enc(noConfig), MediaType.dockerV2S2), /^config must be an object/);
  });

  it('refuses schemaVersion other than 2', () => {
    assertInvalid(() => parseManifest(enc({ ...v2s2Doc, schemaVersion: 1 }), MediaType.dockerV2S2), /unsupported schemaVersion 1/);
    assertInvalid(() => parseManifest(enc({ ...v2s2Doc, schemaVersion: '2' }), MediaType.dockerV2S2), /unsupported schemaVersion "2"/);
    const { schemaVersion: _s, ...noVersion } = v2s2Doc;
    assertInvalid(() => parseManifest(enc(noVersion), MediaType.dockerV2S2), /unsupported schemaVersion undefined/);
  });
});

describe('parseManifest: OCI image manifest', () => {
  it('parses a manifest without an inner mediaType, with annotations', () => {
    const m = parseManifest(enc(ociManifestDoc), MediaType.ociManifest);
    assert.equal(m.kind, 'image');
    if (m.kind !== 'image') return;
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(m.config.digest, d('oci-config'));
    assert.deepEqual(m.layers[0]!.annotations, { 'org.example.a': 'b' });
    assert.deepEqual(m.annotations, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
  });

  it('accepts a matching inner mediaType', () => {
    const m = parseManifest(enc({ ...ociManifestDoc, mediaType: MediaType.ociManifest }), MediaType.ociManifest);
    assert.equal(m.kind, 'image');
  });

  it('refuses annotations that are not a map of strings', () => {
    assertInvalid(() => parseManifest(enc({ ...ociManifestDoc, annotations: { a: 1 } }), MediaType.ociManifest), /manifest\.annotations must be a map of strings/);
    assertInvalid(() => parseManifest(enc({ ...ociManifestDoc, annotations: ['a'] }), MediaType.ociManifest), /manifest\.annotations must be a map of strings/);
  });

  it('treats null annotations as absent', () => {
    const m = parseManifest(enc({ ...ociManifestDoc, annotations: null }), MediaType.ociManifest);
    assert.equal('annotations' in m, false);
  });

  // containers/image's OCI1FromManifest calls validateUnambiguousManifestFormat: an image
  // manifest may carry config/layers but not "manifests" (nor fsLayers/history), and an index
  // may carry "manifests" only. This defends against documents that read as two kinds.
  it('refuses an ambiguous document that is both an image manifest and an index (containers/image parity)', () => {
    const ambiguous = { ...ociManifestDoc, manifests: ociIndexDoc.manifests };
    assertInvalid(() => parseManifest(enc(ambiguous), MediaType.ociManifest), /manifests/);
    const ambiguousIndex = { ...ociIndexDoc, config: ociManifestDoc.config, layers: ociManifestDoc.layers };
    assertInvalid(() => parseManifest(enc(ambiguousIndex), MediaType.ociIndex), /config|layers/);
  });
});

describe('parseManifest: OCI index and Docker manifest list', () => {
  it('parses an OCI index with platforms (variant, os.version, os.features of strings only)', () => {
    const m = parseManifest(enc(ociIndexDoc), MediaType.ociIndex);
    assert.equal(m.kind, 'index');
    if (m.kind !== 'index') return;
    assert.equal(m.mediaType, MediaType.ociIndex);
    assert.equal(m.manifests.length, 3);
    assert.deepEqual(m.manifests[0]!.platform, { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(m.manifests[1]!.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(m.manifests[2]!.platform, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1', 'os.features': ['win32k'] });
    assert.deepEqual(m.annotations, { 'org.example.index': 'yes' });
  });

  it('parses a Docker manifest list (unknown platform fields dropped)', () => {
    const m = parseManifest(enc(dockerListDoc), MediaType.dockerManifestList);
    assert.equal(m.kind, 'index');
    if (m.kind !== 'index') return;
    assert.equal(m.mediaType, MediaType.dockerManifestList);
    assert.deepEqual(m.manifests.map((x) => x.digest), [d('list-amd64'), d('list-arm')]);
    assert.deepEqual(m.manifests[1]!.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  it('omits an empty variant and os.version', () => {
    const doc = {
      schemaVersion: 2,
      manifests: [{ mediaType: MediaType.ociManifest, size: 1, digest: d('x'), platform: { os: 'linux', architecture: 'arm64', variant: '', 'os.version': '' } }],
    };
    const m = parseManifest(enc(doc), MediaType.ociIndex);
    assert.deepEqual(m.kind === 'index' && m.manifests[0]!.platform, { os: 'linux', architecture: 'arm64' });
  });

  it('accepts an empty index', () => {
    const m = parseManifest(enc({ schemaVersion: 2, manifests: [] }), MediaType.ociIndex);
    assert.deepEqual(m.kind === 'index' && m.manifests, []);
  });

  it('refuses an index without a "manifests" list', () => {
    assertInvalid(() => parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.ociIndex }), MediaType.ociIndex), /index has no "manifests" list/);
    assertInvalid(() => parseManifest(enc({ schemaVersion: 2, manifests: {} }), MediaType.dockerManifestList), /index has no "manifests" list/);
  });

  it('refuses a platform that is not an object or has a non-string os/architecture', () => {
    const bad = (platform: unknown) => ({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, size: 1, digest: d('p'), platform }] });
    assertInvalid(() => parseManifest(enc(bad('linux/amd64')), MediaType.ociIndex), /manifests\[0\]\.platform must be an object/);
    assertInvalid(() => parseManifest(enc(bad({ os: 'linux', architecture: 64 })), MediaType.ociIndex), /manifests\[0\]\.platform must have string "os" and "architecture"/);
  });

  it('reads a platform lacking os or architecture as Go decodes it: the missing one is "" (skopeo reads such an index, then matches no instance to it)', () => {
    const doc = (platform: unknown) => ({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, size: 1, digest: d('p'), platform }] });
    const platformOf = (platform: unknown) => {
      const m = parseManifest(enc(doc(platform)), MediaType.ociIndex);
      return m.kind === 'index' ? m.manifests[0]!.platform : undefined;
    };
    assert.deepEqual(platformOf({ os: 'linux' }), { os: 'linux', architecture: '' });
    assert.deepEqual(platformOf({ architecture: 'amd64', os: null }), { os: '', architecture: 'amd64' });
  });

  it('names the offending entry of the index', () => {
    const doc = { ...ociIndexDoc, manifests: [ociIndexDoc.manifests[0], { ...ociIndexDoc.manifests[1], digest: 'sha256:nope' }] };
    assertInvalid(() => parseManifest(enc(doc), MediaType.ociIndex), /^manifests\[1\] has an invalid digest "sha256:nope"$/);
  });
});

describe('parseManifest: Docker schema 1', () => {
  for (const [what, doc, mediaType] of [
    ['unsigned', schema1Unsigned, MediaType.dockerSchema1],
    ['signed', schema1Signed, MediaType.dockerSchema1Signed],
  ] as const) {
    it(`parses a ${what} manifest: blobSums and parsed v1Compatibility in manifest order`, () => {
      const m = parseManifest(enc(doc), mediaType);
      assert.equal(m.kind, 'schema1');
      if (m.kind !== 'schema1') return;
      assert.equal(m.mediaType, mediaType);
      assert.equal(m.name, 'library/hello');
      assert.equal(m.tag, 'latest');
      assert.equal(m.architecture, 'amd64');
      assert.deepEqual(m.fsLayers, [d('s1-top'), d('s1-base')]);
      assert.equal(m.history.length, 2);
      assert.equal(m.history[0]!['created'], '2016-01-01T00:00:00Z');
      assert.equal(m.history[1]!['id'], 'a'.repeat(64));
    });
  }

  it('defaults name, tag and architecture to ""', () => {
    const { name: _n, tag: _t, architecture: _a, ...rest } = schema1Unsigned;
    const m = parseManifest(enc(rest), MediaType.dockerSchema1);
    assert.ok(m.kind === 'schema1');
    assert.deepEqual([m.name, m.tag, m.architecture], ['', '', '']);
  });

  it('does not compare an inner mediaType for schema1', () => {
    const m = parseManifest(enc({ ...schema1Unsigned, mediaType: 'application/whatever' }), MediaType.dockerSchema1Signed);
    assert.equal(m.kind, 'schema1');
  });

  it('refuses a schema 2 document served as schema 1', () => {
    assertInvalid(() => parseManifest(enc(v2s2Doc), MediaType.dockerSchema1), /schema1 manifest must have schemaVersion 1/);
  });

  it('refuses empty or mismatched fsLayers/history', () => {
    const msg = /matching, non-empty fsLayers and history/;
    assertInvalid(() => parseManifest(enc({ ...schema1Unsigned, fsLayers: [], history: [] }), MediaType.dockerSchema1), msg);
    assertInvalid(() => parseManifest(enc({ ...schema1Unsigned, history: [schema1Unsigned.history[0]] }), MediaType.dockerSchema1), msg);
    assertInvalid(() => parseManifest(enc({ ...schema1Unsigned, fsLayers: undefined }), MediaType.dockerSchema1), msg);
  });

  it('refuses an invalid blobSum or a missing / non-JSON v1Compatibility', () => {
    assertInvalid(
      () => parseManifest(enc({ ...schema1Unsigned, fsLayers: [{ blobSum: d('ok') }, { blobSum: 'sha256:../../etc' }] }), MediaType.dockerSchema1),
      /fsLayers\[1\] has an invalid blobSum/,
    );
    assertInvalid(() => parseManifest(enc({ ...schema1Unsigned, fsLayers: [{}, {}] }), MediaType.dockerSchema1), /fsLayers\[0\] has an invalid blobSum/);
    assertInvalid(
      () => parseManifest(enc({ ...schema1Unsigned, history: [schema1Unsigned.history[0], {}] }), MediaType.dockerSchema1),
      /history\[1\] has no v1Compatibility/,
    );
    assertInvalid(
      () => parseManifest(enc({ ...schema1Unsigned, history: [{ v1Compatibility: '{not json' }, schema1Unsigned.history[1]] }), MediaType.dockerSchema1),
      /history\[0\]\.v1Compatibility is not valid JSON/,
    );
    assertInvalid(
      () => parseManifest(enc({ ...schema1Unsigned, history: [{ v1Compatibility: '[]' }, schema1Unsigned.history[1]] }), MediaType.dockerSchema1),
      /history\[0\]\.v1Compatibility is not a JSON object/,
    );
  });
});

describe('parseManifest: served type and document', () => {
  it('refuses a declared mediaType that disagrees with the served type, naming both', () => {
    assertInvalid(
      () => parseManifest(enc(ociIndexDoc), MediaType.ociManifest),
      new RegExp(`declares mediaType "${MediaType.ociIndex.replace(/[.+]/g, '\\$&')}" but was served as ${MediaType.ociManifest.replace(/[.+]/g, '\\$&')}`),
    );
    assertInvalid(() => parseManifest(enc(v2s2Doc), MediaType.ociManifest), /declares mediaType/);
    assertInvalid(() => parseManifest(enc({ ...ociManifestDoc, mediaType: MediaType.dockerV2S2 }), MediaType.ociManifest), /declares mediaType/);
    assertInvalid(() => parseManifest(enc(dockerListDoc), MediaType.ociIndex), /declares mediaType/);
    assertInvalid(() => parseManifest(enc({ ...v2s2Doc, mediaType: 42 }), MediaType.dockerV2S2), /declares mediaType 42/);
  });

  it('refuses non-JSON and non-object documents', () => {
    assertInvalid(() => parseManifest(enc('not json'), MediaType.ociManifest), /^manifest is not valid JSON/);
    assertInvalid(() => parseManifest(Buffer.alloc(0), MediaType.ociManifest), /^manifest is not valid JSON/);
    assertInvalid(() => parseManifest(enc('[]'), MediaType.ociManifest), /^manifest is not a JSON object$/);
    assertInvalid(() => parseManifest(enc('null'), MediaType.ociManifest), /^manifest is not a JSON object$/);
    assertInvalid(() => parseManifest(enc('"x"'), MediaType.ociManifest), /^manifest is not a JSON object$/);
  });

  it('refuses media types that are not manifests', () => {
    assertInvalid(() => parseManifest(enc(ociManifestDoc), MediaType.ociConfig), /unsupported manifest media type application\/vnd\.oci\.image\.config\.v1\+json/);
    assertInvalid(() => parseManifest(enc(ociManifestDoc), 'text/plain'), /unsupported manifest media type text\/plain/);
  });

  it('accepts UTF-8 with a BOM-free, pretty-printed body', () => {
    const m = parseManifest(Buffer.from(JSON.stringify(v2s2Doc, null, 3)), MediaType.dockerV2S2);
    assert.equal(m.kind, 'image');
  });
});

describe('parseDescriptor', () => {
  const base = { mediaType: MediaType.ociLayerGzip, digest: d('blob'), size: 10 };

  it('accepts sha256 and sha512 digests, and size 0 and the largest safe integer', () => {
    assert.deepEqual(parseDescriptor(base, 'x'), base);
    assert.equal(parseDescriptor({ ...base, digest: SHA512 }, 'x').digest, SHA512);
    assert.equal(parseDescriptor({ ...base, size: 0 }, 'x').size, 0);
    assert.equal(parseDescriptor({ ...base, size: Number.MAX_SAFE_INTEGER }, 'x').size, Number.MAX_SAFE_INTEGER);
  });

  it('defaults a missing mediaType to ""', () => {
    const { mediaType: _m, ...noType } = base;
    assert.equal(parseDescriptor(noType, 'x').mediaType, '');
  });

  const badDigests: unknown[] = [
    'sha256:../x',
    'sha256:../../../../etc/passwd',
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'a'.repeat(63)}`,
    `sha512:${'a'.repeat(64)}`,
    `md5:${'a'.repeat(32)}`,
    'a'.repeat(64),
    `sha256:${'a'.repeat(64)}\n`,
    `sha256:${'a'.repeat(64)}/x`,
    '',
    42,
    null,
    undefined,
  ];
  for (const digest of badDigests) {
    it(`refuses digest ${JSON.stringify(digest)}`, () => {
      assertInvalid(() => parseDescriptor({ ...base, digest }, 'layers[3]'), /^layers\[3\] has an invalid digest/);
    });
  }

  const badSizes: unknown[] = [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, 2 ** 64, '10', null, undefined, Number.NaN, true];
  for (const size of badSizes) {
    it(`refuses size ${String(size)}`, () => {
      assertInvalid(() => parseDescriptor({ ...base, size }, 'config'), /^config has an invalid size/);
    });
  }

  it('refuses huge sizes written as JSON numbers (1e300, 99999999999999999999)', () => {
    assertInvalid(() => parseManifest(enc(`{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"${d('h')}","size":1e300}]}`), MediaType.ociIndex), /invalid size/);
    assertInvalid(
      () => parseManifest(enc(`{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"${d('h')}","size":99999999999999999999}]}`), MediaType.ociIndex),
      /invalid size/,
    );
  });

  it('refuses a non-string mediaType and a non-object descriptor', () => {
    assertInvalid(() => parseDescriptor({ ...base, mediaType: 5 }, 'layers[0]'), /^layers\[0\] has an invalid mediaType$/);
    assertInvalid(() => parseDescriptor('sha256:abc', 'layers[0]'), /^layers\[0\] must be an object$/);
    assertInvalid(() => parseDescriptor(null, 'config'), /^config must be an object$/);
    assertInvalid(() => parseDescriptor([base], 'config'), /^config must be an object$/);
  });

  it('refuses descriptor annotations that are not strings', () => {
    assertInvalid(() => parseDescriptor({ ...base, annotations: { a: true } }, 'layers[0]'), /^layers\[0\]\.annotations must be a map of strings$/);
  });

  it('never echoes more than the JSON of the refused digest', () => {
    assert.throws(
      () => parseDescriptor({ ...base, digest: 'sha256:<script>' }, 'config'),
      (e: Error) => e.message === 'config has an invalid digest "sha256:<script>"',
    );
  });
});

describe('guessManifestMediaType (containers/image GuessMIMEType)', () => {
  it('returns a recognised inner mediaType as is', () => {
    assert.equal(guessManifestMediaType(enc(v2s2Doc)), MediaType.dockerV2S2);
    assert.equal(guessManifestMediaType(enc(dockerListDoc)), MediaType.dockerManifestList);
    assert.equal(guessManifestMediaType(enc({ ...ociManifestDoc, mediaType: MediaType.ociManifest })), MediaType.ociManifest);
    assert.equal(guessManifestMediaType(enc(ociIndexDoc)), MediaType.ociIndex);
  });

  it('recognises schema 1, signed when "signatures" is present', () => {
    assert.equal(guessManifestMediaType(enc(schema1Unsigned)), MediaType.dockerSchema1);
    assert.equal(guessManifestMediaType(enc(schema1Signed)), MediaType.dockerSchema1Signed);
    assert.equal(guessManifestMediaType(enc({ ...schema1Unsigned, signatures: [] })), MediaType.dockerSchema1Signed);
  });

  it('treats "signatures": null as unsigned (Go decodes null into a nil interface)', () => {
    assert.equal(guessManifestMediaType(enc({ ...schema1Unsigned, signatures: null })), MediaType.dockerSchema1);
  });

  it('guesses from the config media type when the manifest has no mediaType', () => {
    assert.equal(guessManifestMediaType(enc(ociManifestDoc)), MediaType.ociManifest);
    const { mediaType: _m, ...v2s2NoType } = v2s2Doc;
    assert.equal(guessManifestMediaType(enc(v2s2NoType)), MediaType.dockerV2S2);
    const artifact = { ...ociManifestDoc, config: { ...ociManifestDoc.config, mediaType: 'application/vnd.example.artifact+json' } };
    assert.equal(guessManifestMediaType(enc(artifact)), MediaType.ociManifest);
  });

  // ociIndexDoc's windows entry has "os.features": ["win32k", 3]; json.Unmarshal into
  // []imgspecv1.Descriptor fails on the 3, so GuessMIMEType returns "" for it (skopeo 1.9.3:
  // "unsupported schema version 2" for such a dir: image). Use entries Go can decode.
  it('guesses an OCI index from a non-empty "manifests" list', () => {
    const { mediaType: _m, ...indexNoType } = ociIndexDoc;
    const decodable = { ...indexNoType, manifests: indexNoType.manifests.slice(0, 2) };
    assert.equal(guessManifestMediaType(enc(decodable)), MediaType.ociIndex);
    assert.equal(guessManifestMediaType(enc(indexNoType)), undefined);
  });

  it('guesses an OCI index (not a Docker list) for an untyped list of Docker manifests, as GuessMIMEType does', () => {
    const { mediaType: _m, ...listNoType } = dockerListDoc;
    assert.equal(guessManifestMediaType(enc(listNoType)), MediaType.ociIndex);
  });

  it('falls back to an OCI manifest for schemaVersion 2 with neither config nor manifests', () => {
    assert.equal(guessManifestMediaType(enc({ schemaVersion: 2 })), MediaType.ociManifest);
    assert.equal(guessManifestMediaType(enc({ schemaVersion: 2, layers: [] })), MediaType.ociManifest);
  });

  it('falls back to an OCI manifest for an empty "manifests" list (len(Manifests) == 0)', () => {
    assert.equal(guessManifestMediaType(enc({ schemaVersion: 2, manifests: [] })), MediaType.ociManifest);
  });

  it('keeps guessing when the inner mediaType is not a manifest type', () => {
    assert.equal(guessManifestMediaType(enc({ ...ociManifestDoc, mediaType: 'application/x-unknown' })), MediaType.ociManifest);
    assert.equal(guessManifestMediaType(enc({ ...schema1Unsigned, mediaType: 'application/json' })), MediaType.dockerSchema1);
  });

  it('returns undefined for unknown versions and for non-JSON / non-object input', () => {
    assert.equal(guessManifestMediaType(enc({ schemaVersion: 3, config: {} })), undefined);
    assert.equal(guessManifestMediaType(enc({ config: ociManifestDoc.config })), undefined);
    assert.equal(guessManifestMediaType(enc({ schemaVersion: '2', config: ociManifestDoc.config })), undefined);
    assert.equal(guessManifestMediaType(enc('garbage')), undefined);
    assert.equal(guessManifestMediaType(Buffer.alloc(0)), undefined);
    assert.equal(guessManifestMediaType(enc('[1,2]')), undefined);
    assert.equal(guessManifestMediaType(enc('null')), undefined);
  });
});

describe('normalizeManifestMediaType', () => {
  it('strips parameters, whitespace and case from a reported type', () => {
    assert.equal(normalizeManifestMediaType(`${MediaType.ociManifest}; charset=utf-8`, enc(v2s2Doc)), MediaType.ociManifest);
    assert.equal(normalizeManifestMediaType(` ${MediaType.dockerV2S2.toUpperCase()} `, Buffer.alloc(0)), MediaType.dockerV2S2);
    assert.equal(normalizeManifestMediaType(`${MediaType.dockerSchema1Signed};q=0.5`, Buffer.alloc(0)), MediaType.dockerSchema1Signed);
  });

  it('trusts a specific reported type over the content', () => {
    assert.equal(normalizeManifestMediaType(MediaType.ociIndex, enc(v2s2Doc)), MediaType.ociIndex);
  });

  it('returns unknown specific types as they are (parseManifest refuses them later)', () => {
    assert.equal(normalizeManifestMediaType('application/x-custom', enc(v2s2Doc)), 'application/x-custom');
  });

  for (const reported of [undefined, '', 'text/plain', 'text/plain; charset=utf-8', 'application/json', 'Application/JSON', 'application/octet-stream']) {
    it(`guesses from the content when the reported type is ${JSON.stringify(reported)}`, () => {
      assert.equal(normalizeManifestMediaType(reported, enc(ociIndexDoc)), MediaType.ociIndex);
      assert.equal(normalizeManifestMediaType(reported, enc(schema1Unsigned)), MediaType.dockerSchema1);
      assert.equal(normalizeManifestMediaType(reported, enc(ociManifestDoc)), MediaType.ociManifest);
    });
  }

  it('refuses content it cannot classify when the reported type is unusable', () => {
    assertInvalid(() => normalizeManifestMediaType('text/plain', enc('<html>')), /cannot determine the manifest type/);
    assertInvalid(() => normalizeManifestMediaType(undefined, enc({ schemaVersion: 9 })), /cannot determine the manifest type/);
  });
});

const LINUX_AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const LINUX_ARM64: Platform = { os: 'linux', architecture: 'arm64' };
const LINUX_ARM: Platform = { os: 'linux', architecture: 'arm' };
const variantsOf = (ps: Platform[]): string[] => ps.map((p) => p.variant ?? '');

describe('wantedPlatforms (containers/image WantedPlatforms)', () => {
  it('walks down the arm compatibility list from an explicit variant, then the empty variant', () => {
    assert.deepEqual(variantsOf(wantedPlatforms({ os: 'linux', architecture: 'arm', variant: 'v8' }, LINUX_AMD64)), ['v8', 'v7', 'v6', 'v5', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ os: 'linux', architecture: 'arm', variant: 'v7' }, LINUX_AMD64)), ['v7', 'v6', 'v5', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ os: 'linux', architecture: 'arm', variant: 'v6' }, LINUX_AMD64)), ['v6', 'v5', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ os: 'linux', architecture: 'arm', variant: 'v5' }, LINUX_AMD64)), ['v5', '']);
  });

  it('arm64 v8 is followed by the empty variant only', () => {
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'arm64', variant: 'v8' }, LINUX_AMD64)), ['v8', '']);
  });

  it('a variant outside the compatibility list is tried alone, then the empty variant', () => {
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'arm', variant: 'v9' }, LINUX_AMD64)), ['v9', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'arm64', variant: 'v7' }, LINUX_AMD64)), ['v7', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'riscv64', variant: 'rva23' }, LINUX_AMD64)), ['rva23', '']);
  });

  it('without a variant: the empty variant first, then the whole compatibility list', () => {
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'arm' }, LINUX_AMD64)), ['', 'v8', 'v7', 'v6', 'v5']);
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'arm64' }, LINUX_AMD64)), ['', 'v8']);
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'amd64' }, LINUX_ARM64)), ['']);
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 's390x' }, LINUX_AMD64)), ['']);
  });

  it('fills os and architecture from the system and leaves "variant" out when empty', () => {
    assert.deepEqual(wantedPlatforms({}, LINUX_AMD64), [{ os: 'linux', architecture: 'amd64' }]);
    assert.deepEqual(wantedPlatforms({ os: 'windows' }, LINUX_AMD64), [{ os: 'windows', architecture: 'amd64' }]);
    assert.deepEqual(wantedPlatforms({ architecture: 'arm64', variant: 'v8' }, { os: 'freebsd', architecture: 'amd64' }), [
      { os: 'freebsd', architecture: 'arm64', variant: 'v8' },
      { os: 'freebsd', architecture: 'arm64' },
    ]);
    for (const p of wantedPlatforms({ architecture: 'arm' }, LINUX_AMD64)) assert.notEqual(p.variant, '');
  });

  it("uses the system's variant only when the architecture is not chosen", () => {
    const armV6: Platform = { ...LINUX_ARM, variant: 'v6' };
    assert.deepEqual(variantsOf(wantedPlatforms({}, armV6)), ['v6', 'v5', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ os: 'linux' }, armV6)), ['v6', 'v5', '']);
    assert.deepEqual(variantsOf(wantedPlatforms({ architecture: 'arm' }, armV6)), ['', 'v8', 'v7', 'v6', 'v5']);
    assert.deepEqual(variantsOf(wantedPlatforms({ variant: 'v7' }, armV6)), ['v7', 'v6', 'v5', '']);
  });

  it('treats empty strings in the choice as not chosen', () => {
    assert.deepEqual(wantedPlatforms({ os: '', architecture: '', variant: '' }, LINUX_AMD64), [{ os: 'linux', architecture: 'amd64' }]);
  });
});

function index(entries: Array<[string, Platform | undefined]>, mediaType: string = MediaType.ociIndex): IndexManifest {
  return {
    kind: 'index',
    mediaType,
    manifests: entries.map(([label, platform]) => ({
      mediaType: MediaType.ociManifest,
      digest: d(label),
      size: 100,
      ...(platform ? { platform } : {}),
    })),
  };
}

const chosen = (ix: IndexManifest, choice: Parameters<typeof chooseInstance>[1], system: Platform = LINUX_AMD64): string => {
  const picked = chooseInstance(ix, choice, system).digest;
  const i = ix.manifests.findIndex((m) => m.digest === picked);
  return `#${i}`;
};

describe('chooseInstance (containers/image ChooseInstance)', () => {
  const multi = index([
    ['amd64', LINUX_AMD64],
    ['arm64v8', { ...LINUX_ARM64, variant: 'v8' }],
    ['armv7', { ...LINUX_ARM, variant: 'v7' }],
    ['armv6', { ...LINUX_ARM, variant: 'v6' }],
    ['win', { os: 'windows', architecture: 'amd64' }],
  ]);

  it('picks the instance for the system platform by default', () => {
    assert.equal(chosen(multi, {}), '#0');
    assert.equal(chosen(multi, {}, { ...LINUX_ARM, variant: 'v7' }), '#2');
  });

  it('matches os, architecture and explicit variant', () => {
    assert.equal(chosen(multi, { os: 'windows' }), '#4');
    assert.equal(chosen(multi, { architecture: 'arm', variant: 'v6' }), '#3');
    assert.equal(chosen(multi, { architecture: 'arm', variant: 'v7' }), '#2');
    assert.equal(chosen(multi, { architecture: 'arm64', variant: 'v8' }), '#1');
  });

  it('walks down the compatibility list: arm v8 falls back to v7 before v6', () => {
    assert.equal(chosen(multi, { architecture: 'arm', variant: 'v8' }), '#2');
  });

  it('prefers the better candidate over index order', () => {
    const ix = index([
      ['v5', { ...LINUX_ARM, variant: 'v5' }],
      ['v6', { ...LINUX_ARM, variant: 'v6' }],
      ['v7', { ...LINUX_ARM, variant: 'v7' }],
    ]);
    assert.equal(chosen(ix, { architecture: 'arm', variant: 'v7' }), '#2');
    assert.equal(chosen(ix, { architecture: 'arm', variant: 'v6' }), '#1');
  });

  it('takes the first match in index order within one candidate', () => {
    const ix = index([
      ['win', { os: 'windows', architecture: 'amd64' }],
      ['first', LINUX_AMD64],
      ['second', LINUX_AMD64],
    ]);
    assert.equal(chosen(ix, {}), '#1');
  });

  it('accepts an instance without a variant through the empty-variant candidate', () => {
    const ix = index([['arm', LINUX_ARM]]);
    assert.equal(chosen(ix, { architecture: 'arm', variant: 'v7' }), '#0');
    assert.equal(chosen(ix, { architecture: 'arm' }), '#0');
    const ix64 = index([['arm64', LINUX_ARM64]]);
    assert.equal(chosen(ix64, { architecture: 'arm64', variant: 'v8' }), '#0');
  });

  it('finds arm64/v8 when no variant is asked for', () => {
    const ix = index([['arm64v8', { ...LINUX_ARM64, variant: 'v8' }]]);
    assert.equal(chosen(ix, { architecture: 'arm64' }), '#0');
  });

  it('ignores entries without a platform in a Docker manifest list', () => {
    const ix = index([['none', undefined], ['amd64', LINUX_AMD64]], MediaType.dockerManifestList);
    assert.equal(chosen(ix, {}), '#1');
  });

  // MatchesPlatform compares Variant with ==, so the "" candidate only matches instances
  // without a variant: asking for arm/v6 never yields an arm/v7 or arm/v8 image.
  it('never returns a more capable variant than asked for (exact variant match, as MatchesPlatform)', () => {
    const ix = index([['armv8', { ...LINUX_ARM, variant: 'v8' }], ['armv7', { ...LINUX_ARM, variant: 'v7' }]]);
    assert.throws(() => chooseInstance(ix, { architecture: 'arm', variant: 'v6' }, LINUX_AMD64), PlatformNotFoundError);
  });

  it('with no variant asked, prefers an instance without a variant over an earlier one with a variant', () => {
    const ix = index([
      ['arm64v8', { ...LINUX_ARM64, variant: 'v8' }],
      ['arm64', LINUX_ARM64],
    ]);
    assert.equal(chosen(ix, { architecture: 'arm64' }), '#1');
  });

  // With no variant, the candidates are "", v8, v7, v6, v5: the most capable listed variant wins.
  it('with no variant asked for arm, walks the compatibility list rather than taking the first arm entry', () => {
    const ix = index([
      ['armv6', { ...LINUX_ARM, variant: 'v6' }],
      ['armv7', { ...LINUX_ARM, variant: 'v7' }],
    ]);
    assert.equal(chosen(ix, { architecture: 'arm' }), '#1');
  });

  // OCI1Index.ChooseInstance falls back to the first descriptor without a platform.
  it('falls back to an OCI index entry without a platform', () => {
    const ix = index([['win', { os: 'windows', architecture: 'amd64' }], ['any', undefined]]);
    assert.equal(chosen(ix, {}), '#1');
  });

  it('refuses when nothing matches, with skopeo\'s message for a manifest list', () => {
    const list: IndexManifest = { ...multi, mediaType: MediaType.dockerManifestList };
    assert.throws(
      () => chooseInstance(list, { architecture: 's390x' }, LINUX_AMD64),
      (e: unknown) => {
        assert.ok(e instanceof PlatformNotFoundError);
        assert.ok(e instanceof DomainError);
        assert.equal(e.code, 'PLATFORM_NOT_FOUND');
        assert.equal(e.message, 'no image found in manifest list for architecture s390x, variant "", OS linux');
        return true;
      },
    );
    assert.throws(
      () => chooseInstance(list, { os: 'darwin', architecture: 'arm64', variant: 'v8' }, LINUX_AMD64),
      { message: 'no image found in manifest list for architecture arm64, variant "v8", OS darwin' },
    );
    assert.throws(() => chooseInstance(index([]), {}, LINUX_AMD64), PlatformNotFoundError);
  });

  // skopeo 1.9.3: "no image found in image index for architecture s390x, variant \"\", OS linux".
  it('says "image index" rather than "manifest list" for an OCI index, as OCI1Index.ChooseInstance does', () => {
    assert.throws(() => chooseInstance(multi, { architecture: 's390x' }, LINUX_AMD64), {
      message: 'no image found in image index for architecture s390x, variant "", OS linux',
    });
  });

  it("reports the system's variant in the message when it was the one wanted (wantedPlatforms[0].Variant)", () => {
    assert.throws(() => chooseInstance(index([['amd64', LINUX_AMD64]], MediaType.dockerManifestList), {}, { ...LINUX_ARM, variant: 'v7' }), {
      message: 'no image found in manifest list for architecture arm, variant "v7", OS linux',
    });
  });
});
