import { posix } from 'node:path';
import { RE2JS } from 're2js';
import { DEFAULT_DOMAIN, type DockerReference, LEGACY_DEFAULT_DOMAIN, OFFICIAL_REPOSITORY_PREFIX } from './docker-reference';
import type { ImageReference, TransportName } from './image-reference';

/**
 * Reference patterns: which images a principal may read (sources) or write and delete
 * (destinations). Pure and syntactic; the caller resolves storage paths before matching.
 *
 * A pattern is `SCHEME LOCATION [ITEM]`:
 * - SCHEME is a transport prefix as in references: `docker://`, `docker-daemon:`,
 *   `containers-storage:`, `oci:`, `oci-archive:`, `dir:`, `docker-archive:`.
 * - LOCATION is matched against the canonical location of a reference:
 *   - `docker://`, `docker-daemon:`, `containers-storage:`: the repository normalised as skopeo
 *     does (`busybox` → `docker.io/library/busybox`, `index.docker.io` → `docker.io`), the host
 *     lower-cased. A pattern's own first component is normalised the same way
 *     (`docker://team/**` means `docker.io/team/**`).
 *   - `oci:`, `oci-archive:`, `dir:`, `docker-archive:`: the path relative to the storage root,
 *     normalised (`a/./b/../c` → `a/c`) and, by the caller, resolved through symbolic links, so
 *     `oci:team-a/../team-b` is `team-b` and cannot match `oci:team-a/**`.
 * - Globs: `*` matches within one path segment (never `/`), `**` across segments; a trailing
 *   `/**` also matches the location itself (`dir:team-a/**` covers `dir:team-a`).
 * - ITEM (optional) restricts tags and digests: `docker://r.example/app:1.*`,
 *   `docker://r.example/app@sha256:*`, `oci:team-a/layout:v*`. A pattern without ITEM covers
 *   every tag and digest of what its LOCATION matches; a pattern with ITEM never covers a
 *   whole repository (list-tags) or a tree (sync namespaces).
 *
 * Matching is done with RE2 (linear time) on anchored translations of the globs.
 */

/** The transport prefixes a pattern may start with, longest first so `docker-archive:` wins over `docker…`. */
const SCHEMES = ['containers-storage:', 'docker-archive:', 'docker-daemon:', 'oci-archive:', 'docker://', 'oci:', 'dir:'] as const;
type Scheme = (typeof SCHEMES)[number];

const SCHEME_OF: Record<TransportName, Scheme> = {
  docker: 'docker://',
  'docker-daemon': 'docker-daemon:',
  'containers-storage': 'containers-storage:',
  oci: 'oci:',
  'oci-archive': 'oci-archive:',
  dir: 'dir:',
  'docker-archive': 'docker-archive:',
};

const NAMED_SCHEMES: readonly Scheme[] = ['docker://', 'docker-daemon:', 'containers-storage:'];

/** What a pattern is matched against: a transport prefix, a canonical location, and the tag/digest/name part. */
export interface PatternTarget {
  readonly scheme: string;
  readonly location: string;
  /** `:tag`, `@digest`, `:name`, `:@N`…; undefined for a whole repository or tree. */
  readonly item?: string;
}

/** The target as text, for messages (`docker://r.example/team/app:1.0`). */
export function formatTarget(target: PatternTarget, opts: { tree?: boolean } = {}): string {
  return `${target.scheme}${target.location}${target.item ?? ''}${opts.tree ? '/**' : ''}`;
}

/** A normalised storage-root-relative path (posix), '' for the root itself, undefined when it leaves the root. */
export function normalizeStoragePath(path: string): string | undefined {
  if (path.startsWith('/') || path.includes('\0')) return undefined;
  let p = posix.normalize(path);
  if (p === '.' || p === './') return '';
  p = p.replace(/\/+$/, '').replace(/^\.\//, '');
  if (p === '..' || p.startsWith('../')) return undefined;
  return p;
}

function dockerLocation(named: DockerReference): string {
  return `${named.domain.toLowerCase()}/${named.path}`;
}

function dockerItem(named: DockerReference | undefined, id?: string): string | undefined {
  let item = '';
  if (named?.tag !== undefined) item += `:${named.tag}`;
  if (named?.digest !== undefined) item += `@${named.digest}`;
  if (id !== undefined) item += `@${id}`;
  return item === '' ? undefined : item;
}

/**
 * The pattern target of a reference. For the path transports, `opts.path` is the path
 * relative to the storage root as resolved by the caller (through symbolic links); without it
 * the reference's path is normalised lexically.
 */
export function patternTarget(ref: ImageReference, opts: { path?: string } = {}): PatternTarget {
  const scheme = SCHEME_OF[ref.transport];
  switch (ref.transport) {
    case 'docker':
      return { scheme, location: dockerLocation(ref.named), item: dockerItem(ref.named) };
    case 'docker-daemon':
      return ref.named ? { scheme, location: dockerLocation(ref.named), item: dockerItem(ref.named) } : { scheme, location: '', item: `@${ref.id}` };
    case 'containers-storage':
      return { scheme, location: ref.named ? dockerLocation(ref.named) : '', item: dockerItem(ref.named, ref.id) };
    case 'oci':
    case 'oci-archive':
    case 'dir':
    case 'docker-archive': {
      const location = opts.path ?? normalizeStoragePath(ref.path) ?? ref.path;
      let item: string | undefined;
      if ('sourceIndex' in ref && ref.sourceIndex !== undefined) item = `:@${ref.sourceIndex}`;
      else if ('image' in ref && ref.image !== undefined) item = `:${ref.image}`;
      else if ('named' in ref && ref.named !== undefined) item = `:${dockerLocation(ref.named)}${dockerItem(ref.named)}`;
      return { scheme, location, item };
    }
  }
}

/** The target of a whole docker repository (list-tags, sync sources): no tag, no digest. */
export function dockerRepositoryTarget(named: DockerReference): PatternTarget {
  return { scheme: 'docker://', location: dockerLocation(named) };
}

/** The target of a tree: a storage directory (`dir:`) or a registry namespace (`docker://host/ns`). */
export function treeTarget(kind: 'docker' | 'dir', location: string): PatternTarget {
  return { scheme: SCHEME_OF[kind], location: kind === 'dir' ? (normalizeStoragePath(location) ?? location) : location.toLowerCase().replace(/\/+$/, '') };
}

const REGEX_META = /[\\^$.|?+()[\]{}]/;

/** Anchored RE2 syntax for a glob (`*` within a segment, `**` across, a trailing `/**` includes the base). */
function globToRegex(glob: string): string {
  let out = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atEnd = i + 2 === glob.length;
        const afterSlash = i > 0 && glob[i - 1] === '/';
        if (afterSlash && atEnd) {
          out = out.slice(0, -1) + '(?:/.*)?';
        } else if (glob[i + 2] === '/' && (i === 0 || afterSlash)) {
          out += '(?:.*/)?';
          i++;
        } else {
          out += '.*';
        }
        i++;
        continue;
      }
      out += '[^/]*';
      continue;
    }
    out += REGEX_META.test(c) ? `\\${c}` : c;
  }
  return out + '$';
}

class Glob {
  private readonly re: RE2JS;
  constructor(readonly source: string) {
    this.re = RE2JS.compile(globToRegex(source), RE2JS.DOTALL);
  }
  matches(s: string): boolean {
    return this.re.matches(s);
  }
}

/** A compiled reference pattern: every glob is compiled once, when it is parsed. */
export class ReferencePattern {
  /** For a location `BASE/**` (and no item): BASE, which coversTree matches the target's location and its ancestors against. */
  private readonly treeBase: Glob | undefined;

  private constructor(
    readonly source: string,
    readonly scheme: Scheme,
    private readonly location: Glob,
    private readonly item: Glob | undefined,
  ) {
    this.treeBase = item === undefined && location.source.endsWith('/**') ? new Glob(location.source.slice(0, -3)) : undefined;
  }

  /** Parses a pattern; throws Error with a message saying what is wrong. */
  static parse(source: string): ReferencePattern {
    if (source.length === 0 || source.length > 1024) throw new Error(`reference pattern ${JSON.stringify(source)} must be 1 to 1024 characters`);
    if (/[\s\0]/.test(source)) throw new Error(`reference pattern ${JSON.stringify(source)} must not contain blanks`);
    const scheme = SCHEMES.find((s) => source.startsWith(s));
    if (!scheme) throw new Error(`reference pattern ${JSON.stringify(source)} must start with a transport: ${SCHEMES.join(' ')}`);
    const body = source.slice(scheme.length);
    let location: string;
    let item: string | undefined;
    if (NAMED_SCHEMES.includes(scheme)) {
      const slash = body.lastIndexOf('/');
      const tail = slash >= 0 ? body.slice(slash + 1) : '';
      const sep = tail.search(/[:@]/);
      location = sep >= 0 ? body.slice(0, slash + 1 + sep) : body;
      item = sep >= 0 ? tail.slice(sep) : undefined;
      location = normalizeDockerPatternLocation(location);
    } else {
      const colon = body.indexOf(':');
      location = colon >= 0 ? body.slice(0, colon) : body;
      item = colon >= 0 ? body.slice(colon) : undefined;
      if (location.startsWith('/')) throw new Error(`reference pattern ${JSON.stringify(source)}: paths are relative to the storage root`);
      if (location.split('/').some((s) => s === '..')) throw new Error(`reference pattern ${JSON.stringify(source)} must not contain ".."`);
      const normalized = normalizeStoragePath(location);
      if (normalized === undefined) throw new Error(`reference pattern ${JSON.stringify(source)} leaves the storage root`);
      location = normalized;
    }
    if (location === '') throw new Error(`reference pattern ${JSON.stringify(source)} names no location`);
    if (item === ':' || item === '@') throw new Error(`reference pattern ${JSON.stringify(source)} has an empty tag or digest part`);
    return new ReferencePattern(source, scheme, new Glob(location), item === undefined ? undefined : new Glob(item));
  }

  /** Whether the pattern covers this image (or, for an item-less target, this whole repository). */
  matches(target: PatternTarget): boolean {
    if (target.scheme !== this.scheme || !this.location.matches(target.location)) return false;
    if (this.item === undefined) return true;
    return target.item !== undefined && this.item.matches(target.item);
  }

  /** Whether the pattern covers the target's location and everything below it (`…/**` over it or an ancestor). */
  coversTree(target: PatternTarget): boolean {
    if (target.scheme !== this.scheme || this.item !== undefined) return false;
    if (this.location.source === '**') return true;
    const base = this.treeBase;
    if (base === undefined) return false;
    const parts = target.location.split('/');
    for (let n = parts.length; n >= 1; n--) if (base.matches(parts.slice(0, n).join('/'))) return true;
    return false;
  }
}

/** The first component of a docker pattern location is normalised as a reference's domain is. */
function normalizeDockerPatternLocation(location: string): string {
  const slash = location.indexOf('/');
  const first = slash >= 0 ? location.slice(0, slash) : location;
  const rest = slash >= 0 ? location.slice(slash + 1) : '';
  const isDomain = first.includes('.') || first.includes(':') || first.includes('*') || first === 'localhost' || first.toLowerCase() !== first;
  if (!isDomain) return normalizeDockerPatternLocation(`${DEFAULT_DOMAIN}/${location}`);
  let domain = first.toLowerCase();
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  let path = rest;
  if (domain === DEFAULT_DOMAIN && path !== '' && !path.includes('/') && !path.includes('*')) path = OFFICIAL_REPOSITORY_PREFIX + path;
  return path === '' ? domain : `${domain}/${path}`;
}
