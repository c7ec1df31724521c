import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactUserinfo, sanitizeUpstreamText } from './upstream-text';

describe('redactUserinfo', () => {
  it('drops user:pass@ from every URL, keeps the rest', () => {
    assert.equal(redactUserinfo('https://user:pass@host.example:5000/v2/?q=1'), 'https://host.example:5000/v2/?q=1');
    assert.equal(redactUserinfo('see <http://a@b.example/x> and "https://u:p@c.example"'), 'see <http://b.example/x> and "https://c.example"');
    assert.equal(redactUserinfo('https://host.example/path@not-userinfo'), 'https://host.example/path@not-userinfo');
    assert.equal(redactUserinfo('no url here: a@b'), 'no url here: a@b');
  });

  it('drops a userinfo holding an @ or a / entirely', () => {
    // a URL parser ends the userinfo at the LAST '@' of the authority
    assert.equal(redactUserinfo('GET https://user:p@ss@host.example/v2/ failed'), 'GET https://host.example/v2/ failed');
    assert.equal(redactUserinfo('<https://me@example.com:hunter2@host.example/v2/x?n=1>'), '<https://host.example/v2/x?n=1>');
    // 'user:pa' cannot be host:port: the userinfo runs on to the last '@' before the query
    assert.equal(redactUserinfo('to https://user:pa/ss@host.example/v2/?q=a@b'), 'to https://host.example/v2/?q=a@b');
    assert.equal(redactUserinfo('to https://x:a/b/c@d@host.example/v2/ ok'), 'to https://host.example/v2/ ok');
    // a valid host:port followed by a path with '@' is not userinfo
    assert.equal(redactUserinfo('https://host.example:5000/path@x'), 'https://host.example:5000/path@x');
    assert.equal(redactUserinfo('https://[::1]:5000/path@x'), 'https://[::1]:5000/path@x');
  });

  it('is linear on hostile input (the timeout turns a hang into a failure)', { timeout: 10_000 }, () => {
    const s = 'a://'.repeat(50_000) + 'x'.repeat(100_000);
    assert.equal(redactUserinfo(s).length, s.length);
    assert.equal(redactUserinfo('h://' + 'u'.repeat(100_000) + '@host').length, 'h://host'.length);
    const slashes = 'h://u:p/x' + 'h://u:p/x'.repeat(50_000);
    assert.equal(redactUserinfo(slashes), slashes);
    const ats = 'h://@'.repeat(50_000);
    assert.equal(redactUserinfo(ats).length, ats.length - 50_000);
  });
});

describe('sanitizeUpstreamText', () => {
  it('replaces control and bidi-override characters, caps the length, redacts URLs', () => {
    assert.equal(sanitizeUpstreamText('bad\r\nthing\u202e\u0007!'), 'bad  thing  !');
    const long = sanitizeUpstreamText('x'.repeat(10_000), 100);
    assert.equal(long.length, 101);
    assert.ok(long.endsWith('…'));
    assert.equal(sanitizeUpstreamText('denied at https://bob:hunter2@auth.example/token'), 'denied at https://auth.example/token');
  });
});
