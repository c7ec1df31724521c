import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors/domain-error';
import { parseSemverConstraint, parseSemverVersion, semverMatches } from './semver-constraint';
import { compileTagRegex, filterTagsByRegex } from './tag-regex';

const TAGS = ['latest', '1.0', '1.2.3', 'v1.4.0', '1.4.0-rc.1', '2.0.0', '2', '01.2', 'v2.1', '1.10.0', '0.9.1', '3.0.0+build.1', 'main'];

describe('tag regex (Go RE2 syntax)', () => {
  const f = (p: string) => filterTagsByRegex(compileTagRegex(p), TAGS);

  it('searches unanchored, as MatchString', () => {
    assert.deepEqual(f('^v'), ['v1.4.0', 'v2.1']);
    assert.deepEqual(f('rc'), ['1.4.0-rc.1']);
    assert.deepEqual(f('^[0-9]+\\.[0-9]+$'), ['1.0', '01.2']);
  });

  it('translates RE2 spellings: leading flags, (?P<name>), POSIX classes, \\z and \\A', () => {
    assert.deepEqual(f('(?i)^MAIN$'), ['main']);
    assert.deepEqual(f('^(?P<major>\\d+)\\.0$'), ['1.0']);
    assert.deepEqual(f('^[[:alpha:]]+$'), ['latest', 'main']);
    assert.deepEqual(f('\\A2\\z'), ['2']);
  });

  it('refuses what RE2 refuses or cannot express in JavaScript', () => {
    for (const p of ['(a)\\1', '(?=x)', '(?<!x)y', '(?U)a+', '\\pL', '(a']) {
      assert.throws(() => compileTagRegex(p), (e: unknown) => e instanceof DomainError && e.code === 'INVALID_ARGUMENT', p);
    }
  });

  it('stops a pathological pattern instead of hanging', () => {
    const re = compileTagRegex('^(a+)+$');
    assert.throws(() => filterTagsByRegex(re, ['a'.repeat(40) + 'b']), /took longer than/);
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
});
