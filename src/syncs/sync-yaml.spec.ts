import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { DomainError } from '../errors/domain-error';
import { parseSyncYaml, readSyncYaml, REDACTED, redactSyncYaml } from './sync-yaml';

const noCertDirs = () => 'cert-dir is not allowed';

async function invalid(text: string, pattern: RegExp, allowed: (d: string) => string | undefined = noCertDirs): Promise<void> {
  await assert.rejects(
    parseSyncYaml(text, allowed),
    (e: unknown) => {
      assert.ok(e instanceof DomainError, String(e));
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('parseSyncYaml', () => {
  it('reads registries, images, regex and semver selectors, tls-verify and credentials', async () => {
    const regs = await parseSyncYaml(
      [
        'registry.example.com:5000:',
        '  images:',
        '    busybox: []',
        '    team/app: [1.0, "2", "sha256:' + 'a'.repeat(64) + '"]',
        '    empty:',
        '  images-by-tag-regex:',
        '    team/tools: ^v1\\.',
        '  images-by-semver:',
        '    team/lib: ">= 1.2, < 2"',
        '  tls-verify: false',
        '  credentials:',
        '    username: u',
        '    password: p',
        'docker.io:',
        '  images:',
        '    alpine: [latest]',
      ].join('\n'),
      noCertDirs,
    );
    assert.equal(regs.length, 2);
    const [a, b] = regs;
    assert.equal(a!.key, 'registry.example.com:5000');
    assert.deepEqual(
      a!.images.map((i) => [i.repository.domain, i.repository.path, i.references]),
      [
        ['registry.example.com:5000', 'busybox', []],
        ['registry.example.com:5000', 'team/app', ['1.0', '2', 'sha256:' + 'a'.repeat(64)]],
        ['registry.example.com:5000', 'empty', []],
      ],
    );
    assert.equal(a!.imagesByTagRegex[0]!.pattern.source, '^v1\\.');
    assert.equal(a!.imagesBySemver[0]!.constraint.source, '>= 1.2, < 2');
    assert.equal(a!.tlsVerify, false);
    assert.deepEqual(a!.credentials, { username: 'u', password: 'p' });
    assert.equal(b!.images[0]!.repository.path, 'library/alpine');
    assert.equal(b!.tlsVerify, undefined);
  });

  it('refuses what skopeo would skip or ignore: unknown keys, bad names, tags, patterns and constraints', async () => {
    await invalid('r.example:\n  image:\n    x: []\n', /unknown key "image"/);
    await invalid('r.example:\n  images:\n    UPPER: []\n', /not a valid repository/);
    await invalid('r.example:\n  images:\n    x:latest: []\n', /names an image/);
    await invalid('r.example:\n  images:\n    x: ["-bad"]\n', /neither a tag nor a digest/);
    await invalid('r.example:\n  images-by-tag-regex:\n    x: "(?=a)"\n', /unsupported Perl syntax/);
    await invalid('r.example:\n  images-by-tag-regex:\n    x: "(a"\n', /invalid tag regular expression/);
    await invalid('r.example:\n  images-by-semver:\n    x: ">= banana"\n', /improper constraint/);
    await invalid('r.example:\n  tls-verify: maybe\n', /true or false/);
    await invalid('r.example:\n  credentials: {user: x}\n', /unknown key "user"/);
    await invalid('r.example:\n  cert-dir: /etc/certs\n', /cert-dir is not allowed/);
    await invalid('', /empty/);
    await invalid('- a\n- b\n', /mapping of registries/);
    await invalid('a: [', /not a valid YAML document/);
    await invalid('a: {}\na: {}\n', /not a valid YAML document/);
  });

  it('caps the selectors of a document before compiling anything', async () => {
    const regexes = (n: number) => `r.example:\n  images-by-tag-regex:\n${Array.from({ length: n }, (_, i) => `    r${i}: "^v${i}"`).join('\n')}\n`;
    assert.equal((await parseSyncYaml(regexes(100), noCertDirs))[0]!.imagesByTagRegex.length, 100);
    await invalid(regexes(101) + '    broken: "(a"\n', /102 images-by-tag-regex selectors; at most 100/);
    const images = Array.from({ length: 1001 }, (_, i) => `    r${i}: []`).join('\n');
    await invalid(`r.example:\n  images:\n${images}\n`, /1001 repository selectors; at most 1000/);
  });

  it('accepts a cert-dir the server allows', async () => {
    const regs = await parseSyncYaml('r.example:\n  cert-dir: /ok\n', (d) => (d === '/ok' ? undefined : 'no'));
    assert.equal(regs[0]!.certDir, '/ok');
  });
});

describe('redactSyncYaml', () => {
  it('leaves a document without secrets byte for byte', async () => {
    const text = '# comment\nr.example:\n  images:\n    x: [1.0]\n';
    assert.deepEqual(await redactSyncYaml(text), { text, secrets: {} });
  });

  it('takes passwords and identity tokens out, keeps usernames, and the result parses the same otherwise', async () => {
    const text = 'p.example:\n  credentials: &c {username: u, password: s3cret}\nr.example:\n  images:\n    x: [1.0]\n  credentials: *c\nq.example:\n  credentials: {identitytoken: tok}\n';
    const { text: stored, secrets } = await redactSyncYaml(text);
    assert.ok(!stored.includes('s3cret') && !stored.includes('tok\n') && !/identitytoken: tok/.test(stored), stored);
    assert.deepEqual(secrets, { 'p.example': { username: 'u', password: 's3cret' }, 'r.example': { username: 'u', password: 's3cret' }, 'q.example': { identitytoken: 'tok' } });
    const doc = parse(stored, { schema: 'failsafe' }) as Record<string, { credentials?: Record<string, string>; images?: Record<string, string[]> }>;
    assert.deepEqual(doc['r.example']!.credentials, { username: 'u', password: REDACTED });
    assert.deepEqual(doc['r.example']!.images, { x: ['1.0'] });
  });
});

describe('readSyncYaml', () => {
  it('gives the registries and the redacted document of one parse', async () => {
    const text = 'r.example:\n  images:\n    x: [1.0]\n  credentials: {username: u, password: s3cret}\n';
    const { registries, redacted } = await readSyncYaml(text, () => undefined);
    assert.deepEqual(registries, await parseSyncYaml(text, () => undefined));
    assert.deepEqual(redacted, await redactSyncYaml(text));
    assert.ok(!redacted.text.includes('s3cret'));
  });
});
