import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactReferenceUserinfo, redactUrlUserinfo } from './userinfo-redaction';

const SECRET = /pa|ss|hunter|s3cr|p@|tok/;
const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('redactReferenceUserinfo', () => {
  it('removes every form of user:password@ the reference parser would not read as a name', () => {
    const cases: [string, string][] = [
      ['docker://user:pass@host.example/repo:1', 'docker://[redacted]@host.example/repo:1'],
      // a '/' in the password: the first '/' is not the end of the userinfo
      ['docker://user:pa/ss@host.example/repo', 'docker://[redacted]@host.example/repo'],
      ['docker://user:pa/ss/more@host.example/repo:1', 'docker://[redacted]@host.example/repo:1'],
      // an '@' in the password (or the user name): the LAST '@' ends the userinfo
      ['docker://user:p@ss@host.example/repo', 'docker://[redacted]@host.example/repo'],
      ['docker://me@example.com:hunter2@host.example/repo', 'docker://[redacted]@host.example/repo'],
      ['docker://user:p@/s@s@host.example/repo', 'docker://[redacted]@host.example/repo'],
      // with a digest: its '@' stays, the userinfo's goes
      [`docker://user:pa/ss@host.example/repo@${DIGEST}`, `docker://[redacted]@host.example/repo@${DIGEST}`],
      [`docker://user:p@ss@host.example/repo@${DIGEST}`, `docker://[redacted]@host.example/repo@${DIGEST}`],
      // percent-encoded '@', once or twice
      ['docker://user:s3cr%40host.example/repo', 'docker://[redacted]@host.example/repo'],
      ['docker://user:s3cr%2540host.example/repo', 'docker://[redacted]@host.example/repo'],
      ['docker://user%3Apass%40host.example/repo', 'docker://[redacted]@host.example/repo'],
      // no scheme, another case, another scheme, a missing '//'
      ['user:pa/ss@host.example/repo:1', '[redacted]@host.example/repo:1'],
      ['DOCKER://user:pass@host.example/repo', 'DOCKER://[redacted]@host.example/repo'],
      ['https://user:pa/ss@host.example/repo', 'https://[redacted]@host.example/repo'],
      ['docker:user:pass@host.example/repo', '[redacted]@host.example/repo'],
      ['docker:/user:pa/ss@host.example/repo', '[redacted]@host.example/repo'],
      [' docker://user:pass@host.example/repo', '[redacted]@host.example/repo'],
    ];
    for (const [input, expected] of cases) {
      const out = redactReferenceUserinfo(input);
      assert.equal(out, expected, input);
      assert.doesNotMatch(out, SECRET, input);
    }
  });

  it('keeps references without userinfo, and local transports, as they are', () => {
    for (const v of [
      'docker://host.example/repo:1',
      `docker://host.example:5000/repo@${DIGEST}`,
      'docker://registry.example/app@sha256:abc',
      'oci:layout@x:@0',
      'containers-storage:[overlay@/var/lib/containers+/run]busybox:latest',
      'docker-archive:/tmp/a@b.tar:name:1',
      'dir:/tmp/x@y',
      'docker-daemon:busybox:latest',
      'busybox',
    ]) {
      assert.equal(redactReferenceUserinfo(v), v);
    }
  });

  it('is linear on hostile input', { timeout: 10_000 }, () => {
    const many = 'docker://' + '@sha256:1'.repeat(100_000);
    assert.ok(redactReferenceUserinfo(many).startsWith('docker://[redacted]@'));
    const at = '%25'.repeat(100_000) + '40x';
    assert.equal(redactReferenceUserinfo(at), '[redacted]@x');
  });
});

describe('redactUrlUserinfo', () => {
  it('cleans query values, raw, encoded, and without a key, and path parameters', () => {
    const cases: [string, string][] = [
      ['/v1/images/inspect?image=docker://user:pa/ss@host.example/repo', '/v1/images/inspect?image=docker://[redacted]@host.example/repo'],
      ['/v1/images/inspect?image=docker%3A%2F%2Fuser%3Apa%2Fss%40host.example%2Frepo', '/v1/images/inspect?image=docker://[redacted]@host.example/repo'],
      ['/v1/images/inspect?image=docker://user:s3cr%2540host.example/repo', '/v1/images/inspect?image=docker://[redacted]@host.example/repo'],
      ['/v1/images/inspect?docker://user:pass@host.example/repo', '/v1/images/inspect?docker://[redacted]@host.example/repo'],
      // an '=' in the password of a value without a key: not a key=value split
      ['/v1/images/inspect?docker://user:pa=ss@host.example/repo', '/v1/images/inspect?docker://[redacted]@host.example/repo'],
      ['/v1/images/inspect?x=1&user%3Apa%3Dss%40host.example%2Frepo', '/v1/images/inspect?x=1&[redacted]@host.example/repo'],
      ['/v1/images/inspect?image=docker://user:p%ZZss@host.example/repo', '/v1/images/inspect?image=[redacted]'],
      ['/v1/credentials/user:pa/ss@host.example', '/v1/credentials/[redacted]@host.example'],
      ['/v1/registries/user%3Apass%40host.example?x=1', '/v1/registries/[redacted]@host.example?x=1'],
    ];
    for (const [input, expected] of cases) {
      const out = redactUrlUserinfo(input);
      assert.equal(out, expected, input);
      assert.doesNotMatch(out, SECRET, input);
    }
    assert.equal(redactUrlUserinfo('/v1/images/tags?repository=docker://host.example/repo'), '/v1/images/tags?repository=docker://host.example/repo');
    assert.equal(redactUrlUserinfo('/v1/operations/abc'), '/v1/operations/abc');
  });
});
