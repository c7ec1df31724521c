import { DomainError } from '../errors/domain-error';
import { type Digest, isDigest } from './digest';
import {
  type DockerReference,
  familiarName,
  familiarString,
  formatDockerReference,
  parseDockerReference,
  withDefaultTag,
} from './docker-reference';
import { InvalidReferenceError } from './invalid-reference-error';

export { InvalidReferenceError } from './invalid-reference-error';

/**
 * skopeo's `transport:details` image names (containers/image alltransports.ParseImageName and
 * each transport's ParseReference), for the seven transports skiff serves. Parsing is purely
 * syntactic: paths are kept exactly as given (the service resolves them), and nothing is
 * looked up (so containers-storage cannot expand a truncated image ID).
 */

export const TRANSPORT_NAMES = [
  'containers-storage',
  'dir',
  'docker',
  'docker-archive',
  'docker-daemon',
  'oci',
  'oci-archive',
] as const;

export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** Transports that reach a host's image engine (Docker Engine, Podman) rather than a registry or the storage root. */
export const DAEMON_TRANSPORTS: readonly TransportName[] = ['docker-daemon', 'containers-storage'];

/** `docker://NAME[:TAG]|[@DIGEST]`: a registry image. `named` always has a tag or a digest, never both. */
export interface DockerImageReference {
  readonly transport: 'docker';
  readonly named: DockerReference;
}

/**
 * `docker-archive:PATH[:NAME[:TAG]]` or `docker-archive:PATH:@INDEX`. `named` (always tagged,
 * never digested) names the image inside the archive; `sourceIndex` picks the INDEX-th image
 * (zero-based). At most one of them is set.
 */
export interface DockerArchiveImageReference {
  readonly transport: 'docker-archive';
  readonly path: string;
  readonly named?: DockerReference;
  readonly sourceIndex?: number;
}

/**
 * `oci:PATH[:IMAGE]` / `oci:PATH:@INDEX`, and the same for `oci-archive:`. `image` is the
 * `org.opencontainers.image.ref.name` annotation; `sourceIndex` a zero-based index into
 * index.json's manifests. At most one of them is set; with neither, the layout must hold
 * exactly one image.
 */
export interface OciImageReference {
  readonly transport: 'oci';
  readonly path: string;
  readonly image?: string;
  readonly sourceIndex?: number;
}

export interface OciArchiveImageReference {
  readonly transport: 'oci-archive';
  readonly path: string;
  readonly image?: string;
  readonly sourceIndex?: number;
}

/** `dir:PATH`. */
export interface DirImageReference {
  readonly transport: 'dir';
  readonly path: string;
}

/**
 * `docker-daemon:NAME[:TAG]` or `docker-daemon:sha256:<64 hex>` (an image ID). Exactly one of
 * `named` (always tagged, never digested) and `id` is set. Two rules are skiff's, not
 * containers/image's: a name-only NAME gets `latest` (containers/image refuses it), and
 * NAME@DIGEST is refused (containers/image accepts it for sources).
 */
export interface DockerDaemonImageReference {
  readonly transport: 'docker-daemon';
  readonly named?: DockerReference;
  readonly id?: Digest;
}

/** The `[driver@graphroot+runroot:options]` prefix of a containers-storage name, as given. */
export interface StoreSpecifier {
  readonly driver?: string;
  /** Absolute when set. */
  readonly graphRoot?: string;
  /** Absolute when set. */
  readonly runRoot?: string;
  /** The comma-separated options, split (`:` with nothing after it gives `['']`, as in Go). */
  readonly options?: readonly string[];
}

/**
 * `containers-storage:[STORE]NAME[:TAG][@DIGEST][@ID]` or `containers-storage:[STORE]@ID`
 * (a bare 64-hex ID is accepted too). At least one of `named` (never name-only: `latest`
 * is added) and `id` (64 lowercase hex, no algorithm prefix) is set.
 */
export interface ContainersStorageImageReference {
  readonly transport: 'containers-storage';
  readonly store?: StoreSpecifier;
  readonly named?: DockerReference;
  readonly id?: string;
}

export type ImageReference =
  | DockerImageReference
  | DockerArchiveImageReference
  | OciImageReference
  | OciArchiveImageReference
  | DirImageReference
  | DockerDaemonImageReference
  | ContainersStorageImageReference;

export type ImageReferenceOf<T extends TransportName> = Extract<ImageReference, { transport: T }>;

/**
 * `ref` as a reference of transport `name`. The transport registry hands each transport its
 * own references; anything else is a caller's mistake, reported as INVALID_REFERENCE.
 */
export function expectTransport<T extends TransportName>(ref: ImageReference, name: T): ImageReferenceOf<T> {
  if (ref.transport !== name) throw new DomainError('INVALID_REFERENCE', `not a ${name}: reference`);
  return ref as ImageReferenceOf<T>;
}

/** Thrown inside a transport parser; parseImageReference turns it into an InvalidReferenceError. */
class TransportSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly innerCause?: unknown,
  ) {
    super(reason);
  }
}

function refuse(reason: string, cause?: unknown): never {
  throw new TransportSyntaxError(reason, cause);
}

/** parseDockerReference, with its failure re-thrown as a transport failure naming `what`. */
function parseNamed(s: string, what: string): DockerReference {
  try {
    return parseDockerReference(s);
  } catch (err) {
    if (err instanceof InvalidReferenceError) refuse(`${what} ${JSON.stringify(s)}: ${err.reason}`, err);
    throw err;
  }
}

function isTransportName(s: string): s is TransportName {
  return (TRANSPORT_NAMES as readonly string[]).includes(s);
}

const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

/** The ref-name grammar of containers/image oci/internal ValidateImageName (OCI annotation spec). */
const OCI_IMAGE_NAME_RE =
  /^(?:[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)(?:\/(?:[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*))*$/;

/** True when `name` is a valid OCI image name (the `org.opencontainers.image.ref.name` value). */
export function isValidOciImageName(name: string): boolean {
  return OCI_IMAGE_NAME_RE.test(name);
}

function requirePath(path: string, transport: TransportName): void {
  if (path === '') refuse(`${transport}: the path is empty`);
}

/** strconv.Atoi semantics for the text after `@` in `PATH:@N` (sign and leading zeros allowed), refusing negatives; `-0` yields 0. */
function parseSourceIndex(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) refuse(`invalid source index @${text}: not an integer`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) refuse(`invalid source index @${text}: value out of range`);
  if (value < 0) refuse(`invalid source index @${text}: must not be negative`);
  return value === 0 ? 0 : value;
}

function parseDocker(within: string): DockerImageReference {
  if (!within.startsWith('//')) refuse(`docker: image reference ${within} does not start with //`);
  const named = withDefaultTag(parseNamed(within.slice(2), 'docker reference'));
  if (named.tag !== undefined && named.digest !== undefined) {
    refuse(`Docker references with both a tag and digest are currently not supported (${familiarString(named)})`);
  }
  return { transport: 'docker', named };
}

function parseDockerArchive(within: string): DockerArchiveImageReference {
  if (within === '') refuse("docker-archive reference isn't of the form <path>[:<reference>]");
  const colon = within.indexOf(':');
  const path = colon >= 0 ? within.slice(0, colon) : within;
  requirePath(path, 'docker-archive');
  if (colon < 0) return { transport: 'docker-archive', path };
  const rest = within.slice(colon + 1);
  if (rest.startsWith('@')) return { transport: 'docker-archive', path, sourceIndex: parseSourceIndex(rest.slice(1)) };
  const parsed = parseNamed(rest, 'docker-archive reference');
  if (parsed.digest !== undefined) {
    refuse(`docker-archive doesn't support digest references: ${formatDockerReference(parsed)}`);
  }
  return { transport: 'docker-archive', path, named: withDefaultTag(parsed) };
}

function parseOciLike<T extends 'oci' | 'oci-archive'>(
  transport: T,
  within: string,
): { transport: T; path: string; image?: string; sourceIndex?: number } {
  // Non-Windows split: the path ends at the first ':'.
  const colon = within.indexOf(':');
  const path = colon >= 0 ? within.slice(0, colon) : within;
  const rest = colon >= 0 ? within.slice(colon + 1) : '';
  requirePath(path, transport);
  if (rest.startsWith('@')) return { transport, path, sourceIndex: parseSourceIndex(rest.slice(1)) };
  if (rest === '') return { transport, path };
  if (!isValidOciImageName(rest)) {
    refuse(
      `invalid image ${rest}: an OCI image name is components of [A-Za-z0-9] runs joined by one of "-._:@+" or "--", separated by "/"`,
    );
  }
  return { transport, path, image: rest };
}

function parseDir(within: string): DirImageReference {
  requirePath(within, 'dir');
  return { transport: 'dir', path: within };
}

function parseDockerDaemon(within: string): DockerDaemonImageReference {
  // `algorithm:hex` is also a syntactically valid `name:tag`; go-digest.Parse decides first.
  if (isDigest(within) || /^sha384:[a-f0-9]{96}$/.test(within)) {
    if (!within.startsWith('sha256:')) {
      refuse(`Invalid docker-daemon: reference ${within}: only digest algorithm sha256 accepted`);
    }
    return { transport: 'docker-daemon', id: within };
  }
  const parsed = parseNamed(within, 'docker-daemon reference');
  if (familiarName(parsed) === 'sha256') {
    refuse(
      `Invalid docker-daemon: reference ${within}: The sha256 repository name is reserved for (non-shortened) digest references`,
    );
  }
  if (parsed.tag !== undefined && parsed.digest !== undefined) {
    refuse('docker-daemon: references with both a tag and digest are currently not supported');
  }
  if (parsed.digest !== undefined) {
    refuse(`docker-daemon: digest references are not supported (${familiarString(parsed)}); use NAME:TAG or sha256:<image ID>`);
  }
  return { transport: 'docker-daemon', named: withDefaultTag(parsed) };
}

function parseStoreSpecifier(spec: string): StoreSpecifier {
  if (spec === '') refuse('containers-storage: the store specifier [] is empty');
  let driver: string | undefined;
  let rest = spec;
  const at = spec.indexOf('@');
  if (at >= 0) {
    driver = spec.slice(0, at);
    rest = spec.slice(at + 1);
    if (driver === '') refuse(`containers-storage: store specifier [${spec}] has an empty driver before "@"`);
    if (rest === '') refuse(`containers-storage: store specifier [${spec}] has nothing after "${driver}@"`);
  }
  let options: string[] | undefined;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    options = rest.slice(colon + 1).split(',');
    rest = rest.slice(0, colon);
  }
  const plus = rest.indexOf('+');
  const graphRoot = plus >= 0 ? rest.slice(0, plus) : rest;
  const runRoot = plus >= 0 ? rest.slice(plus + 1) : '';
  if (graphRoot !== '' && !graphRoot.startsWith('/')) {
    refuse(`containers-storage: graph root ${JSON.stringify(graphRoot)}: path name is not absolute`);
  }
  if (runRoot !== '' && !runRoot.startsWith('/')) {
    refuse(`containers-storage: run root ${JSON.stringify(runRoot)}: path name is not absolute`);
  }
  const store: { driver?: string; graphRoot?: string; runRoot?: string; options?: string[] } = {};
  if (driver !== undefined) store.driver = driver;
  if (graphRoot !== '') store.graphRoot = graphRoot;
  if (runRoot !== '') store.runRoot = runRoot;
  if (options !== undefined) store.options = options;
  return store;
}

function parseContainersStorage(within: string): ContainersStorageImageReference {
  let store: StoreSpecifier | undefined;
  let rest = within;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 1) refuse(`containers-storage: store specifier in ${JSON.stringify(within)} did not end with "]"`);
    store = parseStoreSpecifier(rest.slice(1, close));
    rest = rest.slice(close + 1);
  }
  if (rest === '') refuse('containers-storage: the image name is empty');

  // A trailing `@x` is an image ID unless it parses as a digest (then it belongs to the name).
  let id: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const possibleId = rest.slice(at + 1);
    if (possibleId === '') refuse(`containers-storage: empty trailing digest or ID in ${JSON.stringify(rest)}`);
    if (!looksLikeDigest(possibleId)) {
      if (!IMAGE_ID_RE.test(possibleId)) {
        refuse(
          `containers-storage: ${JSON.stringify(possibleId)} does not look like an image ID (64 lowercase hex) or digest`,
        );
      }
      id = possibleId;
      rest = rest.slice(0, at);
    }
  } else if (IMAGE_ID_RE.test(rest)) {
    // A full image ID given without "@"; it can never be a valid repository name.
    id = rest;
    rest = '';
  }

  let named: DockerReference | undefined;
  if (rest !== '') named = withDefaultTag(parseNamed(rest, 'containers-storage name'));
  if (named === undefined && id === undefined) refuse('containers-storage: neither a name nor an image ID was given');
  const ref: { transport: 'containers-storage'; store?: StoreSpecifier; named?: DockerReference; id?: string } = {
    transport: 'containers-storage',
  };
  if (store !== undefined) ref.store = store;
  if (named !== undefined) ref.named = named;
  if (id !== undefined) ref.id = id;
  return ref;
}

/**
 * Whether go-digest's Parse would accept `s` as a digest of some registered algorithm
 * (sha256, sha384, sha512). Such a suffix is kept for the name parser, which then accepts
 * only sha256/sha512 (digest.ts).
 */
function looksLikeDigest(s: string): boolean {
  return isDigest(s) || /^sha384:[a-f0-9]{96}$/.test(s);
}

/**
 * Parses a skopeo image name `transport:details`. Throws InvalidReferenceError naming the
 * input and what is wrong with it (unknown or missing transport, or the transport's own rule).
 */
export function parseImageReference(s: string): ImageReference {
  const colon = s.indexOf(':');
  if (colon < 0) {
    throw new InvalidReferenceError({
      subject: 'image name',
      input: s,
      reason: `expected colon-separated transport:reference (transports: ${TRANSPORT_NAMES.join(', ')})`,
    });
  }
  const transport = s.slice(0, colon);
  const within = s.slice(colon + 1);
  if (!isTransportName(transport)) {
    throw new InvalidReferenceError({
      subject: 'image name',
      input: s,
      reason: `unknown transport ${JSON.stringify(transport)} (valid transports: ${TRANSPORT_NAMES.join(', ')})`,
    });
  }
  try {
    switch (transport) {
      case 'docker':
        return parseDocker(within);
      case 'docker-archive':
        return parseDockerArchive(within);
      case 'oci':
      case 'oci-archive':
        return parseOciLike(transport, within);
      case 'dir':
        return parseDir(within);
      case 'docker-daemon':
        return parseDockerDaemon(within);
      case 'containers-storage':
        return parseContainersStorage(within);
    }
  } catch (err) {
    if (err instanceof TransportSyntaxError) {
      throw new InvalidReferenceError({ subject: 'image name', input: s, reason: err.reason, cause: err.innerCause });
    }
    throw err;
  }
}

function formatStoreSpecifier(store: StoreSpecifier): string {
  return (
    '[' +
    (store.driver !== undefined ? `${store.driver}@` : '') +
    (store.graphRoot ?? '') +
    (store.runRoot !== undefined ? `+${store.runRoot}` : '') +
    (store.options !== undefined ? `:${store.options.join(',')}` : '') +
    ']'
  );
}

/**
 * The canonical skopeo string of a reference (transports.ImageName: transport name, ":",
 * StringWithinTransport), e.g. `docker://busybox:latest`,
 * `docker-archive:/a.tar:docker.io/library/busybox:latest`, `oci:/layout:` (oci always prints
 * the ":"), `containers-storage:[overlay@/g+/r]docker.io/library/x:latest@<id>`.
 * parseImageReference(formatImageReference(r)) equals r for every parsed r.
 */
export function formatImageReference(ref: ImageReference): string {
  switch (ref.transport) {
    case 'docker':
      return `docker://${familiarString(ref.named)}`;
    case 'docker-archive':
      if (ref.named !== undefined) return `docker-archive:${ref.path}:${formatDockerReference(ref.named)}`;
      if (ref.sourceIndex !== undefined) return `docker-archive:${ref.path}:@${ref.sourceIndex}`;
      return `docker-archive:${ref.path}`;
    case 'oci':
    case 'oci-archive':
      if (ref.sourceIndex !== undefined) return `${ref.transport}:${ref.path}:@${ref.sourceIndex}`;
      return `${ref.transport}:${ref.path}:${ref.image ?? ''}`;
    case 'dir':
      return `dir:${ref.path}`;
    case 'docker-daemon':
      if (ref.id !== undefined) return `docker-daemon:${ref.id}`;
      return `docker-daemon:${ref.named !== undefined ? familiarString(ref.named) : ''}`;
    case 'containers-storage':
      return (
        'containers-storage:' +
        (ref.store !== undefined ? formatStoreSpecifier(ref.store) : '') +
        (ref.named !== undefined ? formatDockerReference(ref.named) : '') +
        (ref.id !== undefined ? `@${ref.id}` : '')
      );
  }
}

/**
 * The docker reference an image name carries (containers/image ImageReference.DockerReference):
 * set for docker, docker-daemon by name, docker-archive with a name, containers-storage with a
 * name; undefined otherwise.
 */
export function dockerReferenceOf(ref: ImageReference): DockerReference | undefined {
  switch (ref.transport) {
    case 'docker':
    case 'docker-archive':
    case 'docker-daemon':
    case 'containers-storage':
      return ref.named;
    default:
      return undefined;
  }
}

/** An image in a registry (docker://): the registry host, the repository, the full name. */
export interface RegistryImage {
  registry: string;
  repository: string;
  named: DockerReference;
}

/**
 * The registry image a reference names (docker://), or undefined for every other transport:
 * where registry limits, rate limits and cross-repository blob mounts apply.
 */
export function registryImageOf(ref: ImageReference): RegistryImage | undefined {
  return ref.transport === 'docker' ? { registry: ref.named.domain, repository: ref.named.path, named: ref.named } : undefined;
}

/** An image in an OCI layout directory (oci:), or undefined for every other transport: where a layout's index.json records referrers. */
export function layoutImageOf(ref: ImageReference): OciImageReference | undefined {
  return ref.transport === 'oci' ? ref : undefined;
}
