import { type Digest, parseDigest } from './digest';
import { InvalidReferenceError } from './invalid-reference-error';

/**
 * The docker/distribution reference grammar (github.com/distribution/reference regexp.go and
 * normalize.go, as vendored by containers/image), normalised the way `ParseNormalizedNamed`
 * does it:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path-component ["/" path-component]*
 *   domain     := host [":" port]     host := domain-name | IPv4 | "[" IPv6 "]"
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 */

/**
 * A parsed, normalised docker reference. `domain` is never empty (`docker.io` for Docker Hub,
 * never `index.docker.io`); on docker.io a single-component path is prefixed with `library/`.
 * Both `tag` and `digest` may be set (the grammar allows `name:tag@digest`); transports decide
 * whether they accept that.
 */
export interface DockerReference {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPOSITORY_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** Longest accepted `domain/path` (docker's NameTotalLengthMax). */
export const NAME_TOTAL_LENGTH_MAX = 255;
/**
 * Inputs longer than this are refused before any regular expression runs. No valid reference
 * comes near it (name ≤ 255, tag ≤ 128, digest ≤ 135), so it only bounds regex work.
 */
const INPUT_LENGTH_MAX = 2048;

// Building blocks, named and composed as in distribution/reference regexp.go.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const optionalPort = '(?::[0-9]+)?';
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const ipv6Address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6Address})`;
const domainAndPort = host + optionalPort;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePattern = `(?:${domainAndPort}/)?${remoteName}`;

const REFERENCE_RE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const ANCHORED_TAG_RE = new RegExp(`^${tagPattern}$`);
const ANCHORED_DIGEST_RE = new RegExp(`^${digestPattern}$`);
const ANCHORED_DOMAIN_RE = new RegExp(`^${domainAndPort}$`);
const ANCHORED_PATH_COMPONENT_RE = new RegExp(`^${pathComponent}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

function fail(input: string, reason: string, cause?: unknown): never {
  throw new InvalidReferenceError({ subject: 'docker reference', input, reason, cause });
}

/** True when `tag` is a syntactically valid tag. */
export function isValidTag(tag: string): boolean {
  return ANCHORED_TAG_RE.test(tag);
}

/**
 * splitDockerDomain from normalize.go: decides whether the first `/`-separated element is a
 * registry (contains `.` or `:`, is `localhost`, or has uppercase letters) and applies the
 * Docker Hub defaults. `s` may still carry its `:tag` / `@digest` suffix.
 */
function splitDockerDomain(s: string): { domain: string; remainder: string } {
  const slash = s.indexOf('/');
  if (slash < 0) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_REPOSITORY_PREFIX + s };
  const first = s.slice(0, slash);
  const rest = s.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
    remainder = rest;
  } else {
    domain = DEFAULT_DOMAIN;
    remainder = s;
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPOSITORY_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * For an input the reference regexp refused: names the part that is wrong. `full` is the
 * normalised `domain/remainder` string that was matched.
 */
function diagnose(full: string): string {
  let rest = full;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!ANCHORED_DIGEST_RE.test(digest)) return `invalid digest ${JSON.stringify(digest)} (expected algorithm:hex)`;
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    const tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!ANCHORED_TAG_RE.test(tag)) {
      return `invalid tag ${JSON.stringify(tag)} (a tag is 1 to 128 of [A-Za-z0-9_.-] and does not start with "." or "-")`;
    }
  }
  const match = ANCHORED_NAME_RE.exec(rest);
  if (match === null) {
    const slash = rest.indexOf('/');
    const domain = slash >= 0 ? rest.slice(0, slash) : '';
    const components = slash >= 0 ? rest.slice(slash + 1).split('/') : rest.split('/');
    if (slash >= 0 && !ANCHORED_DOMAIN_RE.test(domain)) {
      return `invalid registry domain ${JSON.stringify(domain)}`;
    }
    const bad = components.find((c) => !ANCHORED_PATH_COMPONENT_RE.test(c));
    if (bad !== undefined) {
      return bad === ''
        ? 'invalid reference format: empty path component'
        : `invalid reference format: path component ${JSON.stringify(bad)} must be [a-z0-9] runs separated by ".", "_", "__" or "-"`;
    }
  }
  return 'invalid reference format';
}

/**
 * Parses a docker reference the way `reference.ParseNormalizedNamed` does (familiar names are
 * expanded: `busybox` → `docker.io/library/busybox`). No default tag is added; see
 * withDefaultTag. Digests must be sha256 or sha512 (see digest.ts).
 * Throws InvalidReferenceError.
 */
export function parseDockerReference(s: string): DockerReference {
  if (s === '') fail(s, 'repository name must have at least one component');
  if (s.length > INPUT_LENGTH_MAX) fail(s, `reference is too long (${s.length} characters)`);
  if (IDENTIFIER_RE.test(s)) {
    fail(s, `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDockerDomain(s);
  const tagSeparator = remainder.indexOf(':');
  const remote = tagSeparator >= 0 ? remainder.slice(0, tagSeparator) : remainder;
  if (remote.toLowerCase() !== remote) {
    fail(s, `invalid reference format: repository name (${remote}) must be lowercase`);
  }

  const full = `${domain}/${remainder}`;
  const match = REFERENCE_RE.exec(full);
  if (match === null) {
    const lowered = full.toLowerCase();
    if (lowered !== full && REFERENCE_RE.test(lowered)) {
      fail(s, 'invalid reference format: repository name must be lowercase');
    }
    fail(s, diagnose(full));
  }
  const [, name = '', tag, rawDigest] = match;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    fail(s, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters (${name} has ${name.length})`);
  }
  const nameMatch = ANCHORED_NAME_RE.exec(name);
  // Docker's regexp can also match the whole name as a domain-less path (e.g. `foo_bar.com/x`,
  // whose first element is not a valid host); docker then yields an empty domain. Such a name
  // has no registry to talk to, so it is refused here.
  if (nameMatch?.[1] !== domain || nameMatch[2] === undefined) {
    fail(s, `invalid registry domain ${JSON.stringify(domain)}`);
  }
  const parsedDomain = nameMatch[1];
  const path = nameMatch[2];

  let digest: Digest | undefined;
  if (rawDigest !== undefined) {
    try {
      digest = parseDigest(rawDigest);
    } catch (err) {
      const reason = err instanceof InvalidReferenceError ? err.reason : String(err);
      fail(s, `invalid digest ${JSON.stringify(rawDigest)}: ${reason}`, err);
    }
  }
  return build({ domain: parsedDomain, path, tag, digest });
}

function build(parts: { domain: string; path: string; tag: string | undefined; digest: Digest | undefined }): DockerReference {
  const ref: { domain: string; path: string; tag?: string; digest?: Digest } = { domain: parts.domain, path: parts.path };
  if (parts.tag !== undefined) ref.tag = parts.tag;
  if (parts.digest !== undefined) ref.digest = parts.digest;
  return ref;
}

/** `domain/path`: the repository, without tag or digest (what `skopeo inspect` prints as Name). */
export function repositoryName(ref: DockerReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully-qualified string `domain/path[:tag][@digest]` (reference.Named.String()). */
export function formatDockerReference(ref: DockerReference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/**
 * The repository as docker shows it (reference.FamiliarName): `docker.io/` removed, and
 * `library/` removed when nothing nested follows it. Other registries are kept as they are.
 */
export function familiarName(ref: DockerReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  if (ref.path.startsWith(OFFICIAL_REPOSITORY_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPOSITORY_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** familiarName plus `[:tag][@digest]` (reference.FamiliarString). */
export function familiarString(ref: DockerReference): string {
  return familiarName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** True when the reference has neither a tag nor a digest (reference.IsNameOnly). */
export function isNameOnly(ref: DockerReference): boolean {
  return ref.tag === undefined && ref.digest === undefined;
}

/** Adds the `latest` tag when the reference is name-only (reference.TagNameOnly); otherwise returns `ref`. */
export function withDefaultTag(ref: DockerReference): DockerReference {
  return isNameOnly(ref) ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** The same repository with `tag` (keeping any digest); throws InvalidReferenceError for an invalid tag. */
export function withTag(ref: DockerReference, tag: string): DockerReference {
  if (!isValidTag(tag)) {
    fail(`${repositoryName(ref)}:${tag}`, `invalid tag ${JSON.stringify(tag)} (a tag is 1 to 128 of [A-Za-z0-9_.-] and does not start with "." or "-")`);
  }
  return { ...ref, tag };
}

/** The same repository with `digest` (keeping any tag); throws InvalidReferenceError for an invalid digest. */
export function withDigest(ref: DockerReference, digest: string): DockerReference {
  return { ...ref, digest: parseDigest(digest) };
}

/** The repository alone, without tag or digest (reference.TrimNamed). */
export function trimNamed(ref: DockerReference): DockerReference {
  return { domain: ref.domain, path: ref.path };
}
