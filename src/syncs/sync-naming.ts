import { posix } from 'node:path';
import { type DockerReference, formatDockerReference } from '../image-spec/docker-reference';
import { type DockerImageReference, type ImageReference, parseImageReference } from '../image-spec/image-reference';

/**
 * Destination names, built as skopeo sync builds them (cmd/skopeo/sync.go):
 *
 *   DESTINATION + "/" + SUFFIX + appendSuffix
 *
 * where SUFFIX is, for a registry image, its full name with tag or digest
 * (`registry:5000/team/app:1.0`), and for a `dir` image its path below the source directory
 * (or the source directory's own name when the source is one image); without `scoped` only the
 * last path component of SUFFIX is kept (`app:1.0`). A docker destination without a tag gets
 * `latest`, as skopeo's docker.ParseReference adds it.
 *
 * Two rules are skiff's, where skopeo builds a name it then cannot use:
 * - scoped into a registry, each directory-like component before the last one is written as a
 *   repository path component: `:` becomes `_` and upper case is lowered, so a source host with
 *   a port, `registry:5000`, becomes `registry_5000` (skopeo fails on `DEST/registry:5000/…`);
 * - into a registry, `appendSuffix` is appended to tags only: a digest entry is pushed by its
 *   digest, unchanged (skopeo appends the suffix to the digest and fails).
 */
export interface DestinationNaming {
  destinationType: 'docker' | 'dir';
  /** `registry[/namespace]` for docker, a path under the storage root for dir. */
  destination: string;
  scoped: boolean;
  appendSuffix?: string;
}

/** The SUFFIX of a registry image: its full name with its tag or digest. */
export function dockerSuffix(ref: DockerReference): string {
  return formatDockerReference(ref);
}

/** The SUFFIX of a `dir` image at `imagePath` found under the source directory `base`. */
export function dirSuffix(base: string, imagePath: string): string {
  const rel = imagePath.startsWith(base) ? imagePath.slice(base.length) : imagePath;
  return rel === '' ? posix.basename(base) : rel;
}

function asRepositoryComponent(component: string): string {
  return component.toLowerCase().replace(/:/g, '_');
}

/**
 * The destination for SUFFIX: a `docker://` reference, or a `dir:` path. Throws
 * InvalidReferenceError when the name is not a valid reference.
 */
export function destinationFor(suffix: string, naming: DestinationNaming): ImageReference {
  let s = naming.scoped ? suffix : posix.basename(suffix);
  if (naming.destinationType === 'dir') {
    return { transport: 'dir', path: posix.join(naming.destination, s) + (naming.appendSuffix ?? '') };
  }
  if (naming.scoped) {
    const parts = s.replace(/^\/+/, '').split('/');
    s = [...parts.slice(0, -1).map(asRepositoryComponent), parts[parts.length - 1]!].join('/');
  }
  const digested = /@[^/]*$/.test(s);
  const name = posix.join(naming.destination, s) + (digested ? '' : (naming.appendSuffix ?? ''));
  return parseImageReference(`docker://${name}`) as DockerImageReference;
}
