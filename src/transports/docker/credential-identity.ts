import { createHmac, randomBytes } from 'node:crypto';
import type { RegistryAuth } from '../transport';

/**
 * The identity of the credentials a registry request is sent with, for keying per-credential
 * state (429 hold-offs, cached bearer tokens) without keeping the secret as a map key. It is an
 * HMAC-SHA256 of every field of the credentials under a key drawn at process start and never
 * exported: stable for the life of the process, equal for equal credentials, and not reversible
 * (not even a weak password can be guessed back from it offline). Every anonymous request has
 * the one identity ANONYMOUS_IDENTITY. Identities never leave the process (no metric label, no
 * answer, no log carries one).
 */

const KEY = randomBytes(32);

export const ANONYMOUS_IDENTITY = 'anonymous';

function fields(auth: RegistryAuth): string[] {
  if (auth.kind === 'basic') return [auth.kind, auth.username, auth.password];
  if (auth.kind === 'identityToken') return [auth.kind, auth.identityToken];
  return [auth.kind, auth.registryToken];
}

/** `anonymous` without credentials, else `cred:` and 128 bits of the HMAC of the credentials. */
export function credentialIdentity(auth: RegistryAuth | undefined): string {
  if (!auth) return ANONYMOUS_IDENTITY;
  const mac = createHmac('sha256', KEY);
  // Length-prefixed fields: two different credentials never feed the same bytes.
  for (const f of fields(auth)) mac.update(`${Buffer.byteLength(f)}:${f}`);
  return `cred:${mac.digest('base64url').slice(0, 22)}`;
}

/** The secret parts of credentials (never the username), for redacting what an upstream echoes back. */
export function credentialSecrets(auth: RegistryAuth | undefined): string[] {
  if (!auth) return [];
  if (auth.kind === 'basic') return [auth.password];
  if (auth.kind === 'identityToken') return [auth.identityToken];
  return [auth.registryToken];
}
