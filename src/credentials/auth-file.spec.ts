import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DomainError } from '../errors/domain-error';
import { type AuthFileDoc, decodeEntry, encodeEntry, findEntry, normalizeRegistryKey, readAuthFile, usernameOf, writeAuthFile } from './auth-file';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const work = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-authfile-')));

describe('normalizeRegistryKey', () => {
  const cases: Array<[string, string]> = [
    ['https://index.docker.io/v1/', 'docker.io'],
    ['http://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://registry-1.docker.io/v2/', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['quay.io', 'quay.io'],
    ['https://quay.io', 'quay.io'],
    ['http://reg.example:5000/v2/', 'reg.example:5000'],
    ['reg.example:5000', 'reg.example:5000'],
    ['Quay.IO', 'quay.io'],
    ['  ghcr.io  ', 'ghcr.io'],
    ['[::1]:5000', '[::1]:5000'],
  ];
  for (const [key, host] of cases) {
    it(`${JSON.stringify(key)} → ${host}`, () => assert.equal(normalizeRegistryKey(key), host));
  }
});

describe('decodeEntry', () => {
  it('decodes base64 "user:password", keeping colons in the password', () => {
    assert.deepEqual(decodeEntry({ auth: b64('alice:s3cr:et') }), { kind: 'basic', username: 'alice', password: 's3cr:et' });
    assert.deepEqual(decodeEntry({ auth: b64('bob:') }), { kind: 'basic', username: 'bob', password: '' });
    assert.deepEqual(decodeEntry({ auth: b64('üser:pässword') }), { kind: 'basic', username: 'üser', password: 'pässword' });
  });

  it('prefers an identity token, taking the username from "auth" when present', () => {
    assert.deepEqual(decodeEntry({ auth: b64('alice:'), identitytoken: 'tok' }), { kind: 'identityToken', identityToken: 'tok', username: 'alice' });
    assert.deepEqual(decodeEntry({ auth: b64('alice:ignored'), identitytoken: 'tok' }), { kind: 'identityToken', identityToken: 'tok', username: 'alice' });
    assert.deepEqual(decodeEntry({ identitytoken: 'tok' }), { kind: 'identityToken', identityToken: 'tok' });
    assert.deepEqual(decodeEntry({ auth: b64(':'), identitytoken: 'tok' }), { kind: 'identityToken', identityToken: 'tok' });
  });

  it('returns undefined for entries without usable credentials (e.g. credential-helper markers)', () => {
    assert.equal(decodeEntry({}), undefined);
    assert.equal(decodeEntry({ auth: '' }), undefined);
    assert.equal(decodeEntry({ auth: b64('no-colon') }), undefined);
    assert.equal(decodeEntry({ auth: b64(':password-only') }), undefined);
    assert.equal(decodeEntry({ identitytoken: '' }), undefined);
    assert.equal(decodeEntry({ auth: 42 } as unknown as { auth: string }), undefined);
  });
});

describe('encodeEntry', () => {
  it('round-trips basic credentials through "auth"', () => {
    const entry = encodeEntry({ kind: 'basic', username: 'alice', password: 'p:a:s:s' });
    assert.deepEqual(entry, { auth: b64('alice:p:a:s:s') });
    assert.deepEqual(decodeEntry(entry), { kind: 'basic', username: 'alice', password: 'p:a:s:s' });
  });

  it('stores an identity token with the username as "user:"', () => {
    const entry = encodeEntry({ kind: 'identityToken', identityToken: 'refresh-token', username: 'alice' });
    assert.deepEqual(entry, { auth: b64('alice:'), identitytoken: 'refresh-token' });
    assert.deepEqual(decodeEntry(entry), { kind: 'identityToken', identityToken: 'refresh-token', username: 'alice' });
    assert.deepEqual(encodeEntry({ kind: 'identityToken', identityToken: 'refresh-token' }), { identitytoken: 'refresh-token' });
  });

  it('refuses to store a short-lived registry token', () => {
    assert.throws(
      () => encodeEntry({ kind: 'registryToken', registryToken: 'bearer-secret' }),
      (e: unknown) => e instanceof DomainError && e.code === 'INVALID_ARGUMENT' && !e.message.includes('bearer-secret'),
    );
  });
});

describe('usernameOf', () => {
  it('names the user, <token> for an anonymous identity token, "" otherwise', () => {
    assert.equal(usernameOf({ auth: b64('alice:pw') }), 'alice');
    assert.equal(usernameOf({ auth: b64('alice:'), identitytoken: 't' }), 'alice');
    assert.equal(usernameOf({ identitytoken: 't' }), '<token>');
    assert.equal(usernameOf({}), '');
  });
});

describe('findEntry', () => {
  const entry = (user: string) => ({ auth: b64(`${user}:pw`) });

  it('finds an exact key', () => {
    const doc: AuthFileDoc = { auths: { 'quay.io': entry('q'), 'reg.example:5000': entry('r') } };
    assert.deepEqual(findEntry(doc, 'reg.example:5000'), entry('r'));
  });

  it('finds Docker Hub under its legacy URL key', () => {
    const doc: AuthFileDoc = { auths: { 'https://index.docker.io/v1/': entry('hub') } };
    assert.deepEqual(findEntry(doc, 'docker.io'), entry('hub'));
  });

  it('finds a URL-style key for another registry', () => {
    assert.deepEqual(findEntry({ auths: { 'https://reg.example:5000': entry('r') } }, 'reg.example:5000'), entry('r'));
  });

  it('prefers the exact key over a legacy key for the same registry', () => {
    const doc: AuthFileDoc = { auths: { 'https://index.docker.io/v1/': entry('legacy'), 'docker.io': entry('exact') } };
    assert.deepEqual(findEntry(doc, 'docker.io'), entry('exact'));
  });

  it('returns undefined when nothing matches or there are no auths', () => {
    assert.equal(findEntry({ auths: { 'quay.io': entry('q') } }, 'ghcr.io'), undefined);
    assert.equal(findEntry({}, 'ghcr.io'), undefined);
    assert.equal(findEntry({ auths: { 'quay.io.evil.example': entry('x') } }, 'quay.io'), undefined);
  });

  // containers-auth.json(5): a key may name a repository namespace ("quay.io/team/app"); its
  // credentials apply to that namespace only, never to the whole registry.
  it('does not use a repository-scoped entry as the credentials of the whole registry', () => {
    assert.equal(findEntry({ auths: { 'quay.io/team-a/app': entry('team-a') } }, 'quay.io'), undefined);
  });
});

describe('readAuthFile', () => {
  it('returns {} for a missing or blank file', async () => {
    assert.deepEqual(await readAuthFile(join(work, 'does-not-exist.json')), {});
    writeFileSync(join(work, 'blank.json'), ' \n');
    assert.deepEqual(await readAuthFile(join(work, 'blank.json')), {});
  });

  it('refuses non-objects and invalid JSON', async () => {
    writeFileSync(join(work, 'list.json'), '[]');
    await assert.rejects(readAuthFile(join(work, 'list.json')), /is not a JSON object/);
    writeFileSync(join(work, 'broken.json'), '{"auths":');
    await assert.rejects(readAuthFile(join(work, 'broken.json')), SyntaxError);
  });
});

describe('writeAuthFile', () => {
  const doc: AuthFileDoc = {
    auths: { 'quay.io': { auth: b64('alice:pw'), email: 'kept@example.invalid' } },
    credHelpers: { 'gcr.io': 'gcloud' },
    credsStore: 'desktop',
    HttpHeaders: { 'User-Agent': 'kept' },
  };

  it('creates missing directories and writes the document (unknown keys kept), tab-indented with a final newline', async () => {
    const path = join(work, 'nested/dir/auth.json');
    await writeAuthFile(path, doc);
    const text = readFileSync(path, 'utf8');
    assert.equal(text, JSON.stringify(doc, null, '\t') + '\n');
    assert.deepEqual(await readAuthFile(path), doc);
    assert.equal(statSync(join(work, 'nested/dir')).mode & 0o777, 0o700);
  });

  it('writes the file with mode 0600, also when replacing a 0644 file', async () => {
    const path = join(work, 'mode.json');
    writeFileSync(path, '{}', { mode: 0o644 });
    assert.equal(statSync(path).mode & 0o777, 0o644);
    await writeAuthFile(path, doc);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await writeAuthFile(path, { auths: {} });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(await readAuthFile(path), { auths: {} });
  });

  it('replaces the file by rename, leaving no temporary file behind', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-authfile-atomic-')));
    const path = join(dir, 'auth.json');
    writeFileSync(path, '{"old":true}');
    const inodeBefore = statSync(path).ino;
    await writeAuthFile(path, doc);
    assert.notEqual(statSync(path).ino, inodeBefore, 'a new file was renamed over the old one');
    assert.deepEqual(readdirSync(dir), ['auth.json']);
  });
});
