import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors/domain-error';
import { parseSemverConstraint, parseSemverVersion, semverMatches } from './semver-constraint';
import { compileTagRegex, filterTagsByRegex, MatchBudget } from './tag-regex';

/** About 55 characters that made the old JavaScript-regex parser backtrack for minutes. */
const HOSTILE_CONSTRAINT = '1' + '   1'.repeat(13) + ' !';

const TAGS = ['latest', '1.0', '1.2.3', 'v1.4.0', '1.4.0-rc.1', '2.0.0', '2', '01.2', 'v2.1', '1.10.0', '0.9.1', '3.0.0+build.1', 'main'];

describe('tag regex (Go RE2 syntax, on RE2JS)', () => {
  const f = (p: string) => filterTagsByRegex(compileTagRegex(p), TAGS);

  it('searches unanchored, as MatchString', async () => {
    assert.deepEqual(await f('^v'), ['v1.4.0', 'v2.1']);
    assert.deepEqual(await f('rc'), ['1.4.0-rc.1']);
    assert.deepEqual(await f('^[0-9]+\\.[0-9]+$'), ['1.0', '01.2']);
  });

  it('takes RE2 spellings: leading flags, (?P<name>), POSIX classes, \\z and \\A, \\pL, \\Q…\\E, (?U)', async () => {
    assert.deepEqual(await f('(?i)^MAIN$'), ['main']);
    assert.deepEqual(await f('^(?P<major>\\d+)\\.0$'), ['1.0']);
    assert.deepEqual(await f('^[[:alpha:]]+$'), ['latest', 'main']);
    assert.deepEqual(await f('\\A2\\z'), ['2']);
    assert.deepEqual(await f('^\\pL+$'), ['latest', 'main']);
    assert.deepEqual(await f('^\\Q1.0\\E$'), ['1.0']);
    assert.deepEqual(await f('(?U)^v2.+'), ['v2.1']);
  });

  it('refuses what Go\'s regexp.Compile refuses: backreferences, lookaround, repeats over 1000, bad syntax', () => {
    for (const p of ['(a)\\1', '(?=x)', '(?<!x)y', 'a{1001}', '(a{100}){100}', '(a', '\\Z', 'x'.repeat(1025)]) {
      assert.throws(() => compileTagRegex(p), (e: unknown) => e instanceof DomainError && e.code === 'INVALID_ARGUMENT', p.slice(0, 20));
    }
  });

  it('matches a pattern that backtracks catastrophically in JavaScript in linear time', async () => {
    const re = compileTagRegex('^(a+)+$');
    assert.deepEqual(await filterTagsByRegex(re, ['a'.repeat(128) + 'b', 'a'.repeat(100)]), ['a'.repeat(100)]);
  });

  it('stops when the sync\'s budget of match time is used up, and yields to the event loop meanwhile', async () => {
    const re = compileTagRegex('(a|b|c){1000}');
    const tags = Array.from({ length: 20_000 }, (_, i) => `${'ab'.repeat(60)}${i}`);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await assert.rejects(filterTagsByRegex(re, tags, new MatchBudget(200)), (e: unknown) => e instanceof DomainError && e.code === 'INVALID_ARGUMENT' && /used up this sync's 200 ms/.test(e.message));
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, 'timers ran while matching');
  });
});

describe('semver constraints (Masterminds/semver v3)', () => {
  const sel = (c: string) => TAGS.filter((t) => semverMatches(parseSemverConstraint(c), t));

  it('parses versions loosely like NewVersion', () => {
    assert.deepEqual(parseSemverVersion('v2.1'), { major: 2, minor: 1, patch: 0, pre: '', original: 'v2.1' });
    assert.equal(parseSemverVersion('01.2'), undefined);
    assert.equal(parseSemverVersion('latest'), undefined);
    assert.equal(parseSemverVersion('1.4.0-rc.1')!.pre, 'rc.1');
  });

  it('selects with comparison operators, AND by comma or space, OR by ||', () => {
    assert.deepEqual(sel('>= 1.2, < 2'), ['1.2.3', 'v1.4.0', '1.10.0']);
    assert.deepEqual(sel('>=1.2 <2'), ['1.2.3', 'v1.4.0', '1.10.0']);
    assert.deepEqual(sel('< 1 || >= 3'), ['0.9.1', '3.0.0+build.1']);
    assert.deepEqual(sel('!= 2.0.0, >= 2'), ['v2.1', '3.0.0+build.1']);
  });

  it('handles ~, ^, wildcards and hyphen ranges as Masterminds does', () => {
    assert.deepEqual(sel('~1.2'), ['1.2.3']);
    assert.deepEqual(sel('^1.2'), ['1.2.3', 'v1.4.0', '1.10.0']);
    assert.deepEqual(sel('^0.9'), ['0.9.1']);
    assert.deepEqual(sel('1.x'), ['1.0', '1.2.3', 'v1.4.0', '1.10.0']);
    assert.deepEqual(sel('2'), ['2.0.0', '2', 'v2.1']);
    assert.deepEqual(sel('1.2 - 1.4'), ['1.2.3', 'v1.4.0']);
    assert.deepEqual(sel('*'), ['1.0', '1.2.3', 'v1.4.0', '2.0.0', '2', 'v2.1', '1.10.0', '0.9.1', '3.0.0+build.1']);
  });

  it('matches prereleases only for constraints that name one', () => {
    assert.deepEqual(sel('~1.4.0-rc.0'), ['v1.4.0', '1.4.0-rc.1']);
    // every conjunct must name a prerelease for a prerelease to pass it
    assert.deepEqual(sel('>= 1.4.0-rc.0, < 1.5'), ['v1.4.0']);
    assert.ok(!sel('>= 1.0').includes('1.4.0-rc.1'));
  });

  it('refuses what is not a constraint', () => {
    for (const c of ['>= banana', '1.2.3.4', '>>1']) assert.throws(() => parseSemverConstraint(c), /improper constraint/, c);
  });

  it('parses hostile constraints in linear time (they froze the JavaScript regular expressions)', () => {
    for (const c of [HOSTILE_CONSTRAINT, '1'.repeat(1000) + '!', ('>= 1.2.3 ').repeat(100) + '!', '1.x.x-' + 'a.'.repeat(400) + '!']) {
      assert.throws(() => parseSemverConstraint(c), /improper constraint/, c.slice(0, 20));
    }
    assert.equal(parseSemverConstraint(('>= 1.2.3, ').repeat(100) + '< 2').alternatives[0]!.length, 101);
  });
});
