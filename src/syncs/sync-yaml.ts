import { stringify } from 'yaml';
import { InvalidArgumentError } from '../errors/domain-error';
import { isDigest } from '../image-spec/digest';
import { type DockerReference, isNameOnly, isValidTag, parseDockerReference } from '../image-spec/docker-reference';
import { InvalidReferenceError } from '../image-spec/invalid-reference-error';
import type { SyncYamlCredentials } from '../transfers/transfer-secrets';
import { compileTagRegex, type TagRegex } from './tag-regex';
import { parseSemverConstraint, type SemverConstraint } from './semver-constraint';
import { readYamlDocument } from './yaml-document';

/**
 * skopeo's `sync --src yaml` document (cmd/skopeo/sync.go sourceConfig), parsed and checked
 * before anything is queued:
 *
 * ```yaml
 * registry.example.com:            # a registry, optionally with a path prefix
 *   images:                        # repository → tags and/or digests; empty list = every tag
 *     busybox: []
 *     team/app: ["1.0", "sha256:…"]
 *   images-by-tag-regex:           # repository → regular expression (Go RE2 syntax) on tags
 *     team/app: ^1\.\d+$
 *   images-by-semver:              # repository → semver constraint (Masterminds syntax) on tags
 *     team/app: ">= 1.2, < 2"
 *   tls-verify: false
 *   credentials: {username: u, password: p}
 *   cert-dir: /etc/skiff/certs/registry.example.com
 * ```
 *
 * Where skiff is stricter than skopeo (which logs and skips): unknown keys, unparsable
 * repository names, tags, regular expressions and constraints are refused (400), not skipped.
 * Scalars are read as written (`1.0` is the tag "1.0", as Go's yaml.v3 decodes it into a string).
 */

export interface SyncYamlRepository {
  /** The repository, `registry key/name` normalised (`docker.io/library/busybox`). */
  repository: DockerReference;
  /** The name as written under the registry key. */
  name: string;
}

export interface SyncYamlRegistry {
  /** The top-level key as written (`registry.example.com`, `registry.example.com/prefix`). */
  key: string;
  /** `images`: explicit references (tags or digests); an empty list = every tag. */
  images: Array<SyncYamlRepository & { references: string[] }>;
  imagesByTagRegex: Array<SyncYamlRepository & { pattern: TagRegex }>;
  imagesBySemver: Array<SyncYamlRepository & { constraint: SemverConstraint }>;
  /** `tls-verify` when present; absent = the request's sourceTlsVerify. */
  tlsVerify?: boolean;
  credentials?: SyncYamlCredentials;
  certDir?: string;
}

export const REDACTED = '[redacted]';

const REGISTRY_KEYS = ['images', 'images-by-tag-regex', 'images-by-semver', 'tls-verify', 'credentials', 'cert-dir'];
const CREDENTIAL_KEYS = ['username', 'password', 'identitytoken'];
const SECRET_KEYS = ['password', 'identitytoken'];
const TAG_OR_DIGEST_MAX = 256;

type Plain = string | Plain[] | { [k: string]: Plain };

/** Go's yaml.v3 decodes these into nil (an empty map or list). */
function isNullish(v: Plain | null | undefined): boolean {
  return v === undefined || v === null || (typeof v === 'string' && /^(|~|null|Null|NULL)$/.test(v));
}

function fail(where: string, message: string): never {
  throw new InvalidArgumentError(`yaml: ${where}: ${message}`);
}

function mapping(v: Plain | undefined, where: string): Record<string, Plain> {
  if (isNullish(v)) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(where, 'must be a mapping');
  return v;
}

function scalar(v: Plain | undefined, where: string): string {
  if (typeof v !== 'string') fail(where, 'must be a string');
  return v;
}

/** yaml.v3's bool decoding (YAML 1.2 core plus the 1.1 words it still accepts for bools). */
function bool(v: Plain | undefined, where: string): boolean {
  const s = typeof v === 'string' ? v : '';
  if (/^(true|True|TRUE|yes|Yes|YES|on|On|ON)$/.test(s)) return true;
  if (/^(false|False|FALSE|no|No|NO|off|Off|OFF)$/.test(s)) return false;
  fail(where, 'must be true or false');
}

function repositoryOf(key: string, name: string, where: string): DockerReference {
  let ref: DockerReference;
  try {
    ref = parseDockerReference(`${key}/${name}`);
  } catch (e) {
    if (e instanceof InvalidReferenceError) fail(where, `${JSON.stringify(`${key}/${name}`)} is not a valid repository: ${e.reason}`);
    throw e;
  }
  if (!isNameOnly(ref)) fail(where, `${JSON.stringify(`${key}/${name}`)} names an image, not a repository (put tags and digests in the list)`);
  return ref;
}

async function parseText(text: string): Promise<{ value: Record<string, Plain> }> {
  const value = (await readYamlDocument(text)) as Plain | null | undefined;
  if (isNullish(value)) throw new InvalidArgumentError('yaml: the document is empty: expected registry → {images, images-by-tag-regex, images-by-semver, …}');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('yaml: the document must be a mapping of registries');
  return { value };
}

/** At most this many images-by-tag-regex selectors, and selectors of any kind, in one document. */
export const MAX_TAG_REGEX_SELECTORS = 100;
export const MAX_SELECTORS = 1000;
/** CPU time compiling one document's regular expressions may take (a large RE2 program takes tens of ms). */
const REGEX_COMPILE_BUDGET_MS = 2_000;

/** Counts the document's selectors before anything is compiled; INVALID_ARGUMENT beyond the caps. */
function checkSelectorCounts(value: Record<string, Plain>): void {
  let regexes = 0;
  let selectors = 0;
  for (const raw of Object.values(value)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    const count = (k: string) => (typeof raw[k] === 'object' && raw[k] !== null && !Array.isArray(raw[k]) ? Object.keys(raw[k]).length : 0);
    regexes += count('images-by-tag-regex');
    selectors += count('images') + count('images-by-tag-regex') + count('images-by-semver');
  }
  if (regexes > MAX_TAG_REGEX_SELECTORS) throw new InvalidArgumentError(`yaml: ${regexes} images-by-tag-regex selectors; at most ${MAX_TAG_REGEX_SELECTORS} are accepted in one sync`);
  if (selectors > MAX_SELECTORS) throw new InvalidArgumentError(`yaml: ${selectors} repository selectors; at most ${MAX_SELECTORS} are accepted in one sync`);
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Parses and validates the document. `allowedCertDir` decides whether a `cert-dir` may be
 * used (the server's SKIFF_SYNC_CERT_DIRS); it returns an error message when not.
 *
 * Selectors are counted first (caps above); the tag regular expressions are then compiled one
 * at a time, yielding to the event loop between them, within a budget of compile time.
 */
export async function parseSyncYaml(text: string, allowedCertDir: (dir: string) => string | undefined): Promise<SyncYamlRegistry[]> {
  return registriesOf((await parseText(text)).value, allowedCertDir);
}

/**
 * parseSyncYaml and redactSyncYaml of one document, parsed once (a submission needs both; a
 * large document is parsed on a thread, see yaml-document.ts).
 */
export async function readSyncYaml(
  text: string,
  allowedCertDir: (dir: string) => string | undefined,
): Promise<{ registries: SyncYamlRegistry[]; redacted: { text: string; secrets: Record<string, SyncYamlCredentials> } }> {
  const { value } = await parseText(text);
  const registries = await registriesOf(value, allowedCertDir);
  return { registries, redacted: redactedOf(text, value) };
}

async function registriesOf(value: Record<string, Plain>, allowedCertDir: (dir: string) => string | undefined): Promise<SyncYamlRegistry[]> {
  checkSelectorCounts(value);
  let compileMs = 0;
  const registries: SyncYamlRegistry[] = [];
  for (const [key, raw] of Object.entries(value)) {
    const at = JSON.stringify(key);
    const cfg = mapping(raw, at);
    for (const k of Object.keys(cfg)) {
      if (!REGISTRY_KEYS.includes(k)) fail(at, `unknown key ${JSON.stringify(k)} (known: ${REGISTRY_KEYS.join(', ')})`);
    }
    const reg: SyncYamlRegistry = { key, images: [], imagesByTagRegex: [], imagesBySemver: [] };
    for (const [name, refsRaw] of Object.entries(mapping(cfg['images'], `${at}.images`))) {
      const where = `${at}.images.${JSON.stringify(name)}`;
      const repository = repositoryOf(key, name, where);
      const list = isNullish(refsRaw) ? [] : refsRaw;
      if (!Array.isArray(list)) fail(where, 'must be a list of tags or digests');
      const references = list.map((r, i) => {
        const ref = scalar(r, `${where}[${i}]`);
        if (ref.length > TAG_OR_DIGEST_MAX) fail(`${where}[${i}]`, 'is too long');
        if (!isDigest(ref) && !isValidTag(ref)) fail(`${where}[${i}]`, `${JSON.stringify(ref)} is neither a tag nor a digest (sha256:… / sha512:…)`);
        return ref;
      });
      reg.images.push({ repository, name, references });
    }
    for (const [name, patternRaw] of Object.entries(mapping(cfg['images-by-tag-regex'], `${at}.images-by-tag-regex`))) {
      const where = `${at}.images-by-tag-regex.${JSON.stringify(name)}`;
      const repository = repositoryOf(key, name, where);
      let pattern: TagRegex;
      if (compileMs > REGEX_COMPILE_BUDGET_MS) fail(where, `the document's tag regular expressions take more than ${REGEX_COMPILE_BUDGET_MS} ms to compile; use fewer or smaller ones`);
      await yieldToEventLoop();
      const started = performance.now();
      try {
        pattern = compileTagRegex(scalar(patternRaw, where));
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw e;
        fail(where, (e as Error).message);
      } finally {
        compileMs += performance.now() - started;
      }
      reg.imagesByTagRegex.push({ repository, name, pattern });
    }
    for (const [name, constraintRaw] of Object.entries(mapping(cfg['images-by-semver'], `${at}.images-by-semver`))) {
      const where = `${at}.images-by-semver.${JSON.stringify(name)}`;
      const repository = repositoryOf(key, name, where);
      let constraint: SemverConstraint;
      try {
        constraint = parseSemverConstraint(scalar(constraintRaw, where));
      } catch (e) {
        fail(where, (e as Error).message);
      }
      reg.imagesBySemver.push({ repository, name, constraint });
    }
    if (cfg['tls-verify'] !== undefined) reg.tlsVerify = bool(cfg['tls-verify'], `${at}.tls-verify`);
    if (!isNullish(cfg['credentials'])) {
      const c = mapping(cfg['credentials'], `${at}.credentials`);
      for (const k of Object.keys(c)) {
        if (!CREDENTIAL_KEYS.includes(k)) fail(`${at}.credentials`, `unknown key ${JSON.stringify(k)} (known: ${CREDENTIAL_KEYS.join(', ')})`);
      }
      const creds: SyncYamlCredentials = {};
      for (const k of CREDENTIAL_KEYS) {
        if (c[k] !== undefined) creds[k as keyof SyncYamlCredentials] = scalar(c[k], `${at}.credentials.${k}`);
      }
      if (Object.values(creds).some((v) => v !== '')) reg.credentials = creds;
    }
    if (!isNullish(cfg['cert-dir'])) {
      const dir = scalar(cfg['cert-dir'], `${at}.cert-dir`);
      const refusal = allowedCertDir(dir);
      if (refusal) fail(`${at}.cert-dir`, refusal);
      reg.certDir = dir;
    }
    registries.push(reg);
  }
  return registries;
}

/**
 * The document as stored with the operation: every `credentials.password` and
 * `credentials.identitytoken` replaced by `[redacted]` (usernames stay, as /v1/credentials
 * shows them), and the credentials taken out, by registry key. A document without secrets is
 * returned unchanged, byte for byte; one with secrets is written out again from its parsed
 * value (comments and anchors are not kept, so no alias can carry a secret through).
 */
export async function redactSyncYaml(text: string): Promise<{ text: string; secrets: Record<string, SyncYamlCredentials> }> {
  return redactedOf(text, (await parseText(text)).value);
}

function redactedOf(text: string, value: Record<string, Plain>): { text: string; secrets: Record<string, SyncYamlCredentials> } {
  const secrets: Record<string, SyncYamlCredentials> = {};
  const redacted: Record<string, Plain> = {};
  for (const [key, raw] of Object.entries(value)) {
    redacted[key] = raw;
    const creds = typeof raw === 'object' && !Array.isArray(raw) ? raw['credentials'] : undefined;
    if (typeof creds !== 'object' || Array.isArray(creds)) continue;
    if (!SECRET_KEYS.some((k) => typeof creds[k] === 'string' && creds[k] !== '')) continue;
    const taken: SyncYamlCredentials = {};
    for (const k of CREDENTIAL_KEYS) if (typeof creds[k] === 'string') taken[k as keyof SyncYamlCredentials] = creds[k];
    secrets[key] = taken;
    const cleaned: Record<string, Plain> = { ...creds };
    for (const k of SECRET_KEYS) if (typeof cleaned[k] === 'string' && cleaned[k] !== '') cleaned[k] = REDACTED;
    redacted[key] = { ...(raw as Record<string, Plain>), credentials: cleaned };
  }
  if (Object.keys(secrets).length === 0) return { text, secrets };
  return { text: stringify(redacted), secrets };
}
