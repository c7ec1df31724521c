import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManifestInvalidError } from './manifest';
import { parseConfigJson, toOciImageConfig } from './oci-config';

const DIFF0 = `sha256:${'1'.repeat(64)}`;
const DIFF1 = `sha256:${'2'.repeat(64)}`;

/** A config as `docker build` writes it (Docker's image.Image with container_config and friends). */
const dockerConfig = {
  architecture: 'amd64',
  config: {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ExposedPorts: { '80/tcp': {} },
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NGINX_VERSION=1.25.3'],
    Cmd: ['nginx', '-g', 'daemon off;'],
    Image: `sha256:${'3'.repeat(64)}`,
    Volumes: null,
    WorkingDir: '',
    Entrypoint: ['/docker-entrypoint.sh'],
    OnBuild: null,
    Labels: { maintainer: 'NGINX Docker Maintainers' },
    StopSignal: 'SIGQUIT',
  },
  container: 'c0ffee',
  container_config: { Hostname: 'c0ffee', Cmd: ['/bin/sh', '-c', '#(nop) ', 'CMD ["nginx" "-g" "daemon off;"]'] },
  created: '2023-11-21T05:21:23.250000000Z',
  docker_version: '20.10.23',
  history: [
    { created: '2023-11-21T05:00:00.1Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
    { created: '2023-11-21T05:00:00.2+00:00', created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
    { created: '2023-11-21T06:21:23+01:00', created_by: 'RUN x', author: 'me', comment: 'buildkit.dockerfile.v0' },
  ],
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [DIFF0, DIFF1] },
};

/**
 * Expectations in this file were checked against skopeo 1.9.3 (`skopeo inspect --config` of a
 * dir: layout holding the config).
 *
 * What `skopeo inspect --config` prints for dockerConfig: the OCI imgspecv1.Image decoded by
 * json.Unmarshal and printed by json.Marshal (struct field order, omitempty, times re-printed).
 */
const expectedForDockerConfig =
  '{"created":"2023-11-21T05:21:23.25Z","architecture":"amd64","os":"linux",' +
  '"config":{"ExposedPorts":{"80/tcp":{}},"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NGINX_VERSION=1.25.3"],' +
  '"Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"],"Labels":{"maintainer":"NGINX Docker Maintainers"},"StopSignal":"SIGQUIT"},' +
  `"rootfs":{"type":"layers","diff_ids":["${DIFF0}","${DIFF1}"]},` +
  '"history":[{"created":"2023-11-21T05:00:00.1Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},' +
  '{"created":"2023-11-21T05:00:00.2Z","created_by":"/bin/sh -c #(nop)  CMD [\\"bash\\"]","empty_layer":true},' +
  '{"created":"2023-11-21T06:21:23+01:00","created_by":"RUN x","author":"me","comment":"buildkit.dockerfile.v0"}]}';

function assertRefused(raw: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(
    () => toOciImageConfig(raw),
    (e: unknown) => {
      assert.ok(e instanceof ManifestInvalidError, `expected ManifestInvalidError, got ${String(e)}`);
      assert.equal(e.code, 'MANIFEST_INVALID');
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('toOciImageConfig (OCIConfig() + json.Marshal)', () => {
  it('converts a Docker config exactly as skopeo prints it (fields, order, times)', () => {
    assert.equal(JSON.stringify(toOciImageConfig(dockerConfig)), expectedForDockerConfig);
  });

  it('is idempotent: converting its own output gives the same document', () => {
    const once = toOciImageConfig(dockerConfig);
    assert.equal(JSON.stringify(toOciImageConfig(JSON.parse(JSON.stringify(once)))), expectedForDockerConfig);
  });

  it('always prints architecture, os, config and rootfs; diff_ids null when absent', () => {
    assert.equal(JSON.stringify(toOciImageConfig({})), '{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}');
    assert.equal(
      JSON.stringify(toOciImageConfig({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers' } })),
      '{"architecture":"arm64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":null}}',
    );
  });

  it('keeps an empty diff_ids list as [] (a non-nil slice is not omitted: no omitempty on rootfs)', () => {
    assert.deepEqual(toOciImageConfig({ rootfs: { type: 'layers', diff_ids: [] } })['rootfs'], { type: 'layers', diff_ids: [] });
  });

  it('treats JSON null like an absent field', () => {
    const out = toOciImageConfig({
      created: null,
      author: null,
      architecture: null,
      os: null,
      config: null,
      rootfs: { type: null, diff_ids: null },
      history: null,
    });
    assert.equal(JSON.stringify(out), '{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}');
  });

  it('drops Docker-only and unknown fields at every level', () => {
    const out = toOciImageConfig({
      ...dockerConfig,
      id: 'x',
      parent: 'y',
      Size: 10,
      config: { ...dockerConfig.config, Healthcheck: { Test: ['CMD', 'true'] }, Shell: ['/bin/bash'] },
      rootfs: { ...dockerConfig.rootfs, base_layer: 'z' },
      history: [{ created_by: 'x', extra: 1 }],
    });
    assert.deepEqual(Object.keys(out), ['created', 'architecture', 'os', 'config', 'rootfs', 'history']);
    assert.deepEqual(Object.keys(out['config'] as object), ['ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Labels', 'StopSignal']);
    assert.deepEqual(Object.keys(out['rootfs'] as object), ['type', 'diff_ids']);
    assert.deepEqual(out['history'], [{ created_by: 'x' }]);
  });

  // skopeo 1.9.3 vendors image-spec 1.1.0-rc2: variant comes right after architecture.
  it('prints the OCI-only fields in struct order: author, variant, os.version, os.features, User, Volumes, WorkingDir, ArgsEscaped', () => {
    const out = toOciImageConfig({
      variant: 'v8',
      'os.features': ['win32k'],
      'os.version': '10.0.17763.1',
      os: 'windows',
      architecture: 'arm64',
      author: 'someone',
      created: '2024-01-01T00:00:00Z',
      config: { ArgsEscaped: true, WorkingDir: '/w', Volumes: { '/data': {}, '/logs': null }, User: '1000:1000' },
    });
    assert.equal(
      JSON.stringify(out),
      '{"created":"2024-01-01T00:00:00Z","author":"someone","architecture":"arm64","variant":"v8","os":"windows","os.version":"10.0.17763.1","os.features":["win32k"],' +
        '"config":{"User":"1000:1000","Volumes":{"/data":{},"/logs":{}},"WorkingDir":"/w","ArgsEscaped":true},"rootfs":{"type":"","diff_ids":null}}',
    );
  });

  it('applies omitempty: empty strings, lists, maps and false are left out', () => {
    const out = toOciImageConfig({
      author: '',
      variant: '',
      'os.version': '',
      'os.features': [],
      config: { User: '', Env: [], Cmd: [], Entrypoint: [], Labels: {}, ExposedPorts: {}, Volumes: {}, WorkingDir: '', StopSignal: '', ArgsEscaped: false },
      history: [],
    });
    assert.equal(JSON.stringify(out), '{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}');
  });

  it('keeps an empty history entry as {} and leaves out empty_layer false', () => {
    assert.deepEqual(toOciImageConfig({ history: [{}, { empty_layer: false, created_by: '' }] })['history'], [{}, {}]);
  });

  it('turns ExposedPorts and Volumes into sets (values become {})', () => {
    const out = toOciImageConfig({ config: { ExposedPorts: { '53/udp': {}, '80/tcp': { ignored: true } }, Volumes: { '/v': null } } });
    assert.deepEqual(out['config'], { ExposedPorts: { '53/udp': {}, '80/tcp': {} }, Volumes: { '/v': {} } });
  });

  it('normalises times as Go prints them (fraction trimmed, Z for +00:00, offsets kept)', () => {
    const out = toOciImageConfig({ created: '2024-05-06T07:08:09.100+00:00', history: [{ created: '2024-05-06T07:08:09.000-07:00' }] });
    assert.equal(out['created'], '2024-05-06T07:08:09.1Z');
    assert.deepEqual(out['history'], [{ created: '2024-05-06T07:08:09-07:00' }]);
  });

  it('matches keys case-insensitively, as json.Unmarshal does', () => {
    const out = toOciImageConfig({
      Architecture: 'arm64',
      OS: 'linux',
      Created: '2024-01-01T00:00:00Z',
      Config: { user: 'nobody', env: ['A=1'], CMD: ['sh'], labels: { a: 'b' }, argsescaped: true },
      RootFS: { Type: 'layers', DIFF_IDS: [DIFF0] },
      History: [{ Created_By: 'x', EMPTY_LAYER: true }],
      'OS.Version': '1',
    });
    assert.equal(
      JSON.stringify(out),
      '{"created":"2024-01-01T00:00:00Z","architecture":"arm64","os":"linux","os.version":"1",' +
        `"config":{"User":"nobody","Env":["A=1"],"Cmd":["sh"],"Labels":{"a":"b"},"ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":["${DIFF0}"]},` +
        '"history":[{"created_by":"x","empty_layer":true}]}',
    );
  });

  it('uses the exact key when it comes after a case-folded one', () => {
    assert.equal(toOciImageConfig({ ARCHITECTURE: 'arm', architecture: 'amd64' })['architecture'], 'amd64');
    assert.deepEqual(toOciImageConfig({ config: { user: 'a', User: 'b' } })['config'], { User: 'b' });
  });

  // json.Unmarshal assigns every matching key in document order, so the last one wins, even
  // when an earlier key matched exactly.
  it('lets a later case-folded key override an earlier exact one (last key wins, as json.Unmarshal)', () => {
    assert.equal(toOciImageConfig({ architecture: 'amd64', Architecture: 'arm64' })['architecture'], 'arm64');
  });

  // Go's encoding/json prints map keys sorted.
  it('prints Labels, ExposedPorts and Volumes with sorted keys, as json.Marshal does', () => {
    const out = toOciImageConfig({ config: { Labels: { zeta: '1', alpha: '2' }, ExposedPorts: { '9000/tcp': {}, '443/tcp': {} } } });
    assert.equal(JSON.stringify(out['config']), '{"ExposedPorts":{"443/tcp":{},"9000/tcp":{}},"Labels":{"alpha":"2","zeta":"1"}}');
  });
});

describe('toOciImageConfig: values json.Unmarshal refuses', () => {
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['architecture as a number', { architecture: 64 }, /^image config: architecture must be a string$/],
    ['os as a list', { os: ['linux'] }, /^image config: os must be a string$/],
    ['created as a number', { created: 1700000000 }, /^image config: created must be a string$/],
    ['created not RFC 3339', { created: 'yesterday' }, /^image config: created is not an RFC 3339 time: "yesterday"$/],
    ['created empty', { created: '' }, /created is not an RFC 3339 time/],
    ['os.features of numbers', { 'os.features': [1] }, /^image config: os\.features must be a list of strings$/],
    ['config as a string', { config: 'x' }, /^image config: config must be an object$/],
    ['config as a list', { config: [] }, /^image config: config must be an object$/],
    ['config.User as a number', { config: { User: 0 } }, /^image config: config\.User must be a string$/],
    ['config.Env as a string', { config: { Env: 'A=1' } }, /^image config: config\.Env must be a list of strings$/],
    ['config.Cmd with a number', { config: { Cmd: ['sh', 1] } }, /^image config: config\.Cmd must be a list of strings$/],
    ['config.Labels with a number', { config: { Labels: { a: 1 } } }, /^image config: config\.Labels must be a map of strings$/],
    ['config.ExposedPorts as a list', { config: { ExposedPorts: ['80/tcp'] } }, /^image config: config\.ExposedPorts must be an object$/],
    ['config.Volumes as a string', { config: { Volumes: '/data' } }, /^image config: config\.Volumes must be an object$/],
    ['rootfs.diff_ids as a string', { rootfs: { diff_ids: DIFF0 } }, /^image config: rootfs\.diff_ids must be a list of strings$/],
    ['rootfs.type as a number', { rootfs: { type: 1 } }, /^image config: rootfs\.type must be a string$/],
    ['a history entry that is a string', { history: ['x'] }, /^image config: history\[0\] must be an object$/],
    ['history[1].created invalid', { history: [{}, { created: 'x' }] }, /^image config: history\[1\]\.created is not an RFC 3339 time/],
    ['history[0].created_by as a list', { history: [{ created_by: ['x'] }] }, /^image config: history\[0\]\.created_by must be a string$/],
  ];
  for (const [what, raw, pattern] of refused) {
    it(`refuses ${what}`, () => assertRefused(raw, pattern));
  }

  // Go's json.Unmarshal (and so skopeo 1.9.3's `inspect --config`) fails on these; so do we.
  const wronglyTyped: Array<[string, Record<string, unknown>]> = [
    ['rootfs as a string', { rootfs: 'layers' }],
    ['history as an object', { history: { created_by: 'x' } }],
    ['config.ArgsEscaped as a string', { config: { ArgsEscaped: 'true' } }],
    ['history[0].empty_layer as a number', { history: [{ empty_layer: 1 }] }],
    ['an ExposedPorts value that is a string', { config: { ExposedPorts: { '80/tcp': 'yes' } } }],
  ];
  it('refuses wrongly-typed rootfs, history, ArgsEscaped, empty_layer and set values (json.Unmarshal type errors)', () => {
    for (const [what, raw] of wronglyTyped) assert.throws(() => toOciImageConfig(raw), ManifestInvalidError, what);
  });

  // json.Unmarshal decodes null into a zero value: "" for a string element, {} for a struct.
  it('accepts null elements as Go zero values (Labels value, Env element, history entry)', () => {
    const out = toOciImageConfig({ config: { Labels: { a: null }, Env: ['A', null] }, history: [null] });
    assert.equal(
      JSON.stringify(out),
      '{"architecture":"","os":"","config":{"Env":["A",""],"Labels":{"a":""}},"rootfs":{"type":"","diff_ids":null},"history":[{}]}',
    );
  });
});

describe('parseConfigJson', () => {
  it('parses a JSON object', () => {
    assert.deepEqual(parseConfigJson(Buffer.from('{"os":"linux"}')), { os: 'linux' });
  });

  it('refuses non-JSON and non-objects', () => {
    assert.throws(() => parseConfigJson(Buffer.from('{')), (e: Error) => e instanceof ManifestInvalidError && /^image config is not valid JSON/.test(e.message));
    for (const text of ['[]', 'null', '"x"', '1']) {
      assert.throws(() => parseConfigJson(Buffer.from(text)), (e: Error) => e instanceof ManifestInvalidError && e.message === 'image config is not a JSON object', text);
    }
  });
});
