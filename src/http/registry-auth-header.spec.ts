import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../errors/domain-error';
import { parseRegistryAuthHeader, toRegistryAuth } from './registry-auth-header';

const SECRET = 'hunter2-?>>~~~?';
const std = (doc: unknown): string => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)).toString('base64');
const urlSafe = (doc: unknown): string => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)).toString('base64url');

function assertRefused(value: string, pattern: RegExp, ...secrets: string[]): void {
  assert.throws(
    () => parseRegistryAuthHeader(value),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes(value), 'the message echoes the header');
      for (const s of secrets) assert.ok(!e.message.includes(s), `the message echoes ${JSON.stringify(s)}`);
      return true;
    },
  );
}

describe('parseRegistryAuthHeader', () => {
  it('returns undefined when the header is absent or blank', () => {
    assert.equal(parseRegistryAuthHeader(undefined), undefined);
    assert.equal(parseRegistryAuthHeader(''), undefined);
    assert.equal(parseRegistryAuthHeader('  \t'), undefined);
  });

  it('decodes standard base64 of {username, password}', () => {
    assert.deepEqual(parseRegistryAuthHeader(std({ username: 'alice', password: SECRET })), { kind: 'basic', username: 'alice', password: SECRET });
  });

  it('decodes URL-safe base64, with or without padding, the same way', () => {
    const doc = { username: 'alice', password: SECRET, serveraddress: 'registry.example' };
    const standard = std(doc);
    assert.match(standard, /[+/]/, 'the fixture must exercise the characters that differ');
    const safe = urlSafe(doc);
    assert.match(safe, /[-_]/);
    const expected = { kind: 'basic', username: 'alice', password: SECRET };
    assert.deepEqual(parseRegistryAuthHeader(standard), expected);
    assert.deepEqual(parseRegistryAuthHeader(safe), expected);
    assert.deepEqual(parseRegistryAuthHeader(safe + '='.repeat((4 - (safe.length % 4)) % 4)), expected);
  });

  it('trims surrounding whitespace', () => {
    assert.deepEqual(parseRegistryAuthHeader(`  ${std({ username: 'a', password: 'b' })} `), { kind: 'basic', username: 'a', password: 'b' });
  });

  it('accepts an empty password', () => {
    assert.deepEqual(parseRegistryAuthHeader(std({ username: 'a', password: '' })), { kind: 'basic', username: 'a', password: '' });
  });

  for (const key of ['identitytoken', 'identityToken', 'IdentityToken']) {
    it(`reads an identity token from "${key}", with the username when given`, () => {
      assert.deepEqual(parseRegistryAuthHeader(std({ [key]: 'id-tok' })), { kind: 'identityToken', identityToken: 'id-tok' });
      assert.deepEqual(parseRegistryAuthHeader(std({ username: 'alice', [key]: 'id-tok' })), { kind: 'identityToken', identityToken: 'id-tok', username: 'alice' });
    });
  }

  for (const key of ['registrytoken', 'registryToken', 'RegistryToken']) {
    it(`reads a registry token from "${key}"`, () => {
      assert.deepEqual(parseRegistryAuthHeader(std({ [key]: 'bearer' })), { kind: 'registryToken', registryToken: 'bearer' });
    });
  }

  it('prefers a registry token over an identity token over a password', () => {
    assert.deepEqual(parseRegistryAuthHeader(std({ username: 'u', password: 'p', identitytoken: 'i', registrytoken: 'r' })), { kind: 'registryToken', registryToken: 'r' });
    assert.deepEqual(parseRegistryAuthHeader(std({ username: 'u', password: 'p', identitytoken: 'i' })), { kind: 'identityToken', identityToken: 'i', username: 'u' });
  });

  it('ignores empty tokens and non-string members', () => {
    assert.deepEqual(parseRegistryAuthHeader(std({ username: 'u', password: 'p', identitytoken: '', registrytoken: '' })), { kind: 'basic', username: 'u', password: 'p' });
    assert.deepEqual(parseRegistryAuthHeader(std({ username: 'u', password: 'p', registrytoken: 5 })), { kind: 'basic', username: 'u', password: 'p' });
  });

  it('refuses what is not base64, without echoing it', () => {
    assertRefused(`alice:${SECRET}`, /^X-Registry-Auth must be base64-encoded JSON$/, SECRET);
    assertRefused(`Basic ${std(`alice:${SECRET}`)}`, /^X-Registry-Auth must be base64-encoded JSON$/, SECRET);
    assertRefused(JSON.stringify({ username: 'alice', password: SECRET }), /^X-Registry-Auth must be base64-encoded JSON$/, SECRET);
  });

  it('refuses base64 of something that is not JSON, without echoing the decoded text', () => {
    assertRefused(std(`alice:${SECRET}`), /^X-Registry-Auth must be base64-encoded JSON$/, SECRET, 'alice');
    assertRefused(std(`{"password":"${SECRET}"`), /^X-Registry-Auth must be base64-encoded JSON$/, SECRET);
  });

  it('refuses JSON that is not an object', () => {
    assertRefused(std(JSON.stringify(SECRET)), /^X-Registry-Auth must encode a JSON object$/, SECRET);
    assertRefused(std([{ username: 'a', password: SECRET }]), /^X-Registry-Auth must encode a JSON object$/, SECRET);
    assertRefused(std('null'), /^X-Registry-Auth must encode a JSON object$/);
  });

  // Docker clients send base64("{}") = "e30=" for an anonymous pull: that is no credentials, not an error.
  it('treats an empty object ("e30=") as anonymous', () => {
    assert.equal(parseRegistryAuthHeader('e30='), undefined);
    assert.equal(parseRegistryAuthHeader(std({})), undefined);
  });

  it('refuses an object without usable credentials, without echoing the ones it has', () => {
    assertRefused(std({ username: 'alice' }), /^X-Registry-Auth must carry \{username, password\}, \{identitytoken\} or \{registrytoken\}$/);
    assertRefused(std({ password: SECRET }), /must carry/, SECRET);
    assertRefused(std({ username: 'alice' }), /must carry/);
    assertRefused(std({ username: '', password: SECRET }), /must carry/, SECRET);
    assertRefused(std({ username: 'alice', password: 42 }), /must carry/);
  });

  it('refuses a username containing ":", without echoing it or the password', () => {
    assertRefused(std({ username: 'ali:ce', password: SECRET }), /^X-Registry-Auth: username must not contain ":"$/, SECRET, 'ali:ce');
  });
});

describe('toRegistryAuth', () => {
  it('names the field in its messages', () => {
    assert.throws(() => toRegistryAuth({}, 'sourceAuth'), { message: 'sourceAuth must carry {username, password}, {identitytoken} or {registrytoken}' });
    assert.throws(() => toRegistryAuth({ username: 'a:b', password: 'x' }, 'destinationAuth'), { message: 'destinationAuth: username must not contain ":"' });
  });

  it('accepts camelCase and lowercase token spellings, camelCase first', () => {
    assert.deepEqual(toRegistryAuth({ identityToken: 'A', identitytoken: 'B' }, 'x'), { kind: 'identityToken', identityToken: 'A' });
    assert.deepEqual(toRegistryAuth({ registryToken: 'A', registrytoken: 'B' }, 'x'), { kind: 'registryToken', registryToken: 'A' });
    assert.deepEqual(toRegistryAuth({ username: 'u', password: 'p' }, 'x'), { kind: 'basic', username: 'u', password: 'p' });
  });
});
