import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ImageReference,
  InvalidReferenceError,
  TRANSPORT_NAMES,
  dockerReferenceOf,
  formatImageReference,
  isValidOciImageName,
  parseImageReference,
} from './image-reference';

const HEX64 = '0123456789abcdef'.repeat(4);
const ID = 'f'.repeat(64);
const D256 = `sha256:${HEX64}`;
const D512 = `sha512:${'e'.repeat(128)}`;

const BUSYBOX_LATEST = { domain: 'docker.io', path: 'library/busybox', tag: 'latest' } as const;

/** input → expected parse result → expected canonical string */
type Positive = [input: string, expected: ImageReference, canonical: string];

function assertInvalid(input: string, reasonPattern: RegExp): void {
  assert.throws(
    () => parseImageReference(input),
    (err: unknown) => {
      assert.ok(err instanceof InvalidReferenceError, `expected InvalidReferenceError, got ${String(err)}`);
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'INVALID_REFERENCE');
      assert.equal(err.subject, 'image name');
      assert.equal(err.input, input);
      assert.match(err.reason, reasonPattern);
      assert.ok(err.message.startsWith(`invalid image name ${JSON.stringify(input)}: `), err.message);
      return true;
    },
  );
}

function checkPositives(cases: Positive[]): void {
  for (const [input, expected, canonical] of cases) {
    it(`parses ${input}`, () => {
      const ref = parseImageReference(input);
      assert.deepEqual(ref, expected);
      assert.equal(formatImageReference(ref), canonical);
      // parse → format → parse is the identity, and the canonical string is a fixed point.
      assert.deepEqual(parseImageReference(canonical), ref);
      assert.equal(formatImageReference(parseImageReference(canonical)), canonical);
    });
  }
}

function checkNegatives(cases: Array<[string, RegExp]>): void {
  for (const [input, reason] of cases) {
    const label = input.length > 60 ? `${input.slice(0, 60)}…` : input;
    it(`rejects ${JSON.stringify(label)}`, () => assertInvalid(input, reason));
  }
}

describe('transport selection', () => {
  const list = /containers-storage, dir, docker, docker-archive, docker-daemon, oci, oci-archive/;
  checkNegatives([
    ['busybox', /expected colon-separated transport:reference/],
    ['', /expected colon-separated transport:reference/],
    ['quay.io/busybox', /expected colon-separated transport:reference/],
    ['foo:bar', /unknown transport "foo"/],
    ['busybox:latest', /unknown transport "busybox"/],
    ['DOCKER://busybox', /unknown transport "DOCKER"/],
    [':busybox', /unknown transport ""/],
    ['sif:/tmp/x.sif', /unknown transport "sif"/],
    ['tarball:/tmp/x.tar', /unknown transport "tarball"/],
  ]);

  it('lists the valid transports in both messages', () => {
    for (const input of ['busybox', 'foo:bar']) {
      assert.throws(() => parseImageReference(input), (err: unknown) => err instanceof Error && list.test(err.message));
    }
    assert.deepEqual([...TRANSPORT_NAMES].sort(), [...TRANSPORT_NAMES]);
  });
});

describe('docker:', () => {
  checkPositives([
    ['docker://busybox', { transport: 'docker', named: BUSYBOX_LATEST }, 'docker://busybox:latest'],
    ['docker://busybox:latest', { transport: 'docker', named: BUSYBOX_LATEST }, 'docker://busybox:latest'],
    ['docker://docker.io/library/busybox', { transport: 'docker', named: BUSYBOX_LATEST }, 'docker://busybox:latest'],
    ['docker://index.docker.io/busybox', { transport: 'docker', named: BUSYBOX_LATEST }, 'docker://busybox:latest'],
    [
      'docker://quay.io/skopeo/stable:v1.14',
      { transport: 'docker', named: { domain: 'quay.io', path: 'skopeo/stable', tag: 'v1.14' } },
      'docker://quay.io/skopeo/stable:v1.14',
    ],
    [
      `docker://busybox@${D256}`,
      { transport: 'docker', named: { domain: 'docker.io', path: 'library/busybox', digest: D256 } },
      `docker://busybox@${D256}`,
    ],
    [
      `docker://ghcr.io/o/r@${D512}`,
      { transport: 'docker', named: { domain: 'ghcr.io', path: 'o/r', digest: D512 } },
      `docker://ghcr.io/o/r@${D512}`,
    ],
    [
      'docker://localhost:5000/team/app',
      { transport: 'docker', named: { domain: 'localhost:5000', path: 'team/app', tag: 'latest' } },
      'docker://localhost:5000/team/app:latest',
    ],
    [
      'docker://[::1]:5000/app:1',
      { transport: 'docker', named: { domain: '[::1]:5000', path: 'app', tag: '1' } },
      'docker://[::1]:5000/app:1',
    ],
    [
      'docker://foo/bar',
      { transport: 'docker', named: { domain: 'docker.io', path: 'foo/bar', tag: 'latest' } },
      'docker://foo/bar:latest',
    ],
  ]);
  checkNegatives([
    ['docker:busybox', /^docker: image reference busybox does not start with \/\/$/],
    ['docker:/busybox', /does not start with \/\//],
    ['docker:', /does not start with \/\//],
    ['docker://', /at least one component/],
    ['docker:///busybox', /docker reference "\/busybox"/],
    ['docker://BusyBox', /repository name \(library\/BusyBox\) must be lowercase/],
    ['docker://busybox:-x', /invalid tag "-x"/],
    ['docker://busybox@sha256:abc', /invalid digest "sha256:abc"/],
    [`docker://busybox:1@${D256}`, /both a tag and digest are currently not supported/],
    [`docker://${HEX64}`, /cannot specify 64-byte hexadecimal strings/],
  ]);
});

describe('docker-archive:', () => {
  checkPositives([
    ['docker-archive:/tmp/a.tar', { transport: 'docker-archive', path: '/tmp/a.tar' }, 'docker-archive:/tmp/a.tar'],
    ['docker-archive:rel/a.tar', { transport: 'docker-archive', path: 'rel/a.tar' }, 'docker-archive:rel/a.tar'],
    [
      'docker-archive:/tmp/a.tar:busybox',
      { transport: 'docker-archive', path: '/tmp/a.tar', named: BUSYBOX_LATEST },
      'docker-archive:/tmp/a.tar:docker.io/library/busybox:latest',
    ],
    [
      'docker-archive:/tmp/a.tar:quay.io/a/b:v1',
      { transport: 'docker-archive', path: '/tmp/a.tar', named: { domain: 'quay.io', path: 'a/b', tag: 'v1' } },
      'docker-archive:/tmp/a.tar:quay.io/a/b:v1',
    ],
    [
      'docker-archive:/tmp/a.tar:localhost:5000/a:v1',
      { transport: 'docker-archive', path: '/tmp/a.tar', named: { domain: 'localhost:5000', path: 'a', tag: 'v1' } },
      'docker-archive:/tmp/a.tar:localhost:5000/a:v1',
    ],
    [
      'docker-archive:/tmp/a.tar:@0',
      { transport: 'docker-archive', path: '/tmp/a.tar', sourceIndex: 0 },
      'docker-archive:/tmp/a.tar:@0',
    ],
    [
      'docker-archive:/tmp/a.tar:@12',
      { transport: 'docker-archive', path: '/tmp/a.tar', sourceIndex: 12 },
      'docker-archive:/tmp/a.tar:@12',
    ],
    [
      'docker-archive:/tmp/a.tar:@+3',
      { transport: 'docker-archive', path: '/tmp/a.tar', sourceIndex: 3 },
      'docker-archive:/tmp/a.tar:@3',
    ],
    [
      'docker-archive:/tmp/a.tar:@007',
      { transport: 'docker-archive', path: '/tmp/a.tar', sourceIndex: 7 },
      'docker-archive:/tmp/a.tar:@7',
    ],
  ]);
  checkNegatives([
    ['docker-archive:', /isn't of the form <path>\[:<reference>\]/],
    ['docker-archive::busybox', /docker-archive: the path is empty/],
    ['docker-archive:/a.tar:', /docker-archive reference "": repository name must have at least one component/],
    ['docker-archive:/a.tar:BusyBox', /must be lowercase/],
    [`docker-archive:/a.tar:busybox@${D256}`, /doesn't support digest references/],
    [`docker-archive:/a.tar:busybox:1@${D256}`, /doesn't support digest references/],
    ['docker-archive:/a.tar:@-1', /invalid source index @-1: must not be negative/],
    ['docker-archive:/a.tar:@', /invalid source index @: not an integer/],
    ['docker-archive:/a.tar:@x', /invalid source index @x: not an integer/],
    ['docker-archive:/a.tar:@1.5', /not an integer/],
    ['docker-archive:/a.tar:@0:busybox', /invalid source index @0:busybox: not an integer/],
    ['docker-archive:/a.tar:@99999999999999999999', /out of range/],
  ]);
});

describe('oci: and oci-archive:', () => {
  checkPositives([
    ['oci:/layout', { transport: 'oci', path: '/layout' }, 'oci:/layout:'],
    ['oci:/layout:', { transport: 'oci', path: '/layout' }, 'oci:/layout:'],
    ['oci:rel/dir:tag', { transport: 'oci', path: 'rel/dir', image: 'tag' }, 'oci:rel/dir:tag'],
    ['oci:/layout:latest', { transport: 'oci', path: '/layout', image: 'latest' }, 'oci:/layout:latest'],
    [
      'oci:/layout:example.com/repo:v1.0@x+y',
      { transport: 'oci', path: '/layout', image: 'example.com/repo:v1.0@x+y' },
      'oci:/layout:example.com/repo:v1.0@x+y',
    ],
    ['oci:/layout:Foo_Bar--baz', { transport: 'oci', path: '/layout', image: 'Foo_Bar--baz' }, 'oci:/layout:Foo_Bar--baz'],
    ['oci:/layout:@0', { transport: 'oci', path: '/layout', sourceIndex: 0 }, 'oci:/layout:@0'],
    ['oci:/layout:@42', { transport: 'oci', path: '/layout', sourceIndex: 42 }, 'oci:/layout:@42'],
    ['oci-archive:/a.tar', { transport: 'oci-archive', path: '/a.tar' }, 'oci-archive:/a.tar:'],
    ['oci-archive:/a.tar:v2', { transport: 'oci-archive', path: '/a.tar', image: 'v2' }, 'oci-archive:/a.tar:v2'],
    ['oci-archive:/a.tar:@1', { transport: 'oci-archive', path: '/a.tar', sourceIndex: 1 }, 'oci-archive:/a.tar:@1'],
    [
      'oci-archive:x.tar:docker.io/library/busybox:latest',
      { transport: 'oci-archive', path: 'x.tar', image: 'docker.io/library/busybox:latest' },
      'oci-archive:x.tar:docker.io/library/busybox:latest',
    ],
  ]);
  checkNegatives([
    ['oci:', /oci: the path is empty/],
    ['oci::tag', /oci: the path is empty/],
    ['oci-archive:', /oci-archive: the path is empty/],
    ['oci:/layout:-bad', /invalid image -bad/],
    ['oci:/layout:bad-', /invalid image bad-/],
    ['oci:/layout:a//b', /invalid image a\/\/b/],
    ['oci:/layout:a/', /invalid image a\//],
    ['oci:/layout:a b', /invalid image a b/],
    ['oci:/layout:a__b', /invalid image a__b/],
    ['oci:/layout:a---b', /invalid image a---b/],
    ['oci:/layout:a@@b', /invalid image a@@b/],
    ['oci:/layout:@-1', /invalid source index @-1: must not be negative/],
    ['oci:/layout:@x', /invalid source index @x: not an integer/],
    ['oci:/layout:@0:extra', /not an integer/],
    ['oci-archive:/a.tar:ü', /invalid image ü/],
    ['oci-archive:/a.tar:@', /invalid source index @: not an integer/],
  ]);

  it('isValidOciImageName', () => {
    assert.equal(isValidOciImageName('a.b/c-d:e@f+g'), true);
    assert.equal(isValidOciImageName(''), false);
    assert.equal(isValidOciImageName('a:'), false);
  });
});

describe('dir:', () => {
  checkPositives([
    ['dir:/tmp/x', { transport: 'dir', path: '/tmp/x' }, 'dir:/tmp/x'],
    ['dir:relative/x', { transport: 'dir', path: 'relative/x' }, 'dir:relative/x'],
    ['dir:/with:colons:in@it', { transport: 'dir', path: '/with:colons:in@it' }, 'dir:/with:colons:in@it'],
  ]);
  checkNegatives([['dir:', /dir: the path is empty/]]);
});

describe('docker-daemon:', () => {
  checkPositives([
    ['docker-daemon:busybox', { transport: 'docker-daemon', named: BUSYBOX_LATEST }, 'docker-daemon:busybox:latest'],
    [
      'docker-daemon:busybox:1.36',
      { transport: 'docker-daemon', named: { domain: 'docker.io', path: 'library/busybox', tag: '1.36' } },
      'docker-daemon:busybox:1.36',
    ],
    [
      'docker-daemon:docker.io/library/busybox:latest',
      { transport: 'docker-daemon', named: BUSYBOX_LATEST },
      'docker-daemon:busybox:latest',
    ],
    [
      'docker-daemon:quay.io/a/b:v1',
      { transport: 'docker-daemon', named: { domain: 'quay.io', path: 'a/b', tag: 'v1' } },
      'docker-daemon:quay.io/a/b:v1',
    ],
    [`docker-daemon:${D256}`, { transport: 'docker-daemon', id: D256 }, `docker-daemon:${D256}`],
  ]);
  checkNegatives([
    ['docker-daemon:', /at least one component/],
    [`docker-daemon:${D512}`, /only digest algorithm sha256 accepted/],
    [`docker-daemon:sha384:${'a'.repeat(96)}`, /only digest algorithm sha256 accepted/],
    ['docker-daemon:sha256:abc', /sha256 repository name is reserved/],
    ['docker-daemon:sha256', /sha256 repository name is reserved/],
    [`docker-daemon:busybox@${D256}`, /digest references are not supported/],
    [`docker-daemon:busybox:1@${D256}`, /both a tag and digest are currently not supported/],
    [`docker-daemon:${HEX64}`, /cannot specify 64-byte hexadecimal strings/],
    ['docker-daemon:BusyBox', /must be lowercase/],
    ['docker-daemon:busybox:', /invalid tag ""/],
  ]);
});

describe('containers-storage:', () => {
  const overlay = {
    driver: 'overlay',
    graphRoot: '/var/lib/containers/storage',
    runRoot: '/run/containers/storage',
    options: ['overlay.mountopt=nodev', 'overlay.ignore_chown_errors=true'],
  };
  const overlaySpec =
    '[overlay@/var/lib/containers/storage+/run/containers/storage:overlay.mountopt=nodev,overlay.ignore_chown_errors=true]';
  checkPositives([
    [
      'containers-storage:busybox',
      { transport: 'containers-storage', named: BUSYBOX_LATEST },
      'containers-storage:docker.io/library/busybox:latest',
    ],
    [
      'containers-storage:quay.io/a/b:1',
      { transport: 'containers-storage', named: { domain: 'quay.io', path: 'a/b', tag: '1' } },
      'containers-storage:quay.io/a/b:1',
    ],
    [
      `containers-storage:busybox@${D256}`,
      { transport: 'containers-storage', named: { domain: 'docker.io', path: 'library/busybox', digest: D256 } },
      `containers-storage:docker.io/library/busybox@${D256}`,
    ],
    [
      `containers-storage:busybox:1@${D256}`,
      {
        transport: 'containers-storage',
        named: { domain: 'docker.io', path: 'library/busybox', tag: '1', digest: D256 },
      },
      `containers-storage:docker.io/library/busybox:1@${D256}`,
    ],
    [
      `containers-storage:busybox@${ID}`,
      { transport: 'containers-storage', named: BUSYBOX_LATEST, id: ID },
      `containers-storage:docker.io/library/busybox:latest@${ID}`,
    ],
    [
      `containers-storage:busybox:1@${D256}@${ID}`,
      {
        transport: 'containers-storage',
        named: { domain: 'docker.io', path: 'library/busybox', tag: '1', digest: D256 },
        id: ID,
      },
      `containers-storage:docker.io/library/busybox:1@${D256}@${ID}`,
    ],
    [`containers-storage:@${ID}`, { transport: 'containers-storage', id: ID }, `containers-storage:@${ID}`],
    [`containers-storage:${ID}`, { transport: 'containers-storage', id: ID }, `containers-storage:@${ID}`],
    [
      `containers-storage:${overlaySpec}busybox`,
      { transport: 'containers-storage', store: overlay, named: BUSYBOX_LATEST },
      `containers-storage:${overlaySpec}docker.io/library/busybox:latest`,
    ],
    [
      'containers-storage:[/graph]busybox',
      { transport: 'containers-storage', store: { graphRoot: '/graph' }, named: BUSYBOX_LATEST },
      'containers-storage:[/graph]docker.io/library/busybox:latest',
    ],
    [
      `containers-storage:[vfs@/g]@${ID}`,
      { transport: 'containers-storage', store: { driver: 'vfs', graphRoot: '/g' }, id: ID },
      `containers-storage:[vfs@/g]@${ID}`,
    ],
    [
      'containers-storage:[/g+/r]x:1',
      {
        transport: 'containers-storage',
        store: { graphRoot: '/g', runRoot: '/r' },
        named: { domain: 'docker.io', path: 'library/x', tag: '1' },
      },
      'containers-storage:[/g+/r]docker.io/library/x:1',
    ],
    [
      'containers-storage:[overlay@+/r]x',
      {
        transport: 'containers-storage',
        store: { driver: 'overlay', runRoot: '/r' },
        named: { domain: 'docker.io', path: 'library/x', tag: 'latest' },
      },
      'containers-storage:[overlay@+/r]docker.io/library/x:latest',
    ],
    [
      'containers-storage:[overlay@/g:]x',
      {
        transport: 'containers-storage',
        store: { driver: 'overlay', graphRoot: '/g', options: [''] },
        named: { domain: 'docker.io', path: 'library/x', tag: 'latest' },
      },
      'containers-storage:[overlay@/g:]docker.io/library/x:latest',
    ],
    [
      'containers-storage:[d@/g@h+/r+s]x',
      {
        transport: 'containers-storage',
        store: { driver: 'd', graphRoot: '/g@h', runRoot: '/r+s' },
        named: { domain: 'docker.io', path: 'library/x', tag: 'latest' },
      },
      'containers-storage:[d@/g@h+/r+s]docker.io/library/x:latest',
    ],
  ]);
  checkNegatives([
    ['containers-storage:', /the image name is empty/],
    ['containers-storage:[/g]', /the image name is empty/],
    ['containers-storage:[/g', /did not end with "\]"/],
    ['containers-storage:[]x', /store specifier \[\] is empty/],
    ['containers-storage:[overlay@]x', /has nothing after "overlay@"/],
    ['containers-storage:[@/g]x', /empty driver/],
    ['containers-storage:[relative]x', /graph root "relative": path name is not absolute/],
    ['containers-storage:[/g+relative]x', /run root "relative": path name is not absolute/],
    ['containers-storage:busybox@', /empty trailing digest or ID/],
    ['containers-storage:busybox@abc', /"abc" does not look like an image ID/],
    ['containers-storage:busybox@sha256:abc', /"sha256:abc" does not look like an image ID/],
    [`containers-storage:busybox@${ID.toUpperCase()}`, /does not look like an image ID/],
    [`containers-storage:@${D256}`, /containers-storage name "@sha256:/],
    ['containers-storage:BusyBox', /must be lowercase/],
    [`containers-storage:busybox@${D256}@${D256}`, /invalid digest/],
  ]);
});

describe('dockerReferenceOf', () => {
  it('returns the docker reference where the transport has one', () => {
    assert.deepEqual(dockerReferenceOf(parseImageReference('docker://busybox')), BUSYBOX_LATEST);
    assert.deepEqual(dockerReferenceOf(parseImageReference('docker-daemon:busybox')), BUSYBOX_LATEST);
    assert.deepEqual(dockerReferenceOf(parseImageReference('docker-archive:/a.tar:busybox')), BUSYBOX_LATEST);
    assert.deepEqual(dockerReferenceOf(parseImageReference('containers-storage:busybox')), BUSYBOX_LATEST);
    assert.equal(dockerReferenceOf(parseImageReference('docker-archive:/a.tar')), undefined);
    assert.equal(dockerReferenceOf(parseImageReference(`docker-daemon:${D256}`)), undefined);
    assert.equal(dockerReferenceOf(parseImageReference('oci:/l:busybox')), undefined);
    assert.equal(dockerReferenceOf(parseImageReference('dir:/d')), undefined);
  });
});

describe('errors', () => {
  it('carry the inner docker-reference failure as cause', () => {
    try {
      parseImageReference('docker://Bad');
      assert.fail('expected a throw');
    } catch (err) {
      assert.ok(err instanceof InvalidReferenceError);
      assert.ok(err.cause instanceof InvalidReferenceError);
      assert.equal(err.cause.subject, 'docker reference');
      assert.equal(
        err.message,
        'invalid image name "docker://Bad": docker reference "Bad": invalid reference format: repository name (library/Bad) must be lowercase',
      );
    }
  });

  it('quote control characters in the input', () => {
    assert.throws(() => parseImageReference('bad\nname'), (err: unknown) => {
      assert.ok(err instanceof InvalidReferenceError);
      assert.ok(err.message.startsWith('invalid image name "bad\\nname"'), err.message);
      return true;
    });
  });
});
