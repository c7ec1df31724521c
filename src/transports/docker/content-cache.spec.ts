import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiringLru } from './content-cache';

describe('ExpiringLru', () => {
  it('forgets entries unused for idleMs or past their own expiry, telling onEvict', () => {
    let now = 0;
    const evicted: string[] = [];
    const m = new ExpiringLru<string, number>({ max: 10, idleMs: 100, now: () => now, onEvict: (k) => evicted.push(k) });
    m.set('a', 1);
    m.set('b', 2, 50);
    now = 60;
    assert.equal(m.get('a'), 1, 'used at 60: stays');
    assert.equal(m.get('b'), undefined, 'past its expiry');
    now = 150;
    assert.equal(m.get('a'), 1);
    now = 251;
    assert.equal(m.get('a'), undefined, 'idle for more than 100');
    assert.deepEqual(evicted, ['b', 'a']);
  });

  it('keeps at most max entries, the least recently used going first, and sweeps expired ones on writes', () => {
    let now = 0;
    const evicted: number[] = [];
    const m = new ExpiringLru<number, string>({ max: 3, idleMs: 1000, now: () => now, onEvict: (k) => evicted.push(k) });
    m.set(1, 'a');
    m.set(2, 'b');
    m.set(3, 'c');
    m.get(1);
    m.set(4, 'd');
    assert.deepEqual(evicted, [2]);
    assert.equal(m.size, 3);
    now = 5000;
    m.set(5, 'e');
    assert.equal(m.size, 1, 'the idle ones were swept');
  });

  it('10,000 hosts through a map of 256 stay at 256', () => {
    const closed: number[] = [];
    const m = new ExpiringLru<string, { id: number }>({ max: 256, idleMs: 60_000, onEvict: (_k, v) => closed.push(v.id) });
    for (let i = 0; i < 10_000; i++) m.set(`host-${i}.example`, { id: i });
    assert.equal(m.size, 256);
    assert.equal(closed.length, 10_000 - 256);
  });
});
