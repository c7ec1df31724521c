import type { RegistryAuth } from '../transports/transport';

/**
 * The port of stored registry credentials (what `PUT /v1/credentials/{registry}` saves). One
 * adapter per backend: the `auth.json` file (AuthFileCredentialStore) today; a database one
 * for several replicas later. Every adapter keeps the same contract:
 * - `registry` keys are normalised by the caller (normalizeRegistryKey: lower-case host[:port],
 *   `docker.io` for Docker Hub) and compared exactly;
 * - `put` replaces the whole entry of a registry; `delete` says whether there was one;
 * - secrets are returned only to the credential service, never listed elsewhere.
 */
export interface StoredCredential {
  registry: string;
  /** Basic or identity-token credentials (registry tokens are short-lived and never stored). */
  auth: RegistryAuth;
  /** Names of the principals that may use it; undefined = the principals with `credentials:admin`. */
  usableBy?: string[];
}

export interface CredentialStore {
  get(registry: string): Promise<StoredCredential | undefined>;
  put(entry: StoredCredential): Promise<void>;
  delete(registry: string): Promise<boolean>;
  list(): Promise<StoredCredential[]>;
}

/** Nest token of the configured CredentialStore adapter. */
export const CREDENTIAL_STORE = Symbol('CREDENTIAL_STORE');
