import type { Queryable } from '../database/postgres-database';
import { DomainError } from '../errors/domain-error';
import { type SecretBox, SecretUnavailableError } from '../secrets/secret-box';
import type { CredentialStore, ResealReport, StoredCredential, StoredCredentialInfo } from './credential-store';
import { openCredential, type SealedCredential, sealCredential } from './sealed-credential';

/** Storing credentials in the shared database needs a key: they are never kept there in clear. */
export class SecretKeyRequiredError extends DomainError {
  constructor() {
    super(
      'SECRET_KEY_REQUIRED',
      'this service keeps stored credentials in its PostgreSQL database (SKIFF_DATABASE_URL), always encrypted, and has no key to encrypt them: ' +
        'set SKIFF_SECRET_KEY or SKIFF_SECRET_KEY_FILE (64 hex characters, e.g. from "openssl rand -hex 32") on every replica, ' +
        'or send credentials with each request (X-Registry-Auth, sourceAuth, destinationAuth)',
      { retryable: false },
    );
  }
}

interface CredentialRow {
  registry: string;
  username: string;
  usable_by: string | null;
  sealed: string;
}

function sealedOf(row: CredentialRow): SealedCredential {
  let usableBy: string[] | undefined;
  if (row.usable_by !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.usable_by);
    } catch {
      parsed = undefined;
    }
    // A value that is not a list of names (changed at rest) names nobody, and opens nothing:
    // the seal is bound to the list as it was written.
    usableBy = Array.isArray(parsed) ? parsed.filter((n): n is string => typeof n === 'string') : [];
  }
  return { registry: row.registry, username: row.username, sealed: row.sealed, ...(usableBy !== undefined ? { usableBy } : {}) };
}

/**
 * The CredentialStore on PostgreSQL, shared by every replica (table `stored_credentials`,
 * migration 3). Every entry is sealed (sealed-credential.ts); the table's CHECK refuses anything
 * that is not a sealed value, so no code path can store a secret in clear. Without a key, `put`
 * is SECRET_KEY_REQUIRED; reading, listing and forgetting still work.
 *
 * Reads go to the database every time (one primary-key lookup; nothing is cached), so a `put`
 * or `delete` through any replica is what every replica sees from its commit on — a revoked or
 * narrowed entry is never used from a stale copy. While the database is unreachable, a lookup is
 * STORE_UNAVAILABLE (503, retryable), never a silent anonymous fallback.
 */
export class PostgresCredentialStore implements CredentialStore {
  constructor(
    private readonly db: Queryable,
    private readonly box: SecretBox,
  ) {}

  get description(): string {
    return this.box.enabled
      ? `PostgreSQL table stored_credentials (sealed under key ${this.box.currentKeyId})`
      : 'PostgreSQL table stored_credentials: no SKIFF_SECRET_KEY, so storing credentials (PUT /v1/credentials) is refused until every replica has one';
  }

  assertWritable(): void {
    if (!this.box.enabled) throw new SecretKeyRequiredError();
  }

  async get(registry: string): Promise<StoredCredential | undefined> {
    const [row] = await this.db.query<CredentialRow>('SELECT registry, username, usable_by, sealed FROM stored_credentials WHERE registry = $1', [registry]);
    return row ? openCredential(this.box, sealedOf(row)) : undefined;
  }

  async put(entry: StoredCredential): Promise<void> {
    this.assertWritable();
    const s = sealCredential(this.box, entry);
    await this.db.execute(
      `INSERT INTO stored_credentials (registry, username, usable_by, sealed, updated_at) VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (registry) DO UPDATE SET username = excluded.username, usable_by = excluded.usable_by, sealed = excluded.sealed, updated_at = excluded.updated_at`,
      [s.registry, s.username, s.usableBy !== undefined ? JSON.stringify(s.usableBy) : null, s.sealed],
    );
  }

  async delete(registry: string): Promise<boolean> {
    return (await this.db.execute('DELETE FROM stored_credentials WHERE registry = $1', [registry])) > 0;
  }

  async list(): Promise<StoredCredentialInfo[]> {
    const rows = await this.db.query<CredentialRow>('SELECT registry, username, usable_by, sealed FROM stored_credentials ORDER BY registry');
    return rows.map((row) => {
      const s = sealedOf(row);
      return { registry: s.registry, username: s.username, ...(s.usableBy !== undefined ? { usableBy: s.usableBy } : {}) };
    });
  }

  /**
   * Seals again, under the current key, every entry sealed under another one. Each update is
   * conditional on the sealed value read, so a `put` made meanwhile (by any replica) is kept,
   * and replicas starting together do the work once.
   */
  async reseal(): Promise<ResealReport> {
    const report: ResealReport = { resealed: 0, unreadable: [] };
    if (!this.box.enabled) return report;
    const rows = await this.db.query<CredentialRow>('SELECT registry, username, usable_by, sealed FROM stored_credentials ORDER BY registry');
    for (const row of rows) {
      if (!this.box.needsReseal(row.sealed)) continue;
      let stored: StoredCredential;
      try {
        stored = openCredential(this.box, sealedOf(row));
      } catch (e) {
        if (!(e instanceof SecretUnavailableError)) throw e;
        report.unreadable.push(row.registry);
        continue;
      }
      const s = sealCredential(this.box, stored);
      report.resealed += await this.db.execute('UPDATE stored_credentials SET sealed = $1, updated_at = now() WHERE registry = $2 AND sealed = $3', [s.sealed, row.registry, row.sealed]);
    }
    return report;
  }
}
