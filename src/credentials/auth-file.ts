import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomainError } from '../errors/domain-error';
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
 * Normalises an auth-file key or a registry name to a registry host: legacy keys such as
 * `https://index.docker.io/v1/` become `docker.io`; a scheme and path are dropped.
 */
export function normalizeRegistryKey(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z]+:\/\//, '');
  const slash = k.indexOf('/');
  const host = slash >= 0 ? k.slice(0, slash) : k;
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return 'docker.io';
  return host;
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

/** Finds the entry for a registry host among keys that may be legacy URLs. */
export function findEntry(doc: AuthFileDoc, registry: string): AuthFileEntry | undefined {
  const auths = doc.auths ?? {};
  if (auths[registry]) return auths[registry];
  for (const [k, v] of Object.entries(auths)) if (normalizeRegistryKey(k) === registry) return v;
  return undefined;
}

export async function readAuthFile(path: string): Promise<AuthFileDoc> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  const doc = JSON.parse(text) as unknown;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`auth file ${path} is not a JSON object`);
  return doc as AuthFileDoc;
}

/** Writes atomically (temp file, fsync by rename) with mode 0600. */
export async function writeAuthFile(path: string, doc: AuthFileDoc): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(doc, null, '\t') + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
