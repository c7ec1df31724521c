import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, isLoopbackHost, loadConfig, parseRegistriesConfig } from './app-config';

const work = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-config-')));
const TOKEN = 'a-sixteen-char-t';
const TOKEN2 = 'another-long-token-0123456789';

function write(rel: string, text: string): string {
  const p = join(work, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

function assertConfigError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('loadConfig defaults', () => {
  it('listens on 127.0.0.1:8080 with ./data and dataDir/images, resolved against cwd', () => {
    const c = loadConfig({}, '/srv/skiff');
    // Only the settings this spec covers; settings added later have their own defaults.
    const picked = {
      host: c.host,
      port: c.port,
      dataDir: c.dataDir,
      storageRoot: c.storageRoot,
      apiTokens: c.apiTokens,
      allowInsecureBind: c.allowInsecureBind,
      logLevel: c.logLevel,
      registries: c.registries,
      externalAuthFile: c.externalAuthFile,
      upstream: c.upstream,
      dockerHost: c.dockerHost,
      containerHost: c.containerHost,
    };
    assert.deepEqual(picked, {
      host: '127.0.0.1',
      port: 8080,
      dataDir: '/srv/skiff/data',
      storageRoot: '/srv/skiff/data/images',
      apiTokens: [],
      allowInsecureBind: false,
      logLevel: 'info',
      registries: [],
      externalAuthFile: undefined,
      upstream: { retryTimes: 3, connectTimeoutMs: 5_000, firstByteTimeoutMs: 15_000, minBytesPerSecond: 262_144, throughputWindowSeconds: 30, callTimeoutMs: 30_000, tagsPageSize: undefined },
      dockerHost: 'unix:///var/run/docker.sock',
      containerHost: 'unix:///run/podman/podman.sock',
    });
  });

  it('treats empty variables as unset', () => {
    const c = loadConfig({ SKIFF_HOST: '', SKIFF_PORT: '', SKIFF_DATA_DIR: '', SKIFF_LOG_LEVEL: '', SKIFF_API_TOKENS: '' }, '/srv');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8080);
    assert.equal(c.dataDir, '/srv/data');
    assert.equal(c.logLevel, 'info');
  });

  it('does not read process.env when an env object is given', () => {
    const saved = process.env['SKIFF_PORT'];
    process.env['SKIFF_PORT'] = '9999';
    try {
      assert.equal(loadConfig({}, '/srv').port, 8080);
    } finally {
      if (saved === undefined) delete process.env['SKIFF_PORT'];
      else process.env['SKIFF_PORT'] = saved;
    }
  });
});

describe('loadConfig from the environment', () => {
  it('resolves relative data, storage and auth-file paths against cwd; the storage root follows the data dir', () => {
    const c = loadConfig({ SKIFF_DATA_DIR: 'var/skiff', REGISTRY_AUTH_FILE: 'auth.json' }, '/srv');
    assert.equal(c.dataDir, '/srv/var/skiff');
    assert.equal(c.storageRoot, '/srv/var/skiff/images');
    assert.equal(c.externalAuthFile, '/srv/auth.json');
    assert.equal(loadConfig({ SKIFF_DATA_DIR: '/abs/data' }, '/srv').storageRoot, '/abs/data/images');
    assert.equal(loadConfig({ SKIFF_STORAGE_ROOT: 'store' }, '/srv').storageRoot, '/srv/store');
    assert.equal(loadConfig({ SKIFF_STORAGE_ROOT: '/mnt/images' }, '/srv').storageRoot, '/mnt/images');
  });

  it('reads port, log level, upstream settings and daemon hosts', () => {
    const c = loadConfig(
      {
        SKIFF_PORT: '0',
        SKIFF_LOG_LEVEL: 'debug',
        SKIFF_UPSTREAM_RETRIES: '0',
        SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS: '100',
        SKIFF_UPSTREAM_TIMEOUT_MS: '3600000',
        SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '2500',
        SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND: '1024',
        SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS: '5',
        SKIFF_TAGS_PAGE_SIZE: '50',
        DOCKER_HOST: 'unix:///tmp/docker.sock',
        CONTAINER_HOST: 'unix:///tmp/podman.sock',
      },
      '/srv',
    );
    assert.equal(c.port, 0);
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.upstream, { retryTimes: 0, connectTimeoutMs: 100, firstByteTimeoutMs: 2500, minBytesPerSecond: 1024, throughputWindowSeconds: 5, callTimeoutMs: 3_600_000, tagsPageSize: 50 });
    assert.equal(c.dockerHost, 'unix:///tmp/docker.sock');
    assert.equal(c.containerHost, 'unix:///tmp/podman.sock');
    assert.equal(loadConfig({ SKIFF_PORT: '65535' }, '/srv').port, 65535);
  });

  const invalid: Array<[Record<string, string>, RegExp]> = [
    [{ SKIFF_PORT: 'http' }, /^SKIFF_PORT must be an integer, got "http"$/],
    [{ SKIFF_PORT: '-1' }, /^SKIFF_PORT must be an integer, got "-1"$/],
    [{ SKIFF_PORT: '80.5' }, /^SKIFF_PORT must be an integer/],
    [{ SKIFF_PORT: '65536' }, /^SKIFF_PORT must be between 0 and 65535, got 65536$/],
    [{ SKIFF_PORT: ' 80' }, /^SKIFF_PORT must be an integer/],
    [{ SKIFF_HOST: 'bad host' }, /^SKIFF_HOST is not a valid host: "bad host"$/],
    [{ SKIFF_HOST: 'http://127.0.0.1' }, /^SKIFF_HOST is not a valid host/],
    [{ SKIFF_LOG_LEVEL: 'verbose' }, /^SKIFF_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"$/],
    [{ SKIFF_LOG_LEVEL: 'INFO' }, /^SKIFF_LOG_LEVEL must be one of/],
    [{ SKIFF_ALLOW_INSECURE_BIND: 'maybe' }, /^SKIFF_ALLOW_INSECURE_BIND must be true or false, got "maybe"$/],
    [{ SKIFF_UPSTREAM_RETRIES: '11' }, /^SKIFF_UPSTREAM_RETRIES must be between 0 and 10, got 11$/],
    [{ SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS: '99' }, /^SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS must be between 100 and 600000/],
    [{ SKIFF_UPSTREAM_TIMEOUT_MS: '1s' }, /^SKIFF_UPSTREAM_TIMEOUT_MS must be an integer/],
    [{ SKIFF_UPSTREAM_TIMEOUT_MS: '3600001' }, /^SKIFF_UPSTREAM_TIMEOUT_MS must be between 100 and 3600000/],
    [{ SKIFF_TAGS_PAGE_SIZE: '0' }, /^SKIFF_TAGS_PAGE_SIZE must be between 1 and 10000, got 0$/],
    [{ SKIFF_TAGS_PAGE_SIZE: '10001' }, /^SKIFF_TAGS_PAGE_SIZE must be between 1 and 10000/],
    [{ SKIFF_API_TOKENS: 'short' }, /^SKIFF_API_TOKENS: every token must be at least 16 characters long$/],
    [{ SKIFF_API_TOKENS: `${TOKEN},fifteen-chars-x` }, /^SKIFF_API_TOKENS: every token must be at least 16 characters long$/],
    [{ SKIFF_API_TOKENS: 'sixteen-chars-é-xx' }, /^SKIFF_API_TOKENS: tokens must be printable ASCII without spaces$/],
    [{ SKIFF_API_TOKENS: 'sixteen chars with space' }, /^SKIFF_API_TOKENS: tokens must be printable ASCII/],
  ];
  for (const [env, pattern] of invalid) {
    it(`refuses ${JSON.stringify(env)}, naming the variable`, () => assertConfigError(() => loadConfig(env, '/srv'), pattern));
  }

  it('never echoes a rejected token', () => {
    const secret = 'too-short-secret';
    for (const tokens of [secret.slice(0, 12), 'sixteen-chars-é-secret']) {
      assert.throws(
        () => loadConfig({ SKIFF_API_TOKENS: tokens }, '/srv'),
        (e: Error) => !e.message.includes(tokens) && !e.message.includes('secret'),
      );
    }
  });

  it('accepts booleans in several spellings', () => {
    for (const v of ['1', 'true', 'TRUE', 'yes', 'on']) assert.equal(loadConfig({ SKIFF_ALLOW_INSECURE_BIND: v }, '/srv').allowInsecureBind, true, v);
    for (const v of ['0', 'false', 'No', 'off']) assert.equal(loadConfig({ SKIFF_ALLOW_INSECURE_BIND: v }, '/srv').allowInsecureBind, false, v);
  });

  it('splits tokens on commas, trimming blanks and dropping empty entries; tokens of exactly 16 characters pass', () => {
    assert.equal(TOKEN.length, 16);
    assert.deepEqual(loadConfig({ SKIFF_API_TOKENS: ` ${TOKEN} ,, ${TOKEN2},` }, '/srv').apiTokens, [TOKEN, TOKEN2]);
  });
});

describe('loadConfig: binding beyond loopback', () => {
  for (const host of ['127.0.0.1', '127.10.20.30', 'localhost', 'LOCALHOST', '::1', '[::1]']) {
    it(`allows ${host} without tokens`, () => assert.equal(loadConfig({ SKIFF_HOST: host }, '/srv').host, host));
  }

  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'skiff.example', 'localhost.example', '127.0.0.1.example']) {
    it(`refuses ${host} without tokens, naming SKIFF_API_TOKENS and SKIFF_ALLOW_INSECURE_BIND`, () => {
      assertConfigError(
        () => loadConfig({ SKIFF_HOST: host }, '/srv'),
        new RegExp(`^refusing to listen on non-loopback address ${host.replace(/\./g, '\\.')} without SKIFF_API_TOKENS;.*SKIFF_ALLOW_INSECURE_BIND=true`),
      );
    });
  }

  it('allows a non-loopback host with tokens', () => {
    const c = loadConfig({ SKIFF_HOST: '0.0.0.0', SKIFF_API_TOKENS: TOKEN }, '/srv');
    assert.equal(c.host, '0.0.0.0');
    assert.deepEqual(c.apiTokens, [TOKEN]);
  });

  it('allows a non-loopback host without tokens only with SKIFF_ALLOW_INSECURE_BIND=true', () => {
    const c = loadConfig({ SKIFF_HOST: '::', SKIFF_ALLOW_INSECURE_BIND: 'true' }, '/srv');
    assert.equal(c.allowInsecureBind, true);
    assertConfigError(() => loadConfig({ SKIFF_HOST: '::', SKIFF_ALLOW_INSECURE_BIND: 'false' }, '/srv'), /refusing to listen/);
  });

  it('does not count whitespace-only token lists as tokens', () => {
    assertConfigError(() => loadConfig({ SKIFF_HOST: '0.0.0.0', SKIFF_API_TOKENS: ' , ' }, '/srv'), /refusing to listen/);
  });
});

describe('isLoopbackHost', () => {
  it('recognises 127.0.0.0/8, ::1 and localhost only', () => {
    for (const h of ['127.0.0.1', '127.255.255.254', 'localhost', 'Localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '', '128.0.0.1', '127.0.0', '10.127.0.0.1', 'localhost.', 'my-localhost', '::2']) assert.equal(isLoopbackHost(h), false, h);
  });
});

describe('parseRegistriesConfig', () => {
  const base = join(work, 'reg');
  mkdirSync(base, { recursive: true });
  writeFileSync(join(base, 'ca.pem'), 'CA');
  writeFileSync(join(base, 'client.crt'), 'CRT');
  writeFileSync(join(base, 'client.key'), 'KEY');

  it('returns [] without a "registries" key', () => {
    assert.deepEqual(parseRegistriesConfig({}, base), []);
  });

  it('parses entries, lower-casing locations and resolving relative files against the base dir', () => {
    const out = parseRegistriesConfig(
      {
        registries: [
          { location: 'Registry.Example:5000', insecure: true },
          { location: 'secure.example', ca: 'ca.pem', clientCert: './client.crt', clientKey: join(base, 'client.key') },
          { location: '[::1]:5000', insecure: false },
        ],
      },
      base,
    );
    assert.deepEqual(out, [
      { location: 'registry.example:5000', insecure: true, caFile: undefined, clientCertFile: undefined, clientKeyFile: undefined },
      { location: 'secure.example', insecure: false, caFile: join(base, 'ca.pem'), clientCertFile: join(base, 'client.crt'), clientKeyFile: join(base, 'client.key') },
      { location: '[::1]:5000', insecure: false, caFile: undefined, clientCertFile: undefined, clientKeyFile: undefined },
    ]);
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ['a non-list', { registries: { location: 'x' } }, /^registries config: "registries" must be a list$/],
    ['a non-mapping entry', { registries: ['x'] }, /^registries config: entry 0 must be a mapping$/],
    ['a null entry', { registries: [null] }, /^registries config: entry 0 must be a mapping$/],
    ['an unknown key', { registries: [{ location: 'x', tls: false }] }, /^registries config: entry 0: unknown key "tls"$/],
    ['a missing location', { registries: [{ insecure: true }] }, /^registries config: entry 0: "location" must be host\[:port\], got undefined$/],
    ['a URL as location', { registries: [{ location: 'https://x.example' }] }, /"location" must be host\[:port\], got "https:\/\/x\.example"/],
    ['a location with a path', { registries: [{ location: 'x.example/ns' }] }, /"location" must be host\[:port\]/],
    ['an empty location', { registries: [{ location: '' }] }, /"location" must be host\[:port\]/],
    ['a duplicate location', { registries: [{ location: 'a.example' }, { location: 'a.example', insecure: true }] }, /^registries config: entry 1: duplicate location "a\.example"$/],
    ['mirrors', { registries: [{ location: 'a.example', mirrors: [{ location: 'b.example' }] }] }, /^registries config: entry 0: "mirrors" are not supported yet$/],
    ['a string "insecure"', { registries: [{ location: 'a.example', insecure: 'true' }] }, /^registries config: entry 0: "insecure" must be true or false$/],
    ['an empty ca path', { registries: [{ location: 'a.example', ca: '' }] }, /^registries config: entry 0: "ca" must be a file path$/],
    ['a non-string ca', { registries: [{ location: 'a.example', ca: 1 }] }, /"ca" must be a file path/],
    ['a missing ca file', { registries: [{ location: 'a.example', ca: 'missing.pem' }] }, /^registries config: entry 0: cannot read ca file .*\/reg\/missing\.pem: /],
    ['a clientCert without clientKey', { registries: [{ location: 'a.example', clientCert: 'client.crt' }] }, /^registries config: entry 0: "clientCert" and "clientKey" go together$/],
    ['a clientKey without clientCert', { registries: [{ location: 'a.example', clientKey: 'client.key' }] }, /"clientCert" and "clientKey" go together/],
  ];
  for (const [what, doc, pattern] of refused) {
    it(`refuses ${what}`, () => assertConfigError(() => parseRegistriesConfig(doc as Record<string, unknown>, base), pattern));
  }

  it('refuses locations that differ only in case as duplicates (they are stored lower-cased)', () => {
    assertConfigError(
      () => parseRegistriesConfig({ registries: [{ location: 'reg.example' }, { location: 'REG.example', insecure: true }] }, base),
      /duplicate location/,
    );
  });
});

describe('loadConfig: SKIFF_REGISTRIES_CONFIG', () => {
  it('reads the file and resolves CA paths against the directory of the file, not cwd', () => {
    write('etc/skiff/certs/ca.pem', 'CA');
    write('etc/skiff/registries.yaml', 'registries:\n  - location: reg.example:5000\n    ca: certs/ca.pem\n  - location: plain.example\n    insecure: true\n');
    const c = loadConfig({ SKIFF_REGISTRIES_CONFIG: 'etc/skiff/registries.yaml' }, work);
    assert.deepEqual(c.registries, [
      { location: 'reg.example:5000', insecure: false, caFile: join(work, 'etc/skiff/certs/ca.pem'), clientCertFile: undefined, clientKeyFile: undefined },
      { location: 'plain.example', insecure: true, caFile: undefined, clientCertFile: undefined, clientKeyFile: undefined },
    ]);
  });

  it('accepts JSON and an empty file', () => {
    write('reg.json', JSON.stringify({ registries: [{ location: 'j.example' }] }));
    assert.equal(loadConfig({ SKIFF_REGISTRIES_CONFIG: join(work, 'reg.json') }, '/').registries[0]!.location, 'j.example');
    write('empty.yaml', '');
    assert.deepEqual(loadConfig({ SKIFF_REGISTRIES_CONFIG: 'empty.yaml' }, work).registries, []);
  });

  it('names the variable when the file is missing, not YAML, or not a mapping', () => {
    assertConfigError(() => loadConfig({ SKIFF_REGISTRIES_CONFIG: 'nope.yaml' }, work), /^cannot read SKIFF_REGISTRIES_CONFIG file .*nope\.yaml/);
    write('bad.yaml', 'registries: [\n');
    assertConfigError(() => loadConfig({ SKIFF_REGISTRIES_CONFIG: 'bad.yaml' }, work), /^SKIFF_REGISTRIES_CONFIG file .*bad\.yaml is not valid YAML\/JSON/);
    write('list.yaml', '- location: x\n');
    assertConfigError(() => loadConfig({ SKIFF_REGISTRIES_CONFIG: 'list.yaml' }, work), /^SKIFF_REGISTRIES_CONFIG file .*list\.yaml must be a mapping$/);
  });
});

describe('loadConfig: SKIFF_CONFIG file', () => {
  const yaml = [
    'host: 0.0.0.0',
    'port: 9000',
    `apiTokens: "${TOKEN},${TOKEN2}"`,
    'dataDir: /var/lib/skiff',
    'logLevel: warn',
    'allowInsecureBind: false',
    'upstreamRetries: 5',
    'tagsPageSize: 100',
    'dockerHost: unix:///tmp/d.sock',
    '',
  ].join('\n');

  it('reads camelCase keys from the YAML file', () => {
    write('conf/skiff.yaml', yaml);
    const c = loadConfig({ SKIFF_CONFIG: 'conf/skiff.yaml' }, work);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 9000);
    assert.deepEqual(c.apiTokens, [TOKEN, TOKEN2]);
    assert.equal(c.dataDir, '/var/lib/skiff');
    assert.equal(c.storageRoot, '/var/lib/skiff/images');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.allowInsecureBind, false);
    assert.equal(c.upstream.retryTimes, 5);
    assert.equal(c.upstream.tagsPageSize, 100);
    assert.equal(c.dockerHost, 'unix:///tmp/d.sock');
  });

  it('lets the environment override the file', () => {
    write('conf/skiff.yaml', yaml);
    const c = loadConfig({ SKIFF_CONFIG: 'conf/skiff.yaml', SKIFF_PORT: '9100', SKIFF_HOST: '127.0.0.1', SKIFF_LOG_LEVEL: 'error' }, work);
    assert.equal(c.port, 9100);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.logLevel, 'error');
    assert.deepEqual(c.apiTokens, [TOKEN, TOKEN2]);
  });

  it('falls back to the file when the variable is empty', () => {
    write('conf/skiff.yaml', yaml);
    assert.equal(loadConfig({ SKIFF_CONFIG: 'conf/skiff.yaml', SKIFF_PORT: '' }, work).port, 9000);
  });

  it('validates values from the file like variables', () => {
    write('conf/bad-port.yaml', 'port: 70000\n');
    assertConfigError(() => loadConfig({ SKIFF_CONFIG: 'conf/bad-port.yaml' }, work), /^SKIFF_PORT must be between 0 and 65535, got 70000$/);
    write('conf/open.yaml', 'host: 0.0.0.0\n');
    assertConfigError(() => loadConfig({ SKIFF_CONFIG: 'conf/open.yaml' }, work), /refusing to listen on non-loopback address 0\.0\.0\.0/);
    write('conf/open-ok.yaml', 'host: 0.0.0.0\nallowInsecureBind: true\n');
    assert.equal(loadConfig({ SKIFF_CONFIG: 'conf/open-ok.yaml' }, work).allowInsecureBind, true);
  });

  it('refuses a non-scalar value for a key', () => {
    write('conf/list-tokens.yaml', `apiTokens:\n  - ${TOKEN}\n`);
    assertConfigError(() => loadConfig({ SKIFF_CONFIG: 'conf/list-tokens.yaml' }, work), /^config file key "apiTokens" must be a scalar$/);
  });

  it('names SKIFF_CONFIG when the file is missing, not YAML, or not a mapping; an empty file is fine', () => {
    assertConfigError(() => loadConfig({ SKIFF_CONFIG: 'conf/missing.yaml' }, work), /^cannot read SKIFF_CONFIG file .*missing\.yaml/);
    write('conf/broken.yaml', 'port: [1,\n');
    assertConfigError(() => loadConfig({ SKIFF_CONFIG: 'conf/broken.yaml' }, work), /^SKIFF_CONFIG file .*broken\.yaml is not valid YAML\/JSON/);
    write('conf/scalar.yaml', '42\n');
    assertConfigError(() => loadConfig({ SKIFF_CONFIG: 'conf/scalar.yaml' }, work), /^SKIFF_CONFIG file .*scalar\.yaml must be a mapping$/);
    write('conf/empty.yaml', '# nothing\n');
    assert.equal(loadConfig({ SKIFF_CONFIG: 'conf/empty.yaml' }, work).port, 8080);
  });

  it('reads the registries file named in the config file', () => {
    write('conf2/ca.pem', 'CA');
    write('conf2/registries.yaml', 'registries:\n  - location: r.example\n    ca: ca.pem\n');
    write('conf2/skiff.yaml', `registriesConfig: ${join(work, 'conf2/registries.yaml')}\n`);
    const c = loadConfig({ SKIFF_CONFIG: 'conf2/skiff.yaml' }, work);
    assert.equal(c.registries[0]!.caFile, join(work, 'conf2/ca.pem'));
  });
});

describe('loadConfig: local storage', () => {
  it('defaults to a 128 MiB readiness floor and a 30 s storage lease', () => {
    assert.deepEqual(loadConfig({}, '/srv').storage, { minFreeBytes: 128 * 1024 * 1024, leaseSeconds: 30 });
  });

  it('reads SKIFF_MIN_FREE_BYTES (0 disables the floor) and SKIFF_STORAGE_LEASE_SECONDS, or their file keys', () => {
    assert.deepEqual(loadConfig({ SKIFF_MIN_FREE_BYTES: '0', SKIFF_STORAGE_LEASE_SECONDS: '2' }, '/srv').storage, { minFreeBytes: 0, leaseSeconds: 2 });
    const file = write('storage.yaml', 'minFreeBytes: 1048576\nstorageLeaseSeconds: 90\n');
    assert.deepEqual(loadConfig({ SKIFF_CONFIG: file }, '/srv').storage, { minFreeBytes: 1048576, leaseSeconds: 90 });
  });

  for (const [env, pattern] of [
    [{ SKIFF_MIN_FREE_BYTES: '1GB' }, /SKIFF_MIN_FREE_BYTES must be an integer/],
    [{ SKIFF_MIN_FREE_BYTES: '-1' }, /SKIFF_MIN_FREE_BYTES must be an integer/],
    [{ SKIFF_STORAGE_LEASE_SECONDS: '0' }, /SKIFF_STORAGE_LEASE_SECONDS must be between 1 and 3600/],
    [{ SKIFF_STORAGE_LEASE_SECONDS: '3601' }, /SKIFF_STORAGE_LEASE_SECONDS must be between 1 and 3600/],
  ] as const) {
    it(`refuses ${JSON.stringify(env)}, naming the variable`, () => assertConfigError(() => loadConfig(env, '/srv'), pattern));
  }
});

describe('loadConfig: shared-service settings', () => {
  const digest = 'ab'.repeat(32);

  it('defaults: no principals, every transport but the two daemons, metrics behind tokens, generous limits, audit on stdout', () => {
    const s = loadConfig({}, '/srv').security;
    assert.deepEqual(s, {
      principals: [],
      transports: ['dir', 'docker', 'docker-archive', 'oci', 'oci-archive'],
      metricsPublic: false,
      rateLimitPerMinute: 1200,
      archiveInspectConcurrency: 4,
      corsOrigins: [],
      allowedHosts: [],
      auditLog: { kind: 'stdout' },
      authFailuresPerMinute: 30,
      authFailuresExemptLoopback: false,
      trustedProxies: [],
    });
  });

  it('reads the principals file (YAML or JSON), lower-casing digests', () => {
    write('principals.yaml', `principals:\n  - name: team-a\n    tokenSha256: ${digest.toUpperCase()}\n    scopes: [images:read, images:write]\n    sources: ["docker://registry.internal/team-a/**"]\n    destinations: []\n`);
    write('principals.json', JSON.stringify({ principals: [{ name: 'ci', tokenSha256: digest, scopes: ['daemons'] }] }));
    assert.deepEqual(loadConfig({ SKIFF_PRINCIPALS_FILE: 'principals.yaml' }, work).security.principals, [
      { name: 'team-a', tokenSha256: digest, scopes: ['images:read', 'images:write'], sources: ['docker://registry.internal/team-a/**'], destinations: [] },
    ]);
    assert.deepEqual(loadConfig({ SKIFF_PRINCIPALS_FILE: 'principals.json' }, work).security.principals, [{ name: 'ci', tokenSha256: digest, scopes: ['daemons'] }]);
  });

  it('allows a non-loopback host with a principals file instead of tokens', () => {
    write('one.yaml', `principals:\n  - {name: a, tokenSha256: "${digest}", scopes: []}\n`);
    assert.equal(loadConfig({ SKIFF_HOST: '0.0.0.0', SKIFF_PRINCIPALS_FILE: 'one.yaml' }, work).host, '0.0.0.0');
  });

  for (const [what, text, pattern] of [
    ['a raw token instead of its digest', `principals:\n  - {name: a, tokenSha256: my-secret-token-1234, scopes: []}\n`, /tokenSha256.*64 hex/],
    ['an unknown scope', `principals:\n  - {name: a, tokenSha256: "${digest}", scopes: [images:everything]}\n`, /"scopes" must be a list of/],
    ['a duplicate name', `principals:\n  - {name: a, tokenSha256: "${digest}"}\n  - {name: a, tokenSha256: "${'cd'.repeat(32)}"}\n`, /duplicate name/],
    ['a shared digest', `principals:\n  - {name: a, tokenSha256: "${digest}"}\n  - {name: b, tokenSha256: "${digest}"}\n`, /same tokenSha256/],
    ['a reserved name', `principals:\n  - {name: token-1, tokenSha256: "${digest}"}\n`, /reserved/],
    ['an unknown key', `principals:\n  - {name: a, tokenSha256: "${digest}", token: x}\n`, /unknown key "token"/],
    ['a pattern without a transport', `principals:\n  - {name: a, tokenSha256: "${digest}", sources: ["registry.internal/**"]}\n`, /must start with a transport/],
    ['a path pattern leaving the storage root', `principals:\n  - {name: a, tokenSha256: "${digest}", destinations: ["oci:team-a/../../x"]}\n`, /must not contain "\.\."/],
  ] as const) {
    it(`refuses a principals file with ${what}, naming the variable`, () => {
      write('bad-principals.yaml', text);
      assertConfigError(() => loadConfig({ SKIFF_PRINCIPALS_FILE: 'bad-principals.yaml' }, work), new RegExp(`SKIFF_PRINCIPALS_FILE .*${pattern.source}`));
    });
  }

  it('reads transports, CORS origins, allowed hosts, limits and the audit target', () => {
    const s = loadConfig(
      {
        SKIFF_TRANSPORTS: 'docker, docker-daemon,docker',
        SKIFF_CORS_ORIGINS: 'https://portal.example, http://localhost:3000',
        SKIFF_ALLOWED_HOSTS: 'Skiff.Internal',
        SKIFF_METRICS_PUBLIC: 'true',
        SKIFF_RATE_LIMIT_PER_MINUTE: '0',
        SKIFF_ARCHIVE_INSPECT_CONCURRENCY: '1',
        SKIFF_AUDIT_LOG: 'logs/audit.log',
        SKIFF_AUTH_FAILURES_PER_MINUTE: '0',
        SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK: 'true',
        SKIFF_TRUSTED_PROXIES: ' 10.0.0.0/8, FD00::/8 ',
      },
      '/srv',
    ).security;
    assert.deepEqual(s.trustedProxies, ['10.0.0.0/8', 'fd00::/8']);
    assert.throws(() => loadConfig({ SKIFF_TRUSTED_PROXIES: '10.0.0.1/8' }, '/srv'), /SKIFF_TRUSTED_PROXIES: "10.0.0.1\/8" is not a CIDR/);
    assert.equal(s.authFailuresPerMinute, 0);
    assert.equal(s.authFailuresExemptLoopback, true);
    assert.deepEqual(s.transports, ['docker', 'docker-daemon']);
    assert.deepEqual(s.corsOrigins, ['https://portal.example', 'http://localhost:3000']);
    assert.deepEqual(s.allowedHosts, ['skiff.internal']);
    assert.equal(s.metricsPublic, true);
    assert.equal(s.rateLimitPerMinute, 0);
    assert.equal(s.archiveInspectConcurrency, 1);
    assert.deepEqual(s.auditLog, { kind: 'file', path: '/srv/logs/audit.log' });
    assert.deepEqual(loadConfig({ SKIFF_AUDIT_LOG: 'off' }, '/srv').security.auditLog, { kind: 'off' });
  });

  for (const [env, pattern] of [
    [{ SKIFF_TRANSPORTS: 'docker,ftp' }, /SKIFF_TRANSPORTS: unknown transport "ftp"/],
    [{ SKIFF_CORS_ORIGINS: 'https://portal.example/app' }, /SKIFF_CORS_ORIGINS: "https:\/\/portal.example\/app" is not an origin/],
    [{ SKIFF_CORS_ORIGINS: '*' }, /SKIFF_CORS_ORIGINS/],
    [{ SKIFF_ALLOWED_HOSTS: 'skiff.internal:8080' }, /SKIFF_ALLOWED_HOSTS/],
    [{ SKIFF_RATE_LIMIT_PER_MINUTE: 'lots' }, /SKIFF_RATE_LIMIT_PER_MINUTE must be an integer/],
    [{ SKIFF_AUTH_FAILURES_PER_MINUTE: '2000000' }, /SKIFF_AUTH_FAILURES_PER_MINUTE must be between 0/],
    [{ SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK: 'maybe' }, /SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK/],
    [{ SKIFF_ARCHIVE_INSPECT_CONCURRENCY: '0' }, /SKIFF_ARCHIVE_INSPECT_CONCURRENCY must be between 1/],
    [{ SKIFF_PRINCIPALS_FILE: '/nonexistent/principals.yaml' }, /cannot read SKIFF_PRINCIPALS_FILE file/],
  ] as const) {
    it(`refuses ${JSON.stringify(env)}, naming the variable`, () => assertConfigError(() => loadConfig(env, '/srv'), pattern));
  }
});

// ---- registry client: upstream deadlines and egress ----
describe('upstream deadlines and egress', () => {
  it('validates the deadline settings, naming the variable', () => {
    assert.throws(() => loadConfig({ SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '50' }, '/srv'), /^Error: SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS must be between 100 and 3600000, got 50$|SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS must be between 100 and 3600000, got 50/);
    assert.throws(() => loadConfig({ SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND: '0' }, '/srv'), /SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND must be between 1 and/);
    assert.throws(() => loadConfig({ SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS: 'soon' }, '/srv'), /SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS must be an integer/);
    assert.throws(() => loadConfig({ SKIFF_UPSTREAM_TIMEOUT_MS: '1' }, '/srv'), /SKIFF_UPSTREAM_TIMEOUT_MS must be between 100 and/);
  });

  it('shared mode follows API tokens, a principals file or a non-loopback listener; single-user otherwise', () => {
    assert.equal(loadConfig({}, '/srv').egress.sharedMode, false);
    assert.equal(loadConfig({ SKIFF_API_TOKENS: 'token-aaaaaaaaaaaaaaaaaaaaaaaa' }, '/srv').egress.sharedMode, true);
    const dir = mkdtempSync(join(tmpdir(), 'skiff-shared-mode-'));
    try {
      writeFileSync(join(dir, 'principals.yaml'), `principals:\n  - {name: a, tokenSha256: "${'ab'.repeat(32)}", scopes: []}\n`);
      assert.equal(loadConfig({ SKIFF_PRINCIPALS_FILE: join(dir, 'principals.yaml') }, '/srv').egress.sharedMode, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(loadConfig({ SKIFF_HOST: '0.0.0.0', SKIFF_ALLOW_INSECURE_BIND: 'true' }, '/srv').egress.sharedMode, true, 'listening beyond loopback is shared');
    assert.deepEqual(loadConfig({}, '/srv').egress.allowNetworks, []);
  });

  it('reads egress.allowNetworks from the registries file, normalised, and refuses bad CIDRs and keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-egress-conf-'));
    try {
      writeFileSync(join(dir, 'ok.yaml'), 'registries:\n  - location: r.example\negress:\n  allowNetworks: ["10.20.0.0/16", " FD12:3456::/32 "]\n');
      assert.deepEqual(loadConfig({ SKIFF_REGISTRIES_CONFIG: join(dir, 'ok.yaml') }, '/srv').egress.allowNetworks, ['10.20.0.0/16', 'fd12:3456::/32']);
      const bad: Array<[string, RegExp]> = [
        ['egress: [1]\n', /^registries config: "egress" must be a mapping$/],
        ['egress:\n  allowNetworks: 10.0.0.0/8\n', /^registries config: egress\.allowNetworks must be a list of CIDRs$/],
        ['egress:\n  allowNetworks: ["10.0.0.1/8"]\n', /^registries config: egress\.allowNetworks\[0\] must be a CIDR like 10\.20\.0\.0\/16/],
        ['egress:\n  allowNetworks: ["example.com"]\n', /egress\.allowNetworks\[0\] must be a CIDR/],
        ['egress:\n  allow: []\n', /^registries config: egress: unknown key "allow"$/],
      ];
      for (const [text, re] of bad) {
        writeFileSync(join(dir, 'bad.yaml'), text);
        assert.throws(() => loadConfig({ SKIFF_REGISTRIES_CONFIG: join(dir, 'bad.yaml') }, '/srv'), (e: unknown) => e instanceof ConfigError && re.test(e.message), text);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- operations fleet: database, replicas, secrets (one block) ----
describe('loadConfig: operations fleet', () => {
  it('defaults: embedded SQLite, no key, a replica id from host and pid, bounded queue and watchers', () => {
    const c = loadConfig({}, '/srv/skiff');
    assert.equal(c.database.url, undefined);
    assert.equal(c.database.startFresh, false);
    assert.deepEqual(c.database.backup, { dir: '/srv/skiff/data/backups', intervalHours: 0, keep: 7 });
    assert.deepEqual(c.secretKeys, []);
    assert.match(c.operations.replicaId, new RegExp(`-${process.pid}$`));
    assert.equal(c.operations.replicaIdConfigured, false);
    assert.equal(c.operations.leaseSeconds, 30);
    assert.equal(c.operations.maxAttempts, 3);
    assert.equal(c.operations.deadlineSeconds, 86_400);
    assert.equal(c.operations.queueMax, 10_000);
    assert.equal(c.operations.maxEventStreams, 1000);
    assert.equal(c.operations.maxLongPollsPerPrincipal, 100);
  });

  it('reads every setting from the environment and the file', () => {
    const key = 'ab'.repeat(32);
    const c = loadConfig(
      {
        SKIFF_DATABASE_URL: 'postgres://skiff:pw@db:5432/skiff',
        SKIFF_SECRET_KEY: `${key}, ${'cd'.repeat(32)}`,
        SKIFF_REPLICA_ID: 'skiff-0',
        SKIFF_LEASE_SECONDS: '10',
        SKIFF_OPERATION_MAX_ATTEMPTS: '5',
        SKIFF_OPERATION_DEADLINE_SECONDS: '600',
        SKIFF_QUEUE_MAX: '50',
        SKIFF_MAX_EVENT_STREAMS: '7',
        SKIFF_MAX_EVENT_STREAMS_PER_PRINCIPAL: '3',
        SKIFF_MAX_LONG_POLLS: '8',
        SKIFF_MAX_LONG_POLLS_PER_PRINCIPAL: '2',
        SKIFF_BACKUP_DIR: 'bk',
        SKIFF_BACKUP_INTERVAL_HOURS: '6',
        SKIFF_START_FRESH: 'true',
      },
      '/srv',
    );
    assert.equal(c.database.url, 'postgres://skiff:pw@db:5432/skiff');
    assert.deepEqual(c.secretKeys.map((k) => k.toString('hex')), [key, 'cd'.repeat(32)]);
    assert.equal(c.operations.replicaId, 'skiff-0');
    assert.equal(c.operations.replicaIdConfigured, true);
    assert.deepEqual(
      [c.operations.leaseSeconds, c.operations.maxAttempts, c.operations.deadlineSeconds, c.operations.queueMax, c.operations.maxEventStreams, c.operations.maxEventStreamsPerPrincipal, c.operations.maxLongPolls, c.operations.maxLongPollsPerPrincipal],
      [10, 5, 600, 50, 7, 3, 8, 2],
    );
    assert.deepEqual(c.database.backup, { dir: '/srv/bk', intervalHours: 6, keep: 7 });
    assert.equal(c.database.startFresh, true);
    const keyFile = write('fleet/key', `${key}\n`);
    write('fleet/skiff.yaml', `secretKeyFile: ${keyFile}\nreplicaId: from-file\n`);
    const f = loadConfig({ SKIFF_CONFIG: 'fleet/skiff.yaml' }, work);
    assert.equal(f.secretKeys[0]!.toString('hex'), key);
    assert.equal(f.operations.replicaId, 'from-file');
  });

  it('refuses bad values, naming the variable and never echoing a key', () => {
    assertConfigError(() => loadConfig({ SKIFF_DATABASE_URL: 'mysql://x' }), /^SKIFF_DATABASE_URL must start with postgres:\/\//);
    assertConfigError(() => loadConfig({ SKIFF_DATABASE_URL: 'not a url' }), /^SKIFF_DATABASE_URL must be/);
    assertConfigError(() => loadConfig({ SKIFF_SECRET_KEY: 'abc123' }), /^SKIFF_SECRET_KEY: key 1 must be 64 hexadecimal characters/);
    assert.throws(() => loadConfig({ SKIFF_SECRET_KEY: 'zz'.repeat(32) }), (e: unknown) => e instanceof ConfigError && !e.message.includes('zz'.repeat(32)));
    assertConfigError(() => loadConfig({ SKIFF_SECRET_KEY: 'ab'.repeat(32), SKIFF_SECRET_KEY_FILE: '/x' }), /not both/);
    assertConfigError(() => loadConfig({ SKIFF_SECRET_KEY_FILE: '/nonexistent/key' }), /^SKIFF_SECRET_KEY_FILE: cannot read/);
    assertConfigError(() => loadConfig({ SKIFF_REPLICA_ID: 'has space' }), /^SKIFF_REPLICA_ID/);
    assertConfigError(() => loadConfig({ SKIFF_LEASE_SECONDS: '1' }), /^SKIFF_LEASE_SECONDS must be between 2/);
    assertConfigError(() => loadConfig({ SKIFF_QUEUE_MAX: '0' }), /^SKIFF_QUEUE_MAX/);
    assertConfigError(() => loadConfig({ SKIFF_START_FRESH: 'maybe' }), /^SKIFF_START_FRESH must be true or false/);
  });
});
