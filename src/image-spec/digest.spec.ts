import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { digestAlgorithm, digestHex, digestOf, isDigest, parseDigest } from './digest';
import { InvalidReferenceError } from './invalid-reference-error';

const HEX64 = 'a'.repeat(64);
const HEX128 = '0123456789abcdef'.repeat(8);
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function assertInvalid(fn: () => unknown, reasonPattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidReferenceError, `expected InvalidReferenceError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_REFERENCE');
    assert.equal(err.subject, 'digest');
    assert.match(err.reason, reasonPattern);
    assert.ok(err.message.startsWith('invalid digest "'), err.message);
    return true;
  });
}

describe('parseDigest / isDigest', () => {
  const valid = [`sha256:${HEX64}`, `sha512:${HEX128}`, EMPTY_SHA256];
  for (const d of valid) {
    it(`accepts ${d.slice(0, 20)}…`, () => {
      assert.equal(parseDigest(d), d);
      assert.equal(isDigest(d), true);
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /missing the "algorithm:" prefix/],
    [HEX64, /missing the "algorithm:" prefix/],
    [`md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
    [`sha384:${'a'.repeat(96)}`, /unsupported digest algorithm "sha384"/],
    [`SHA256:${HEX64}`, /unsupported digest algorithm "SHA256"/],
    [`sha256:${'A'.repeat(64)}`, /lowercase hexadecimal/],
    [`sha256:${'g'.repeat(64)}`, /lowercase hexadecimal/],
    [`sha256:${'a'.repeat(63)}`, /64 hex characters, got 63/],
    [`sha256:${'a'.repeat(65)}`, /64 hex characters, got 65/],
    [`sha512:${HEX64}`, /128 hex characters, got 64/],
    ['sha256:', /64 hex characters, got 0/],
    [` sha256:${HEX64}`, /unsupported digest algorithm/],
    [`sha256:${HEX64}\n`, /lowercase hexadecimal/],
  ];
  for (const [d, reason] of invalid) {
    it(`rejects ${JSON.stringify(d.slice(0, 24))}`, () => {
      assert.equal(isDigest(d), false);
      assertInvalid(() => parseDigest(d), reason);
    });
  }
});

describe('digestOf', () => {
  it('hashes with sha256 by default', () => {
    assert.equal(digestOf(new Uint8Array()), EMPTY_SHA256);
    const bytes = new TextEncoder().encode('hello');
    assert.equal(digestOf(bytes), `sha256:${createHash('sha256').update('hello').digest('hex')}`);
  });

  it('hashes with sha512 on request', () => {
    const d = digestOf(Buffer.from('hello'), 'sha512');
    assert.equal(d, `sha512:${createHash('sha512').update('hello').digest('hex')}`);
    assert.equal(isDigest(d), true);
  });

  it('refuses an unknown algorithm passed around the type system', () => {
    assert.throws(() => digestOf(new Uint8Array(), 'md5' as 'sha256'), InvalidReferenceError);
  });
});

describe('digestAlgorithm / digestHex', () => {
  it('split a valid digest', () => {
    assert.equal(digestAlgorithm(`sha256:${HEX64}`), 'sha256');
    assert.equal(digestHex(`sha256:${HEX64}`), HEX64);
    assert.equal(digestAlgorithm(`sha512:${HEX128}`), 'sha512');
    assert.equal(digestHex(`sha512:${HEX128}`), HEX128);
  });

  it('refuse an invalid digest', () => {
    assertInvalid(() => digestAlgorithm('sha256:abc'), /64 hex characters/);
    assertInvalid(() => digestHex('nope'), /missing the "algorithm:" prefix/);
  });
});
