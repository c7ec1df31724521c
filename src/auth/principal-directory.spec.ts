import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { RE2JS } from 're2js';
import { parseImageReference } from '../image-spec/image-reference';
import { patternTarget, treeTarget } from '../image-spec/reference-pattern';
import { SCOPES } from '../config/principals-file';
import { PrincipalDirectory } from './principal-directory';
import { referenceAllowed, requireReferenceAccess, requireTreeAccess } from './reference-access';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

describe('PrincipalDirectory', () => {
  const dir = new PrincipalDirectory({
    apiTokens: ['first-token-0123456789', 'second-token-0123456789'],
    principals: [{ name: 'team-a', tokenSha256: sha('team-a-token-0123456789'), scopes: ['images:read'], sources: ['docker://r.example/team-a/**'], destinations: [] }],
  });

  it('maps tokens to principals: SKIFF_API_TOKENS entries are full-access token-N', () => {
    assert.equal(dir.shared, true);
    const t2 = dir.authenticate('second-token-0123456789');
    assert.equal(t2?.name, 'token-2');
    assert.deepEqual([...t2!.scopes].sort(), [...SCOPES].sort());
    const a = dir.authenticate('team-a-token-0123456789');
    assert.equal(a?.name, 'team-a');
    assert.deepEqual([...a!.scopes], ['images:read']);
    assert.equal(dir.authenticate('team-a-token-012345678'), undefined);
    assert.equal(dir.authenticate(''), undefined);
    assert.equal(dir.byName('team-a'), a);
    assert.equal(new PrincipalDirectory({ apiTokens: [], principals: [] }).shared, false);
  });

  it('checks references against the principal\'s own patterns and names the refusing set', () => {
    const a = dir.byName('team-a')!;
    requireReferenceAccess(a, 'source', patternTarget(parseImageReference('docker://r.example/team-a/app:1')));
    assert.throws(
      () => requireReferenceAccess(a, 'source', patternTarget(parseImageReference('docker://r.example/team-b/app:1'))),
      /source docker:\/\/r.example\/team-b\/app:1 is outside the source patterns of principal team-a/,
    );
    assert.throws(() => requireReferenceAccess(a, 'destination', patternTarget(parseImageReference('oci:x'))), /outside the destination patterns/);
    assert.throws(() => requireTreeAccess(a, 'destination', treeTarget('docker', 'r.example/team-a')), /docker:\/\/r.example\/team-a\/\*\* is outside/);
    requireTreeAccess(a, 'source', treeTarget('docker', 'r.example/team-a/sub'));
    requireReferenceAccess(dir.byName('token-1')!, 'destination', patternTarget(parseImageReference('oci:anything')));
  });
});

describe('PrincipalDirectory.actingAs (operations run in their submitter\'s name)', () => {
  it('is the local user without tokens, full access with SKIFF_API_TOKENS only, and nothing for an unknown name otherwise', () => {
    assert.equal(new PrincipalDirectory({ apiTokens: [], principals: [] }).actingAs(undefined).name, 'local');
    const tokensOnly = new PrincipalDirectory({ apiTokens: ['first-token-0123456789'], principals: [] });
    assert.equal(tokensOnly.actingAs('token-1').name, 'token-1');
    assert.deepEqual([...tokensOnly.actingAs(undefined).scopes].sort(), [...SCOPES].sort());
    const withFile = new PrincipalDirectory({ apiTokens: [], principals: [{ name: 'a', tokenSha256: sha('a-token-0123456789abc'), scopes: ['images:read'] }] });
    assert.equal(withFile.actingAs('a').name, 'a');
    const gone = withFile.actingAs('removed');
    assert.equal(gone.name, 'removed');
    assert.equal(gone.scopes.size, 0);
    assert.deepEqual(gone.sources, []);
    assert.equal(withFile.actingAs(undefined).scopes.size, 0);
  });
});

describe('reference patterns are compiled once per principal', () => {
  it('compiles them when the principals are loaded, never again on a check (tree checks included)', () => {
    const original = RE2JS.compile.bind(RE2JS);
    let compiles = 0;
    const counting = ((...args: Parameters<typeof RE2JS.compile>) => {
      compiles++;
      return original(...args);
    }) as typeof RE2JS.compile;
    RE2JS.compile = counting;
    try {
      const dir = new PrincipalDirectory({
        apiTokens: [],
        principals: [
          {
            name: 'team-c',
            tokenSha256: sha('team-c-token-0123456789'),
            scopes: ['images:read'],
            sources: ['docker://r.example/team-c/**', 'docker://r.example/shared/app:1.*', 'oci:team-c/**'],
            destinations: ['docker://r.example/team-c/**'],
          },
        ],
      });
      const atLoad = compiles;
      assert.ok(atLoad > 0, 'compiled when loaded');
      const c = dir.byName('team-c')!;
      const same = { ...c };
      for (let i = 0; i < 50; i++) {
        assert.ok(referenceAllowed(c, 'source', patternTarget(parseImageReference('docker://r.example/team-c/app:1'))));
        assert.ok(referenceAllowed(same, 'source', patternTarget(parseImageReference('docker://r.example/shared/app:1.2'))));
        assert.ok(!referenceAllowed(c, 'source', patternTarget(parseImageReference('docker://r.example/shared/app:2'))));
        requireTreeAccess(c, 'source', treeTarget('docker', 'r.example/team-c/sub'));
        requireTreeAccess(c, 'destination', treeTarget('docker', 'r.example/team-c'));
        assert.throws(() => requireTreeAccess(c, 'destination', treeTarget('docker', 'r.example/team-d')), /outside the destination patterns/);
      }
      assert.equal(compiles, atLoad, 'no compilation on a check');
    } finally {
      RE2JS.compile = original;
    }
  });
});
