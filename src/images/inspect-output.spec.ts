import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../image-spec/digest';
import { GO_ZERO_TIME } from '../go-template/go-time';
import { type ImageManifest, type Schema1Manifest, parseManifest } from '../image-spec/manifest';
import { MediaType } from '../image-spec/media-types';
import { inspectImage, inspectSchema1, renderInspectTemplate } from './inspect-output';

// Expectations were checked against skopeo 1.9.3 (`skopeo inspect` of dir: layouts).

const d = (label: string): string => digestOf(Buffer.from(label));
const TOP = d('top-manifest');

function imageManifest(mediaType: string, layers: Array<Record<string, unknown>>): ImageManifest {
  const doc = {
    schemaVersion: 2,
    ...(mediaType === MediaType.dockerV2S2 ? { mediaType } : {}),
    config: { mediaType: mediaType === MediaType.dockerV2S2 ? MediaType.dockerConfig : MediaType.ociConfig, size: 100, digest: d('config') },
    layers,
  };
  const m = parseManifest(Buffer.from(JSON.stringify(doc)), mediaType);
  assert.equal(m.kind, 'image');
  return m as ImageManifest;
}

const layers = [
  { mediaType: MediaType.ociLayerGzip, size: 1234, digest: d('base') },
  { mediaType: MediaType.ociLayerZstd, size: 99, digest: d('app'), annotations: { 'org.example.layer': 'app' } },
];
const ociManifest = imageManifest(MediaType.ociManifest, layers);
const v2s2Manifest = imageManifest(MediaType.dockerV2S2, [{ mediaType: MediaType.dockerLayerGzip, size: 5, digest: d('v2-layer') }]);

const fullConfig = {
  created: '2024-03-04T05:06:07.890000000Z',
  docker_version: '24.0.7',
  architecture: 'arm64',
  os: 'linux',
  variant: 'v8',
  config: { Env: ['PATH=/bin', 'HOME=/root'], Labels: { 'org.opencontainers.image.title': 'app' }, Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: [] },
};

describe('inspectImage', () => {
  it('prints every field in skopeo order, Variant after Os', () => {
    const out = inspectImage({ name: 'registry.example/app', digest: TOP, repoTags: ['1.0', 'latest'] }, ociManifest, fullConfig);
    assert.deepEqual(Object.keys(out), ['Name', 'Digest', 'RepoTags', 'Created', 'DockerVersion', 'Labels', 'Architecture', 'Os', 'Variant', 'Layers', 'LayersData', 'Env']);
    assert.deepEqual(out, {
      Name: 'registry.example/app',
      Digest: TOP,
      RepoTags: ['1.0', 'latest'],
      Created: '2024-03-04T05:06:07.89Z',
      DockerVersion: '24.0.7',
      Labels: { 'org.opencontainers.image.title': 'app' },
      Architecture: 'arm64',
      Os: 'linux',
      Variant: 'v8',
      Layers: [d('base'), d('app')],
      LayersData: [
        { MIMEType: MediaType.ociLayerGzip, Digest: d('base'), Size: 1234, Annotations: null },
        { MIMEType: MediaType.ociLayerZstd, Digest: d('app'), Size: 99, Annotations: { 'org.example.layer': 'app' } },
      ],
      Env: ['PATH=/bin', 'HOME=/root'],
    });
  });

  it('leaves Name out when it is undefined or empty', () => {
    for (const name of [undefined, '']) {
      const out = inspectImage({ name, digest: TOP, repoTags: [] }, ociManifest, fullConfig);
      assert.equal('Name' in out, false);
      assert.equal(Object.keys(out)[0], 'Digest');
      assert.deepEqual(out.RepoTags, []);
    }
  });

  it('Digest is the top-level digest given, not the config or layer digest', () => {
    assert.equal(inspectImage({ digest: TOP, repoTags: [] }, ociManifest, fullConfig).Digest, TOP);
  });

  it('prints Labels and Env as null when the config has none (and when config.config is absent)', () => {
    const noConfigSection = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { architecture: 'amd64', os: 'linux' });
    assert.equal(noConfigSection.Labels, null);
    assert.equal(noConfigSection.Env, null);
    const emptyConfigSection = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { config: {} });
    assert.equal(emptyConfigSection.Labels, null);
    assert.equal(emptyConfigSection.Env, null);
    const nullConfigSection = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { config: null });
    assert.equal(nullConfigSection.Labels, null);
    assert.equal(nullConfigSection.Env, null);
    const explicitNulls = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { config: { Labels: null, Env: null } });
    assert.equal(explicitNulls.Labels, null);
    assert.equal(explicitNulls.Env, null);
  });

  it('keeps empty Labels and Env as {} and []', () => {
    const out = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { config: { Labels: {}, Env: [] } });
    assert.deepEqual(out.Labels, {});
    assert.deepEqual(out.Env, []);
  });

  it('adds Variant only when the config has one', () => {
    for (const config of [{ architecture: 'amd64' }, { architecture: 'amd64', variant: '' }, { architecture: 'amd64', variant: null }]) {
      const out = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, config);
      assert.equal('Variant' in out, false, JSON.stringify(config));
    }
  });

  it('prints empty strings for absent DockerVersion, Architecture and Os', () => {
    const out = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, {});
    assert.equal(out.DockerVersion, '');
    assert.equal(out.Architecture, '');
    assert.equal(out.Os, '');
  });

  it('prints Created as Go does (offset kept, trailing zeros dropped)', () => {
    const out = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { created: '2024-03-04T05:06:07.500+02:00' });
    assert.equal(out.Created, '2024-03-04T05:06:07.5+02:00');
  });

  it('prints Created as null for an OCI config without "created" (imgspecv1.Image.Created is a pointer)', () => {
    assert.equal(inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { architecture: 'amd64' }).Created, null);
  });

  // manifest.Schema2.Inspect uses &s2.Created, a time.Time value: absent means Go's zero time.
  it('prints Go\'s zero time for a Docker v2s2 config without "created"', () => {
    assert.equal(inspectImage({ digest: TOP, repoTags: [] }, v2s2Manifest, { architecture: 'amd64' }).Created, GO_ZERO_TIME);
  });

  // json.Unmarshal matches keys case-insensitively; skopeo shows these fields.
  it('reads keys as Go does, under case folding, for both config types', () => {
    const config = { Architecture: 'arm', OS: 'plan9', CONFIG: { labels: { a: 'b' }, ENV: ['X=1'] }, Docker_Version: '1.2' };
    for (const m of [ociManifest, v2s2Manifest]) {
      const out = inspectImage({ digest: TOP, repoTags: [] }, m, config);
      assert.deepEqual([out.Architecture, out.Os, out.Labels, out.Env, out.DockerVersion], ['arm', 'plan9', { a: 'b' }, ['X=1'], '1.2']);
    }
  });

  // skopeo 1.9.3 fails these inspects ("parsing time …", "cannot unmarshal …").
  it('fails where containers/image cannot decode the config', () => {
    const bad: Array<Record<string, unknown>> = [
      { created: '2024-01-01t00:00:00z' },
      { created: '' },
      { architecture: 5 },
      { config: { Healthcheck: { Interval: 2 ** 64 } } },
      { config: { Labels: { a: 1 } } },
    ];
    for (const config of bad) {
      for (const m of [ociManifest, v2s2Manifest]) {
        assert.throws(() => inspectImage({ digest: TOP, repoTags: [] }, m, config), { code: 'MANIFEST_INVALID' }, JSON.stringify(config));
      }
    }
    // Schema2Image only (a v2s2 image): its history's `created` is a time value, Cmd a string or a list.
    assert.throws(() => inspectImage({ digest: TOP, repoTags: [] }, v2s2Manifest, { history: [{ created: 'yesterday' }] }), { code: 'MANIFEST_INVALID' });
    assert.equal(inspectImage({ digest: TOP, repoTags: [] }, v2s2Manifest, { config: { Cmd: 'sh -c x', Entrypoint: null } }).Os, '');
  });

  it('lists layers from the manifest in order, with their media types, sizes and annotations', () => {
    const out = inspectImage({ digest: TOP, repoTags: [] }, v2s2Manifest, fullConfig);
    assert.deepEqual(out.Layers, [d('v2-layer')]);
    assert.deepEqual(out.LayersData, [{ MIMEType: MediaType.dockerLayerGzip, Digest: d('v2-layer'), Size: 5, Annotations: null }]);
  });

  it('prints [] for an image without layers', () => {
    const out = inspectImage({ digest: TOP, repoTags: [] }, imageManifest(MediaType.ociManifest, []), fullConfig);
    assert.deepEqual(out.Layers, []);
    assert.deepEqual(out.LayersData, []);
  });

  it('survives a JSON round trip unchanged (no undefined members)', () => {
    const out = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, {});
    assert.deepEqual(JSON.parse(JSON.stringify(out)), out);
  });
});

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

function schema1(history: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Schema1Manifest {
  const doc = {
    schemaVersion: 1,
    name: 'library/x',
    tag: 'latest',
    architecture: 'amd64',
    fsLayers: history.map((_, i) => ({ blobSum: d(`s1-layer-${i}`) })),
    history: history.map((h) => ({ v1Compatibility: JSON.stringify(h) })),
    ...extra,
  };
  const m = parseManifest(Buffer.from(JSON.stringify(doc)), MediaType.dockerSchema1);
  assert.equal(m.kind, 'schema1');
  return m as Schema1Manifest;
}

describe('inspectSchema1', () => {
  const newest = {
    id: C,
    parent: B,
    created: '2016-01-01T00:00:00.500Z',
    docker_version: '1.9.1',
    os: 'linux',
    architecture: 'amd64',
    config: { Env: ['A=1'], Labels: { l: 'v' } },
  };
  const manifest = schema1([newest, { id: B, parent: A }, { id: A }]);

  it('takes Created, DockerVersion, Architecture, Os, Labels and Env from the newest history entry', () => {
    const out = inspectSchema1({ name: 'docker.io/library/x', digest: TOP, repoTags: ['latest'] }, manifest);
    assert.equal(out.Name, 'docker.io/library/x');
    assert.equal(out.Digest, TOP);
    assert.deepEqual(out.RepoTags, ['latest']);
    assert.equal(out.Created, '2016-01-01T00:00:00.5Z');
    assert.equal(out.DockerVersion, '1.9.1');
    assert.equal(out.Architecture, 'amd64');
    assert.equal(out.Os, 'linux');
    assert.deepEqual(out.Labels, { l: 'v' });
    assert.deepEqual(out.Env, ['A=1']);
    assert.equal('Variant' in out, false);
  });

  it('lists layers oldest first with Size -1, no MIMEType and null Annotations', () => {
    const out = inspectSchema1({ digest: TOP, repoTags: [] }, manifest);
    assert.deepEqual(out.Layers, [d('s1-layer-2'), d('s1-layer-1'), d('s1-layer-0')]);
    assert.deepEqual(
      out.LayersData,
      out.Layers.map((digest) => ({ MIMEType: '', Digest: digest, Size: -1, Annotations: null })),
    );
  });

  // manifest.Schema1.LayerInfos "includes empty layers (where m.History.V1Compatibility->ThrowAway)";
  // skopeo 1.9.3 prints a throwaway layer in Layers.
  it('keeps throwaway layers, as containers/image\'s Schema1.LayerInfos does', () => {
    const m = schema1([{ ...newest, throwaway: true }, { id: B, parent: A }, { id: A }]);
    const out = inspectSchema1({ digest: TOP, repoTags: [] }, m);
    assert.deepEqual(out.Layers, [d('s1-layer-2'), d('s1-layer-1'), d('s1-layer-0')]);
    assert.equal(out.LayersData.length, 3);
  });

  it("prints Go's zero time when the newest entry has no created time", () => {
    const out = inspectSchema1({ digest: TOP, repoTags: [] }, schema1([{ id: A }]));
    assert.equal(out.Created, GO_ZERO_TIME);
  });

  it('prints Labels and Env as null without a config, and Variant when the entry has one', () => {
    const out = inspectSchema1({ digest: TOP, repoTags: [] }, schema1([{ id: A, variant: 'v7', architecture: 'arm' }]));
    assert.equal(out.Labels, null);
    assert.equal(out.Env, null);
    assert.equal(out.Variant, 'v7');
    assert.deepEqual(Object.keys(out).slice(-5), ['Os', 'Variant', 'Layers', 'LayersData', 'Env']);
  });

  it('leaves Name out when it is undefined', () => {
    const out = inspectSchema1({ digest: TOP, repoTags: [] }, manifest);
    assert.equal('Name' in out, false);
  });

  // skopeo's inspect output has `Tag string json:",omitempty"` right after Name, filled from
  // the schema1 manifest's tag (ImageInspectInfo.Tag); skopeo 1.9.3 prints "Tag": "latest".
  it('prints the schema1 tag as Tag, after Name', () => {
    const out = inspectSchema1({ name: 'docker.io/library/x', digest: TOP, repoTags: [] }, manifest) as unknown as Record<string, unknown>;
    assert.equal(out['Tag'], 'latest');
    assert.deepEqual(Object.keys(out).slice(0, 3), ['Name', 'Tag', 'Digest']);
  });
});

// skopeo inspect --format executes the template on its inspectOutput struct; these check the
// struct types images/ gives the template library (the library's own specs cover the language).
describe('renderInspectTemplate: skopeo\'s inspect struct', () => {
  const out = inspectImage({ name: 'registry.example/app', digest: TOP, repoTags: ['1.0'] }, ociManifest, fullConfig);

  it('prints the struct in skopeo\'s field order, without Variant', () => {
    assert.equal(
      renderInspectTemplate('{{.}}', out),
      `{registry.example/app  ${TOP} [1.0] 2024-03-04 05:06:07.89 +0000 UTC 24.0.7 map[org.opencontainers.image.title:app] arm64 linux ` +
        `[${d('base')} ${d('app')}] [{${MediaType.ociLayerGzip} ${d('base')} 1234 map[]} {${MediaType.ociLayerZstd} ${d('app')} 99 map[org.example.layer:app]}] [PATH=/bin HOME=/root]}`,
    );
  });

  it('json-encodes it as skopeo does: Name and Tag omitted when empty, no Variant', () => {
    const bare = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { architecture: 'amd64', os: 'linux' });
    assert.equal(
      renderInspectTemplate('{{json .}}', bare),
      `{"Digest":"${TOP}","RepoTags":[],"Created":null,"DockerVersion":"","Labels":null,"Architecture":"amd64","Os":"linux","Layers":["${d('base')}","${d('app')}"],` +
        `"LayersData":[{"MIMEType":"${MediaType.ociLayerGzip}","Digest":"${d('base')}","Size":1234,"Annotations":null},` +
        `{"MIMEType":"${MediaType.ociLayerZstd}","Digest":"${d('app')}","Size":99,"Annotations":{"org.example.layer":"app"}}],"Env":null}`,
    );
  });

  it('reads Variant, the schema1 Tag and the Go types of the fields', () => {
    assert.equal(renderInspectTemplate('{{.Variant}} {{.Digest.Algorithm}} {{printf "%T %T %T" .Created .Labels (index .LayersData 0).Size}}', out), 'v8 sha256 *time.Time map[string]string int64');
    const s1 = inspectSchema1({ name: 'docker.io/library/x', digest: TOP, repoTags: [] }, schema1([{ id: A }]));
    assert.equal(renderInspectTemplate('{{.Tag}}|{{json .Name}}|{{.Created}}', s1), 'latest|"docker.io/library/x"|0001-01-01 00:00:00 +0000 UTC');
  });

  // skopeo 1.9.3 prints `2024-01-01 00:00:00 +2400 +2400` for a config created at
  // 2024-01-01T00:00:00+24:00 (Go's parser takes any two-digit offset).
  it('formats every Created that inspect prints, as skopeo does', () => {
    const created = inspectImage({ digest: TOP, repoTags: [] }, ociManifest, { ...fullConfig, created: '2024-01-01T00:00:00+24:00' });
    assert.equal(created.Created, '2024-01-01T00:00:00+24:00');
    assert.equal(renderInspectTemplate('{{.Created}}', created), '2024-01-01 00:00:00 +2400 +2400');
  });

  it('refuses fields skopeo\'s structs do not have, naming the Go type', () => {
    assert.throws(() => renderInspectTemplate('{{.Foo}}', out), { code: 'INVALID_TEMPLATE', message: /can't evaluate field Foo in type interface \{\}/ });
    assert.throws(() => renderInspectTemplate('{{range .LayersData}}{{.Nope}}{{end}}', out), { message: /can't evaluate field Nope in type types\.ImageInspectLayer/ });
  });
});
