import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomainError } from '../errors/domain-error';
import { writeFileAtomic } from '../storage/atomic-write';
import { fsErrorCode } from '../storage/storage-errors';
import type { RegistryAuth } from '../transports/transport';

/**
 * The containers-auth.json / docker config.json format:
 * `{"auths": {"host": {"auth": base64("user:pass"), "identitytoken": "…"}},
 *   "credHelpers": {"host": "name"}, "credsStore": "name"}`.
 * Unknown keys are kept when the file is rewritten.
 */
export interface AuthFileEntry {
  auth?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

export interface AuthFileDoc {
  auths?: Record<string, AuthFileEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

/**
 * Normalises an auth-file key or a registry name, as containers/image's normalizeAuthFileKey:
 * an `http://` or `https://` key is a legacy URL and is cut to its host (so
 * `https://index.docker.io/v1/` is Docker Hub); a key without a scheme is kept whole, since
 * `quay.io/team/app` names a repository namespace, not the registry. Docker Hub's aliases
 * (`index.docker.io`, `registry-1.docker.io`) become `docker.io`. Case and surrounding blanks
 * are ignored.
 */
export function normalizeRegistryKey(key: string): string {
  const k = key.trim().toLowerCase();
  const stripped = k.replace(/^https?:\/\//, '');
  const normalized = stripped !== k ? stripped.split('/')[0]! : stripped;
  if (normalized === 'index.docker.io' || normalized === 'registry-1.docker.io') return 'docker.io';
  return normalized;
}

/** Decodes an entry's `auth` (base64 "user:password") or identity token. */
export function decodeEntry(entry: AuthFileEntry): RegistryAuth | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    const user = typeof entry.auth === 'string' ? Buffer.from(entry.auth, 'base64').toString('utf8').split(':')[0] : undefined;
    return { kind: 'identityToken', identityToken: entry.identitytoken, ...(user ? { username: user } : {}) };
  }
  if (typeof entry.auth !== 'string' || entry.auth === '') return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function encodeEntry(auth: RegistryAuth): AuthFileEntry {
  if (auth.kind === 'basic') return { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') };
  if (auth.kind === 'identityToken') {
    return {
      ...(auth.username ? { auth: Buffer.from(`${auth.username}:`).toString('base64') } : {}),
      identitytoken: auth.identityToken,
    };
  }
  throw new DomainError('INVALID_ARGUMENT', 'registry tokens are short-lived and cannot be stored');
}

export function usernameOf(entry: AuthFileEntry): string {
  const a = decodeEntry(entry);
  if (!a) return '';
  if (a.kind === 'basic') return a.username;
  if (a.kind === 'identityToken') return a.username ?? '<token>';
  return '';
}

/**
 * Finds the entry for a whole registry (a host): the exact key first, then the first key that
 * normalises to the same registry (legacy URL keys). A repository-scoped key such as
 * `quay.io/team/app` never answers for the registry.
 */
export function findEntry(doc: AuthFileDoc, registry: string): AuthFileEntry | undefined {
  const auths = doc.auths ?? {};
  if (Object.hasOwn(auths, registry)) return auths[registry];
  const wanted = normalizeRegistryKey(registry);
  for (const [k, v] of Object.entries(auths)) if (normalizeRegistryKey(k) === wanted) return v;
  return undefined;
}

export async function readAuthFile(path: string): Promise<AuthFileDoc> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (fsErrorCode(e) === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  const doc = JSON.parse(text) as unknown;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`auth file ${path} is not a JSON object`);
  return doc as AuthFileDoc;
}

/**
 * Replaces the file atomically (writeFileAtomic: a temp file beside it, fsynced, renamed over
 * `path`), with mode exactly 0600; missing directories are created 0700. Concurrent writers do
 * not merge: the last rename wins.
 */
export async function writeAuthFile(path: string, doc: AuthFileDoc): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, JSON.stringify(doc, null, '\t') + '\n', { mode: 0o600 });
}
