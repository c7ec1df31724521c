import { InvalidArgumentError } from '../errors/domain-error';
import { type SecretBox, SecretUnavailableError } from '../secrets/secret-box';
import type { RegistryAuth } from '../transports/transport';
import { type StoredCredential, usernameOfAuth } from './credential-store';

/**
 * How a stored credential is kept at rest under a secret key (both adapters): the secret (the
 * RegistryAuth) sealed with SecretBox; the registry, the user name and `usableBy` beside it in
 * clear (listing needs no key) but bound to the seal as its associated data, so an entry whose
 * clear fields were changed at rest, or whose sealed value was moved to another registry, fails
 * to open (CREDENTIALS_UNAVAILABLE) instead of being used.
 */
export interface SealedCredential {
  registry: string;
  username: string;
  usableBy?: string[];
  /** SecretBox text (`v1.<key id>.…`). */
  sealed: string;
}

function associated(registry: string, username: string, usableBy: readonly string[] | undefined): string {
  return JSON.stringify(['skiff-credential-v1', registry, username, usableBy ?? null]);
}

/** Seals `entry` under the box's current key (the caller checks that there is one). */
export function sealCredential(box: SecretBox, entry: StoredCredential): SealedCredential {
  if (entry.auth.kind === 'registryToken') throw new InvalidArgumentError('registry tokens are short-lived and cannot be stored');
  const username = usernameOfAuth(entry.auth);
  return {
    registry: entry.registry,
    username,
    ...(entry.usableBy !== undefined ? { usableBy: [...entry.usableBy] } : {}),
    sealed: box.seal(entry.auth, associated(entry.registry, username, entry.usableBy)),
  };
}

/** Opens a sealed entry; CREDENTIALS_UNAVAILABLE (naming the registry and why) when no configured key opens it. */
export function openCredential(box: SecretBox, row: SealedCredential): StoredCredential {
  const what = `the credentials stored for ${row.registry}`;
  let auth: unknown;
  try {
    auth = box.open<unknown>(row.sealed, associated(row.registry, row.username, row.usableBy));
  } catch (e) {
    if (e instanceof SecretUnavailableError) throw new SecretUnavailableError(`${e.why}; store them again (PUT /v1/credentials/${row.registry})`, what);
    throw e;
  }
  if (!isStorableAuth(auth) || usernameOfAuth(auth) !== row.username) throw new SecretUnavailableError('what they hold is not a registry login', what);
  return { registry: row.registry, auth, ...(row.usableBy !== undefined ? { usableBy: row.usableBy } : {}) };
}

function isStorableAuth(v: unknown): v is RegistryAuth {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  if (a['kind'] === 'basic') return typeof a['username'] === 'string' && typeof a['password'] === 'string';
  if (a['kind'] === 'identityToken') return typeof a['identityToken'] === 'string' && (a['username'] === undefined || typeof a['username'] === 'string');
  return false;
}
