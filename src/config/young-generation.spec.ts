import { test } from 'node:test';
import assert from 'node:assert/strict';
import { youngGenerationFlags } from './young-generation';

test('keeps the young generation at its initial size unless the operator sized it', () => {
  assert.equal(youngGenerationFlags([], undefined), '--semi-space-growth-factor=1');
  assert.equal(youngGenerationFlags(['--enable-source-maps'], '--max-old-space-size=512'), '--semi-space-growth-factor=1');
  assert.equal(youngGenerationFlags(['--max-semi-space-size=64'], undefined), undefined);
  assert.equal(youngGenerationFlags([], '--cpu-prof --min_semi_space_size=4'), undefined);
  assert.equal(youngGenerationFlags([], '--semi-space-growth-factor=2'), undefined);
});
