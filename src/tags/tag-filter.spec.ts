import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, filterTags } from './tag-filter';

/** The reference semantics: the glob as an anchored regular expression. */
function reference(pattern: string, tag: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(tag);
}

describe('tag globs', () => {
  it('match like anchored wildcards', () => {
    const cases: [string, string, boolean][] = [
      ['1.*', '1.2.3', true],
      ['1.*', '11.2', false],
      ['*-rc?', '2.0-rc1', true],
      ['*-rc?', '2.0-rc10', false],
      ['v?.?', 'v1.2', true],
      ['*', '', true],
      ['a*b*c', 'abc', true],
      ['a*b*c', 'acb', false],
      ['a*b*c', 'aXbYbZc', true],
      ['*aa*aa', 'aaa', false],
      ['*aa*aa', 'aaaa', true],
      ['latest', 'latest', true],
      ['latest', 'latest2', false],
    ];
    for (const [p, t, want] of cases) assert.equal(compileGlob(p)(t), want, `${p} ~ ${t}`);
  });

  it('agree with the regular-expression reading on random patterns and tags', () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const alphabet = 'ab.-';
    for (let i = 0; i < 3000; i++) {
      const p = Array.from({ length: 1 + rand(8) }, () => (rand(4) === 0 ? '*' : rand(5) === 0 ? '?' : alphabet[rand(alphabet.length)])).join('');
      const t = Array.from({ length: rand(12) }, () => alphabet[rand(alphabet.length)]).join('');
      assert.equal(compileGlob(p)(t), reference(p, t), `${p} ~ ${t}`);
    }
  });

  it('refuse other characters and over-long pieces', () => {
    for (const bad of ['(a|b)', 'a/b', '', 'a[0-9]', 'x'.repeat(32), `${'x'.repeat(31)}*${'y'.repeat(32)}`]) assert.throws(() => compileGlob(bad), /pattern/, bad);
    assert.doesNotThrow(() => compileGlob(`${'x'.repeat(31)}*${'y'.repeat(31)}`));
  });

  it('stay linear on hostile inputs (a pattern that backtracks exponentially in a naive matcher)', () => {
    const m = compileGlob('*a*a*a*a*a*a*a*a*a*a*b');
    const tag = 'a'.repeat(128);
    for (let i = 0; i < 20_000; i++) assert.equal(m(tag), false);
  });
});

describe('filterTags', () => {
  const tags = ['1.0', '1.1', '2.0-rc1', 'latest', 'sha256-' + 'a'.repeat(64), 'sha256-' + 'a'.repeat(64) + '.sig'];

  it('includes, excludes and leaves out digest tags, keeping the order', async () => {
    assert.deepEqual(await filterTags(tags, {}), tags);
    assert.deepEqual(await filterTags(tags, { excludeDigestTags: true }), ['1.0', '1.1', '2.0-rc1', 'latest']);
    assert.deepEqual(await filterTags(tags, { include: ['1.*', 'latest'] }), ['1.0', '1.1', 'latest']);
    assert.deepEqual(await filterTags(tags, { exclude: ['*-rc*', 'sha256-*'] }), ['1.0', '1.1', 'latest']);
  });

  it('filters 100,000 tags while yielding to the event loop', async () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `v${i}`);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const kept = await filterTags(many, { include: ['v9*'] });
    clearInterval(timer);
    assert.equal(kept.length, 11_111);
    assert.ok(ticks > 0);
  });
});
