import type { RegistryAuth } from '../transports/transport';

/**
 * The port of stored registry credentials (what `PUT /v1/credentials/{registry}` saves). Two
 * adapters, held to one contract suite (test/credential-store.e2e-spec.ts):
 * - AuthFileCredentialStore: `$SKIFF_DATA_DIR/auth.json`, the embedded default (one process);
 * - PostgresCredentialStore: the table `stored_credentials`, shared by every replica.
 *
 * Contract, for every adapter:
 * - `registry` keys are normalised by the caller (normalizeRegistryKey: lower-case host[:port],
 *   `docker.io` for Docker Hub) and compared exactly;
 * - `put` replaces the whole entry of a registry; `delete` says whether there was one;
 * - a `put` is seen by every later `get` and `list`, in this process and in any other sharing
 *   the store (no cache outlives a write);
 * - secrets are returned by `get` only (the credential service's lookup), never by `list`, which
 *   opens nothing and so works without the key;
 * - with a secret key (SecretBox enabled) secrets are sealed at rest with AES-256-GCM, bound to
 *   the registry, the user name and `usableBy` (changing any of them at rest makes the entry
 *   fail to open instead of granting it to someone else); an entry that cannot be opened is
 *   CREDENTIALS_UNAVAILABLE naming the registry, never skipped silently;
 * - `reseal` seals again, under the current (first) key, every entry kept under an older key
 *   or in clear; it never overwrites an entry changed meanwhile.
 */
export interface StoredCredential {
  registry: string;
  /** Basic or identity-token credentials (registry tokens are short-lived and never stored). */
  auth: RegistryAuth;
  /** Names of the principals that may use it; undefined = the principals with `credentials:admin`. */
  usableBy?: string[];
}

/** A stored entry without its secret (what listing shows). */
export interface StoredCredentialInfo {
  registry: string;
  /** The registry user name; `<token>` for an identity token without one. */
  username: string;
  usableBy?: string[];
}

/** What `reseal` did: entries sealed again, and entries no configured key opens (left as they are). */
export interface ResealReport {
  resealed: number;
  unreadable: string[];
}

export interface CredentialStore {
  /** How entries are kept, for the start-up log (never a secret). */
  readonly description: string;
  /** Throws the DomainError `put` would throw for any entry (PostgreSQL without a key), so a login is refused before the registry is asked. */
  assertWritable(): void;
  get(registry: string): Promise<StoredCredential | undefined>;
  put(entry: StoredCredential): Promise<void>;
  delete(registry: string): Promise<boolean>;
  list(): Promise<StoredCredentialInfo[]>;
  reseal(): Promise<ResealReport>;
}

/** The user name a stored entry is listed with. */
export function usernameOfAuth(auth: RegistryAuth): string {
  if (auth.kind === 'basic') return auth.username;
  if (auth.kind === 'identityToken') return auth.username ?? '<token>';
  return '';
}

/** Nest token of the configured CredentialStore adapter. */
export const CREDENTIAL_STORE = Symbol('CREDENTIAL_STORE');
