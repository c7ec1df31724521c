import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DockerReference,
  familiarName,
  familiarString,
  formatDockerReference,
  isNameOnly,
  isValidTag,
  parseDockerReference,
  repositoryName,
  trimNamed,
  withDefaultTag,
  withDigest,
  withTag,
} from './docker-reference';
import { InvalidReferenceError } from './invalid-reference-error';

const HEX64 = '0123456789abcdef'.repeat(4);
const D256 = `sha256:${HEX64}`;
const D512 = `sha512:${'f'.repeat(128)}`;

function assertInvalid(input: string, reasonPattern: RegExp): void {
  assert.throws(
    () => parseDockerReference(input),
    (err: unknown) => {
      assert.ok(err instanceof InvalidReferenceError, `expected InvalidReferenceError, got ${String(err)}`);
      assert.equal(err.code, 'INVALID_REFERENCE');
      assert.equal(err.subject, 'docker reference');
      assert.equal(err.input, input);
      assert.match(err.reason, reasonPattern);
      assert.ok(err.message.startsWith(`invalid docker reference ${JSON.stringify(input)}: `), err.message);
      return true;
    },
  );
}

describe('parseDockerReference: normalisation', () => {
  const cases: Array<[string, DockerReference]> = [
    ['busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['busybox:latest', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36.1-musl', { domain: 'docker.io', path: 'library/busybox', tag: '1.36.1-musl' }],
    ['busybox:Latest_RC.1', { domain: 'docker.io', path: 'library/busybox', tag: 'Latest_RC.1' }],
    ['library/busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['docker.io/library/busybox:1', { domain: 'docker.io', path: 'library/busybox', tag: '1' }],
    ['index.docker.io/busybox', { domain: 'docker.io', path: 'library/busybox' }],
    ['index.docker.io/foo/bar', { domain: 'docker.io', path: 'foo/bar' }],
    ['foo/bar', { domain: 'docker.io', path: 'foo/bar' }],
    ['foo/bar/baz:v2', { domain: 'docker.io', path: 'foo/bar/baz', tag: 'v2' }],
    ['quay.io/foo/bar:v1', { domain: 'quay.io', path: 'foo/bar', tag: 'v1' }],
    ['example.com/foo', { domain: 'example.com', path: 'foo' }],
    ['Example.COM/foo', { domain: 'Example.COM', path: 'foo' }],
    ['Foo/bar', { domain: 'Foo', path: 'bar' }],
    ['localhost/foo', { domain: 'localhost', path: 'foo' }],
    ['localhost:5000/foo/bar:tag', { domain: 'localhost:5000', path: 'foo/bar', tag: 'tag' }],
    ['127.0.0.1:5000/foo', { domain: '127.0.0.1:5000', path: 'foo' }],
    ['[::1]:5000/foo', { domain: '[::1]:5000', path: 'foo' }],
    ['[2001:db8::1]/foo/bar:x', { domain: '[2001:db8::1]', path: 'foo/bar', tag: 'x' }],
    ['my-registry.example-1.org:443/a/b', { domain: 'my-registry.example-1.org:443', path: 'a/b' }],
    // No "/": always a Docker Hub name, even when it looks like host:port (docker's FIXME).
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }],
    ['localhost', { domain: 'docker.io', path: 'library/localhost' }],
    ['foo/a.b', { domain: 'docker.io', path: 'foo/a.b' }],
    ['foo/a_b', { domain: 'docker.io', path: 'foo/a_b' }],
    ['foo/a__b', { domain: 'docker.io', path: 'foo/a__b' }],
    ['foo/a-b', { domain: 'docker.io', path: 'foo/a-b' }],
    ['foo/a---b', { domain: 'docker.io', path: 'foo/a---b' }],
    ['foo/a.b_c__d-e--f', { domain: 'docker.io', path: 'foo/a.b_c__d-e--f' }],
    ['busybox@' + D256, { domain: 'docker.io', path: 'library/busybox', digest: D256 }],
    ['busybox@' + D512, { domain: 'docker.io', path: 'library/busybox', digest: D512 }],
    ['busybox:1.36@' + D256, { domain: 'docker.io', path: 'library/busybox', tag: '1.36', digest: D256 }],
    ['ghcr.io/o/r:t@' + D256, { domain: 'ghcr.io', path: 'o/r', tag: 't', digest: D256 }],
    ['busybox:' + 'a'.repeat(128), { domain: 'docker.io', path: 'library/busybox', tag: 'a'.repeat(128) }],
    ['busybox:_x', { domain: 'docker.io', path: 'library/busybox', tag: '_x' }],
    // A 64-hex string is only refused as the whole input, not as a path component.
    [`foo/${HEX64}`, { domain: 'docker.io', path: `foo/${HEX64}` }],
    [`${HEX64}:tag`, { domain: 'docker.io', path: `library/${HEX64}`, tag: 'tag' }],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${formatDockerReference(expected)}`, () => {
      assert.deepEqual(parseDockerReference(input), expected);
    });
  }

  it('round-trips through formatDockerReference and familiarString', () => {
    for (const [input] of cases) {
      const ref = parseDockerReference(input);
      assert.deepEqual(parseDockerReference(formatDockerReference(ref)), ref, input);
      assert.deepEqual(parseDockerReference(familiarString(ref)), ref, input);
    }
  });

  it('accepts a name of exactly 255 characters', () => {
    const path = 'foo/' + 'a'.repeat(255 - 'docker.io/foo/'.length);
    const ref = parseDockerReference(`docker.io/${path}`);
    assert.equal(repositoryName(ref).length, 255);
  });

  it('returns plain JSON-serialisable objects without undefined keys', () => {
    const ref = parseDockerReference('busybox');
    assert.deepEqual(Object.keys(ref).sort(), ['domain', 'path']);
    assert.equal(JSON.stringify(ref), '{"domain":"docker.io","path":"library/busybox"}');
  });
});

describe('parseDockerReference: rejections', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /at least one component/],
    [HEX64, /invalid repository name \(0123.*\), cannot specify 64-byte hexadecimal strings/],
    ['BusyBox', /repository name \(library\/BusyBox\) must be lowercase/],
    ['foo/Bar', /repository name \(foo\/Bar\) must be lowercase/],
    ['docker.io/Foo/bar:tag', /repository name \(Foo\/bar\) must be lowercase/],
    ['localhost:5000/Foo', /repository name \(Foo\) must be lowercase/],
    ['busybox:', /invalid tag ""/],
    ['busybox:-tag', /invalid tag "-tag"/],
    ['busybox:.tag', /invalid tag ".tag"/],
    ['busybox:a+b', /invalid tag "a\+b"/],
    ['busybox:' + 'a'.repeat(129), /invalid tag "a{129}"/],
    ['busybox:a:b', /invalid tag "a:b"/],
    ['busybox@', /invalid digest ""/],
    ['busybox@sha256:abc', /invalid digest "sha256:abc"/],
    ['busybox@sha256:' + 'A'.repeat(64), /lowercase hexadecimal/],
    ['busybox@sha256:' + 'a'.repeat(63), /64 hex characters, got 63/],
    ['busybox@md5:' + 'a'.repeat(32), /unsupported digest algorithm "md5"/],
    ['busybox@sha384:' + 'a'.repeat(96), /unsupported digest algorithm "sha384"/],
    ['busybox@' + HEX64, /invalid digest/],
    ['foo/-bar', /path component "-bar"/],
    ['foo/bar-', /path component "bar-"/],
    ['foo/a..b', /path component "a\.\.b"/],
    ['foo/a___b', /path component "a___b"/],
    ['foo/.bar', /path component "\.bar"/],
    ['foo//bar', /empty path component/],
    ['foo/bar/', /empty path component/],
    ['/foo', /empty path component/],
    ['-foo.com/bar', /invalid registry domain "-foo\.com"/],
    ['foo.com:abc/bar', /invalid registry domain "foo\.com:abc"/],
    ['foo_bar.com/baz', /invalid registry domain "foo_bar\.com"/],
    ['foo_bar:5000/baz', /invalid registry domain "foo_bar:5000"/],
    ['a.b_c/d', /invalid registry domain "a\.b_c"/],
    ['[::1/foo', /invalid registry domain "\[::1"/],
    ['busybox latest', /invalid/],
    [' busybox', /invalid/],
    ['busy*box', /invalid/],
    ['docker.io/foo/' + 'a'.repeat(242), /must not be more than 255 characters \(.* has 256\)/],
    ['a'.repeat(250), /must not be more than 255 characters/],
    ['a'.repeat(3000), /too long/],
  ];
  for (const [input, reason] of cases) {
    it(`rejects ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`, () => {
      assertInvalid(input, reason);
    });
  }
});

describe('docker reference helpers', () => {
  it('repositoryName is domain/path', () => {
    assert.equal(repositoryName(parseDockerReference('busybox:1')), 'docker.io/library/busybox');
    assert.equal(repositoryName(parseDockerReference('quay.io/a/b@' + D256)), 'quay.io/a/b');
  });

  it('formatDockerReference prints the fully-qualified form', () => {
    assert.equal(formatDockerReference(parseDockerReference('busybox')), 'docker.io/library/busybox');
    assert.equal(
      formatDockerReference(parseDockerReference(`busybox:1@${D256}`)),
      `docker.io/library/busybox:1@${D256}`,
    );
  });

  it('familiarName strips docker.io and a non-nested library/', () => {
    assert.equal(familiarName(parseDockerReference('docker.io/library/busybox')), 'busybox');
    assert.equal(familiarName(parseDockerReference('foo/bar')), 'foo/bar');
    assert.equal(familiarName(parseDockerReference('docker.io/library/foo/bar')), 'library/foo/bar');
    assert.equal(familiarName(parseDockerReference('quay.io/library/busybox')), 'quay.io/library/busybox');
    assert.equal(familiarName(parseDockerReference('localhost:5000/busybox')), 'localhost:5000/busybox');
  });

  it('familiarString keeps tag and digest', () => {
    assert.equal(familiarString(parseDockerReference(`busybox:1@${D256}`)), `busybox:1@${D256}`);
    assert.equal(familiarString(parseDockerReference('index.docker.io/foo/bar:x')), 'foo/bar:x');
  });

  it('withDefaultTag adds latest only to a name-only reference', () => {
    assert.deepEqual(withDefaultTag(parseDockerReference('busybox')), {
      domain: 'docker.io',
      path: 'library/busybox',
      tag: 'latest',
    });
    const tagged = parseDockerReference('busybox:1');
    assert.equal(withDefaultTag(tagged), tagged);
    const digested = parseDockerReference(`busybox@${D256}`);
    assert.equal(withDefaultTag(digested), digested);
    assert.equal(withDefaultTag(digested).tag, undefined);
  });

  it('isNameOnly', () => {
    assert.equal(isNameOnly(parseDockerReference('busybox')), true);
    assert.equal(isNameOnly(parseDockerReference('busybox:1')), false);
    assert.equal(isNameOnly(parseDockerReference(`busybox@${D256}`)), false);
  });

  it('withTag / withDigest / trimNamed', () => {
    const ref = parseDockerReference('quay.io/a/b:old');
    assert.deepEqual(withTag(ref, 'new'), { domain: 'quay.io', path: 'a/b', tag: 'new' });
    assert.throws(() => withTag(ref, '-bad'), InvalidReferenceError);
    assert.deepEqual(withDigest(ref, D256), { domain: 'quay.io', path: 'a/b', tag: 'old', digest: D256 });
    assert.throws(() => withDigest(ref, 'sha256:nope'), InvalidReferenceError);
    assert.deepEqual(trimNamed(withDigest(ref, D256)), { domain: 'quay.io', path: 'a/b' });
  });

  it('isValidTag', () => {
    assert.equal(isValidTag('v1.2.3-rc_1'), true);
    assert.equal(isValidTag(''), false);
    assert.equal(isValidTag('.x'), false);
    assert.equal(isValidTag('x'.repeat(129)), false);
  });
});
