import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../../errors/domain-error';
import { nextLink, nextPagePath } from './link-header';

const BASE = 'https://reg.example:5000/v2/team/app/tags/list?n=2';

describe('nextLink', () => {
  it('returns undefined without a Link header', () => {
    assert.equal(nextLink(undefined, BASE), undefined);
    assert.equal(nextLink('', BASE), undefined);
  });

  it('resolves a root-relative link against the current URL (what distribution sends)', () => {
    assert.equal(nextLink('</v2/team/app/tags/list?last=b&n=2>; rel="next"', BASE), 'https://reg.example:5000/v2/team/app/tags/list?last=b&n=2');
  });

  it('resolves a path-relative link against the current URL', () => {
    assert.equal(nextLink('<list?last=b&n=2>; rel="next"', BASE), 'https://reg.example:5000/v2/team/app/tags/list?last=b&n=2');
  });

  it('keeps an absolute link as it is, even to another host (the caller decides)', () => {
    assert.equal(nextLink('<https://cdn.example/v2/team/app/tags/list?last=b>; rel="next"', BASE), 'https://cdn.example/v2/team/app/tags/list?last=b');
    assert.equal(nextLink('<http://reg.example:5000/v2/x?last=1>; rel="next"', BASE), 'http://reg.example:5000/v2/x?last=1');
    assert.equal(nextLink('<//other.example/v2/x>; rel="next"', BASE), 'https://other.example/v2/x');
  });

  it('picks rel="next" among several links, in any position', () => {
    const header = '<https://reg.example:5000/v2/a?p=1>; rel="prev", <https://reg.example:5000/v2/a?p=3>; rel="next", <https://reg.example:5000/v2/a?p=9>; rel="last"';
    assert.equal(nextLink(header, BASE), 'https://reg.example:5000/v2/a?p=3');
    assert.equal(nextLink('</v2/a?p=3>; rel="next",</v2/a?p=1>; rel="prev"', BASE), 'https://reg.example:5000/v2/a?p=3');
  });

  it('accepts unquoted and upper-case rel, extra parameters and spacing variants', () => {
    assert.equal(nextLink('</v2/a?p=2>;rel=next', BASE), 'https://reg.example:5000/v2/a?p=2');
    assert.equal(nextLink('</v2/a?p=2>; REL="NEXT"', BASE), 'https://reg.example:5000/v2/a?p=2');
    assert.equal(nextLink('</v2/a?p=2>; type="application/json"; rel="next"', BASE), 'https://reg.example:5000/v2/a?p=2');
    assert.equal(nextLink('  </v2/a?p=2> ;  rel="next"  ', BASE), 'https://reg.example:5000/v2/a?p=2');
  });

  it('does not split a link on a comma inside its URL', () => {
    assert.equal(nextLink('</v2/a?last=x,y&n=2>; rel="next"', BASE), 'https://reg.example:5000/v2/a?last=x,y&n=2');
  });

  it('returns undefined when no link is rel="next"', () => {
    assert.equal(nextLink('</v2/a?p=1>; rel="prev"', BASE), undefined);
    assert.equal(nextLink('</v2/a?p=1>; rel="last", </v2/a?p=0>; rel="first"', BASE), undefined);
    assert.equal(nextLink('</v2/a?p=1>', BASE), undefined);
    assert.equal(nextLink('/v2/a?p=1; rel="next"', BASE), undefined);
    assert.equal(nextLink('garbage', BASE), undefined);
  });

  // RFC 8288: rel is a space-separated list of relation types; "next-archive" (RFC 5005) is
  // another relation, not "next".
  it('reads rel as a list of relation types: "prev next" is next, "next-archive" is not', () => {
    assert.equal(nextLink('</v2/a?p=2>; rel="prev next"', BASE), 'https://reg.example:5000/v2/a?p=2');
    assert.equal(nextLink('</v2/a?archive=1>; rel="next-archive"', BASE), undefined);
    assert.equal(nextLink('</v2/a?p=2>; rel=nextpage', BASE), undefined);
  });

  // A hostile or broken upstream must produce a domain error (or be ignored), not a TypeError
  // that surfaces as an internal server error.
  it('does not throw a bare TypeError for an unparsable link target', () => {
    let result: string | undefined;
    try {
      result = nextLink('<http://[not-an-ip>; rel="next"', BASE);
    } catch (e) {
      assert.ok(e instanceof DomainError, `expected a DomainError, got ${String(e)}`);
      return;
    }
    assert.equal(result, undefined);
  });
});

// Upstream headers are hostile input: the parser must take time linear in their length. The
// old regex backtracked exponentially on ~70 characters of ";  x" repeated; each case below
// would not finish under it. The timeout only turns a hang into a failure (no timing assertion).
describe('nextLink on hostile headers (100 KB)', { timeout: 20_000 }, () => {
  const hostile: Array<[string, string]> = [
    ['";  x" repeated after a target', '</v2/a?p=2>' + ';  x'.repeat(25_000)],
    ['";  x" repeated, then rel="next"', '</v2/a?p=2>' + ';  x'.repeat(25_000) + '; rel="next"'],
    ['spaces and semicolons only', '</v2/a>' + '; '.repeat(50_000)],
    ['an unterminated quote', '</v2/a>; rel="' + 'n'.repeat(100_000)],
    ['"<" without ">"', '<'.repeat(100_000)],
    ['commas and spaces', '</v2/a>; rel=prev' + ', '.repeat(50_000)],
    ['many links, none next', '</v2/a>; rel=prev, '.repeat(5_000)],
    ['an escaped-quote storm', '</v2/a>; x="' + '\\"'.repeat(50_000)],
  ];
  for (const [label, value] of hostile) {
    it(label, () => {
      let out: string | undefined;
      try {
        out = nextLink(value, BASE);
      } catch (e) {
        assert.ok(e instanceof DomainError);
        return;
      }
      if (out !== undefined) assert.equal(out, 'https://reg.example:5000/v2/a?p=2');
    });
  }

  it('finds the next link after 100 KB of other links', () => {
    const header = '</v2/a?p=0>; rel="prev", '.repeat(4_000) + '</v2/a?p=2>; rel="next"';
    assert.ok(header.length > 100_000);
    assert.equal(nextLink(header, BASE), 'https://reg.example:5000/v2/a?p=2');
  });

  it('never shows userinfo of a broken target', () => {
    assert.throws(() => nextLink('<http://user:secret@[not-an-ip>; rel="next"', BASE), (e: unknown) => e instanceof DomainError && !e.message.includes('secret'));
  });
});

describe('nextPagePath', () => {
  it('the same-host path and query of the next page; another host refused; undefined on the last page', () => {
    assert.equal(nextPagePath('<https://reg.example:5000/v2/team/app/tags/list?last=b>; rel="next"', BASE, 'listing', 'reg.example:5000'), '/v2/team/app/tags/list?last=b');
    assert.equal(nextPagePath('</v2/x?last=b>; rel="next-archive"', BASE, 'listing', 'reg.example:5000'), undefined);
    assert.throws(
      () => nextPagePath('<https://elsewhere.example/v2/x>; rel="next"', BASE, 'listing', 'reg.example:5000'),
      (e: unknown) => e instanceof DomainError && e.code === 'UPSTREAM_PROTOCOL_ERROR' && /another host \(elsewhere\.example\)/.test(e.message),
    );
  });
});
