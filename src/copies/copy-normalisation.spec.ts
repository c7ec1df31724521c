import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestHash } from '../operations/operations.service';
import { normaliseCopyRequest } from './copies.service';
import type { CopyRequestDto } from './copies.dto';

const fingerprint = (body: Partial<CopyRequestDto>, labels?: Record<string, string>) =>
  requestHash('copy', normaliseCopyRequest({ source: 'docker://r/a:1', destination: 'docker://m/a:1', ...body } as CopyRequestDto), labels);

describe('the idempotency fingerprint of a copy is taken after defaults are applied', () => {
  it('every default spelled out is the request that leaves them out', () => {
    const bare = fingerprint({});
    assert.equal(
      fingerprint({ sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none', platform: {}, additionalTags: [], artifactTypes: [] }),
      bare,
    );
    assert.equal(fingerprint({}, {}), bare, 'no labels = empty labels');
  });

  it('platforms and artifact types are sets: order and repeats do not matter', () => {
    const a = fingerprint({ multiArch: 'filtered', platforms: ['linux/arm64/v8', 'linux/amd64'], referrers: 'all', artifactTypes: ['b/x', 'a/y'] });
    const b = fingerprint({ multiArch: 'filtered', platforms: ['linux/amd64', 'linux/arm64/v8', 'linux/amd64'], referrers: 'all', artifactTypes: ['a/y', 'b/x', 'a/y'] });
    assert.equal(a, b);
  });

  it('a different meaning is a different fingerprint', () => {
    const bare = fingerprint({});
    for (const change of [{ multiArch: 'all' as const }, { referrers: 'all' as const }, { retryTimes: 1 }, { sourceTlsVerify: false }, { format: 'oci' as const }, { additionalTags: ['x'] }]) {
      assert.notEqual(fingerprint(change), bare, JSON.stringify(change));
    }
    assert.notEqual(fingerprint({}, { team: 'a' }), bare, 'labels count');
    assert.notEqual(fingerprint({ multiArch: 'filtered', platforms: ['linux/amd64'] }), fingerprint({ multiArch: 'sparse', platforms: ['linux/amd64'] }));
  });
});
