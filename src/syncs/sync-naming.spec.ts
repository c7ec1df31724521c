import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDockerReference } from '../image-spec/docker-reference';
import { formatImageReference } from '../image-spec/image-reference';
import { InvalidReferenceError } from '../image-spec/invalid-reference-error';
import { type DestinationNaming, destinationFor, dirSuffix, dockerSuffix } from './sync-naming';

const D = 'sha256:' + 'b'.repeat(64);
const name = (suffix: string, n: Partial<DestinationNaming> = {}) =>
  formatImageReference(destinationFor(suffix, { destinationType: 'docker', destination: 'mirror.example:5000/ns', scoped: false, ...n }));

describe('sync destination names (skopeo sync)', () => {
  it('keeps the last path component of the source repository, with its tag or digest', () => {
    assert.equal(name(dockerSuffix(parseDockerReference('src.example:5000/team/app:1.0'))), 'docker://mirror.example:5000/ns/app:1.0');
    assert.equal(name(dockerSuffix(parseDockerReference(`src.example:5000/team/app@${D}`))), `docker://mirror.example:5000/ns/app@${D}`);
    assert.equal(name(dockerSuffix(parseDockerReference('busybox:latest'))), 'docker://mirror.example:5000/ns/busybox:latest');
  });

  it('scoped puts host/repository under the destination; a host port becomes host_port', () => {
    assert.equal(name(dockerSuffix(parseDockerReference('src.example/team/app:1.0')), { scoped: true }), 'docker://mirror.example:5000/ns/src.example/team/app:1.0');
    assert.equal(name(dockerSuffix(parseDockerReference('127.0.0.1:5000/team/app:1.0')), { scoped: true }), 'docker://mirror.example:5000/ns/127.0.0.1_5000/team/app:1.0');
    assert.equal(name(dockerSuffix(parseDockerReference('busybox:1')), { scoped: true }), 'docker://mirror.example:5000/ns/docker.io/library/busybox:1');
  });

  it('appendSuffix goes after the tag; a digest keeps its digest', () => {
    assert.equal(name('src.example/app:1.0', { appendSuffix: '-m' }), 'docker://mirror.example:5000/ns/app:1.0-m');
    assert.equal(name(`src.example/app@${D}`, { appendSuffix: '-m' }), `docker://mirror.example:5000/ns/app@${D}`);
  });

  it('dir sources: the path below the source directory, or the directory itself; no tag means latest', () => {
    assert.equal(dirSuffix('mirror', 'mirror/app:1.0'), '/app:1.0');
    assert.equal(dirSuffix('mirror/app:1.0', 'mirror/app:1.0'), 'app:1.0');
    assert.equal(name(dirSuffix('mirror', 'mirror/team/app:1.0')), 'docker://mirror.example:5000/ns/app:1.0');
    assert.equal(name(dirSuffix('mirror', 'mirror/plain')), 'docker://mirror.example:5000/ns/plain:latest');
    assert.equal(name(dirSuffix('mirror', 'mirror/127.0.0.1:5000/team/app:1.0'), { scoped: true }), 'docker://mirror.example:5000/ns/127.0.0.1_5000/team/app:1.0');
  });

  it('dir destinations keep skopeo’s names exactly (colons and all)', () => {
    const dir = (suffix: string, n: Partial<DestinationNaming> = {}) => formatImageReference(destinationFor(suffix, { destinationType: 'dir', destination: 'out', scoped: false, ...n }));
    assert.equal(dir('127.0.0.1:5000/team/app:1.0'), 'dir:out/app:1.0');
    assert.equal(dir('127.0.0.1:5000/team/app:1.0', { scoped: true, appendSuffix: '-x' }), 'dir:out/127.0.0.1:5000/team/app:1.0-x');
  });

  it('refuses a name that is not a reference', () => {
    assert.throws(() => name(dirSuffix('mirror', 'mirror/UPPER:1')), InvalidReferenceError);
  });
});
