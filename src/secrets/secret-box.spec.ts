import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SecretBox, SecretUnavailableError } from './secret-box';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const unavailable = (re: RegExp) => (e: unknown) => e instanceof SecretUnavailableError && e.code === 'CREDENTIALS_UNAVAILABLE' && re.test(e.message);

describe('SecretBox', () => {
  it('seals under the first key and opens under any configured key (rotation)', () => {
    const old = new SecretBox([k1]);
    const sealed = old.seal({ password: 'p@ss' }, 'where');
    assert.ok(!sealed.includes('p@ss'));
    assert.equal(old.keyIdOf(sealed), old.currentKeyId);
    const rotated = new SecretBox([k2, k1]);
    assert.deepEqual(rotated.open(sealed, 'where'), { password: 'p@ss' });
    assert.equal(rotated.needsReseal(sealed), true);
    const resealed = rotated.seal({ password: 'p@ss' }, 'where');
    assert.equal(rotated.keyIdOf(resealed), rotated.currentKeyId);
    assert.notEqual(rotated.currentKeyId, old.currentKeyId);
    assert.equal(rotated.needsReseal(resealed), false);
    assert.throws(() => old.open(resealed, 'where'), unavailable(new RegExp(`sealed under key ${rotated.currentKeyId}, which is not among the configured keys`)));
  });

  it('refuses what was altered or sealed for something else, and says when no key is configured', () => {
    const box = new SecretBox([k1]);
    const sealed = box.seal('x', 'a');
    assert.throws(() => box.open(sealed, 'b'), unavailable(/does not authenticate/));
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    assert.throws(() => box.open(parts.join('.'), 'a'), unavailable(/does not authenticate/));
    assert.throws(() => box.open('plain text', 'a'), unavailable(/not in a format/));
    const none = new SecretBox([]);
    assert.equal(none.enabled, false);
    assert.equal(none.currentKeyId, undefined);
    assert.equal(none.needsReseal(sealed), false);
    assert.throws(() => none.open(sealed, 'a'), unavailable(/no key is configured \(SKIFF_SECRET_KEY/));
    assert.equal(box.keyIdOf('not sealed'), undefined);
  });
});
