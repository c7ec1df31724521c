import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageReference } from './image-reference';
import { parseDockerReference } from './docker-reference';
import { dockerRepositoryTarget, formatTarget, normalizeStoragePath, patternTarget, ReferencePattern, treeTarget } from './reference-pattern';

const matches = (pattern: string, ref: string) => ReferencePattern.parse(pattern).matches(patternTarget(parseImageReference(ref)));

describe('reference patterns', () => {
  it('match docker references in their canonical form: docker.io/library, lower-cased host', () => {
    assert.ok(matches('docker://registry.internal/team-a/**', 'docker://registry.internal/team-a/app:1.0'));
    assert.ok(matches('docker://registry.internal/team-a/**', 'docker://Registry.Internal/team-a/sub/app@sha256:' + 'a'.repeat(64)));
    assert.ok(!matches('docker://registry.internal/team-a/**', 'docker://registry.internal/team-b/app:1.0'));
    assert.ok(!matches('docker://registry.internal/team-a/**', 'docker://registry.internal/team-a-evil/app:1.0'));
    assert.ok(!matches('docker://registry.internal/team-a/**', 'docker://registry.internal.evil/team-a/app:1.0'));
    assert.ok(matches('docker://docker.io/library/**', 'docker://busybox'));
    assert.ok(matches('docker://busybox', 'docker://docker.io/library/busybox:1'));
    assert.ok(matches('docker://index.docker.io/team/**', 'docker://team/app'));
    assert.ok(matches('docker://REGISTRY.internal:5000/x/*', 'docker://registry.internal:5000/x/app:1'));
  });

  it('* stays within a segment, ** crosses segments, a trailing /** includes the base', () => {
    assert.ok(matches('docker://r.example/team/*', 'docker://r.example/team/app:1'));
    assert.ok(!matches('docker://r.example/team/*', 'docker://r.example/team/sub/app:1'));
    assert.ok(matches('docker://r.example/**/app', 'docker://r.example/a/b/app:1'));
    assert.ok(matches('docker://r.example/**/app', 'docker://r.example/app:1'));
    assert.ok(matches('docker://*.example/team/**', 'docker://r.example/team/app:1'));
    assert.ok(!matches('docker://*.example/team/**', 'docker://r.example.evil/team/app:1'));
    assert.ok(matches('oci:team-a/**', 'oci:team-a'));
    assert.ok(matches('oci:team-a/**', 'oci:team-a/layout:v1'));
  });

  it('a repository pattern covers every tag and digest; an item restricts them', () => {
    assert.ok(matches('docker://r.example/app', 'docker://r.example/app:1.0'));
    assert.ok(matches('docker://r.example/app', 'docker://r.example/app@sha256:' + 'b'.repeat(64)));
    assert.ok(matches('docker://r.example/app:1.*', 'docker://r.example/app:1.2'));
    assert.ok(!matches('docker://r.example/app:1.*', 'docker://r.example/app:2.0'));
    assert.ok(matches('docker://r.example/app@sha256:*', 'docker://r.example/app@sha256:' + 'b'.repeat(64)));
    const repo = dockerRepositoryTarget(parseDockerReference('r.example/app'));
    assert.ok(ReferencePattern.parse('docker://r.example/app').matches(repo));
    assert.ok(!ReferencePattern.parse('docker://r.example/app:1.*').matches(repo), 'an item pattern never covers a whole repository');
  });

  it('normalises storage paths, so .. cannot slip past a directory pattern', () => {
    assert.ok(!matches('oci:team-a/**', 'oci:team-a/../team-b/x'));
    assert.ok(matches('oci:team-a/**', 'oci:./team-a//x/./y'));
    assert.ok(!matches('oci:team-a/**', 'oci-archive:team-a/x.tar'));
    assert.ok(matches('docker-archive:team-a/*.tar', 'docker-archive:team-a/app.tar:app:1'));
    assert.equal(normalizeStoragePath('a/../../b'), undefined);
    assert.equal(normalizeStoragePath('/etc'), undefined);
    assert.equal(normalizeStoragePath('./a/b/'), 'a/b');
    // the caller's resolved path wins over the lexical one (symbolic links)
    const ref = parseImageReference('oci:team-a/link');
    assert.ok(!ReferencePattern.parse('oci:team-a/**').matches(patternTarget(ref, { path: 'team-b/real' })));
  });

  it('the daemon transports match their normalised names; an image ID alone matches only an item pattern', () => {
    assert.ok(matches('docker-daemon:docker.io/team-a/**', 'docker-daemon:team-a/app:1'));
    assert.ok(!matches('docker-daemon:docker.io/team-a/**', 'docker-daemon:sha256:' + 'c'.repeat(64)));
    assert.ok(matches('containers-storage:localhost/**', 'containers-storage:localhost/app:1'));
  });

  it('covers trees only through a trailing /** over the tree or an ancestor', () => {
    const ns = treeTarget('docker', 'registry.internal/team-a/mirror');
    assert.ok(ReferencePattern.parse('docker://registry.internal/team-a/**').coversTree(ns));
    assert.ok(ReferencePattern.parse('docker://registry.internal/team-a/mirror/**').coversTree(ns));
    assert.ok(!ReferencePattern.parse('docker://registry.internal/team-a/mirror/*').coversTree(ns));
    assert.ok(!ReferencePattern.parse('docker://registry.internal/team-a/mirror/sub/**').coversTree(ns));
    assert.ok(!ReferencePattern.parse('docker://registry.internal/team-b/**').coversTree(ns));
    assert.ok(ReferencePattern.parse('dir:**').coversTree(treeTarget('dir', 'x/y')));
    assert.equal(formatTarget(ns, { tree: true }), 'docker://registry.internal/team-a/mirror/**');
  });

  it('refuses malformed patterns', () => {
    for (const p of ['registry/x', 'oci:/abs', 'oci:a/../../b', 'dir:..', 'docker://r.example/app:', 'docker:// x', '']) {
      assert.throws(() => ReferencePattern.parse(p), Error, p);
    }
  });
});
