import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { join } from 'node:path';
import { hasScope, type Principal, requireScope } from '../auth/principal';
import { PrincipalDirectory } from '../auth/principal-directory';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DomainError, InvalidArgumentError } from '../errors/domain-error';
import { parseDockerReference } from '../image-spec/docker-reference';
import { DockerTransport } from '../transports/docker/docker.transport';
import type { CredentialResolver, RegistryAuth } from '../transports/transport';
import { type AuthFileDoc, decodeEntry, findEntry, normalizeRegistryKey, readAuthFile, usernameOf } from './auth-file';
import { getFromCredentialHelper } from './credential-helper';
import { CREDENTIAL_STORE, type CredentialStore, type StoredCredentialInfo, usernameOfAuth } from './credential-store';

const EXTERNAL_REREAD_MS = 2_000;

export interface StoredCredentialSummary {
  registry: string;
  username: string;
  /** `stored` = saved through this API; `external` = from REGISTRY_AUTH_FILE (read-only). */
  source: 'stored' | 'external';
  /** Who may use a stored entry, when it names them (absent: the principals with `credentials:admin`); shown to those principals only. */
  usableBy?: string[];
}

/**
 * Resolves registry credentials for every transport, in the name of a principal: the
 * request's own (X-Registry-Auth or a job's sourceAuth/destinationAuth), then those stored
 * through /v1/credentials that this principal may use, then the external auth file (with its
 * credHelpers / credsStore), then anonymous.
 *
 * Who may use what: a stored entry names its principals in `usableBy`; without it, and for
 * everything from the external auth file, only principals with `credentials:admin` (the local
 * user and SKIFF_API_TOKENS principals have it). Storing and forgetting need `credentials:admin`.
 *
 * Where stored entries live is the store's business (credentials.module.ts). At start this
 * service says in the log where that is and whether secrets are sealed, and has the store seal
 * again, under the current key, what is still under an older key (or, in auth.json, in clear):
 * so after a key rotation every entry is under the new key once one replica has started with it.
 */
@Injectable()
export class CredentialService implements OnModuleInit {
  private readonly logger = new Logger('Credentials');
  /** The external auth file may change under us: re-read at most every few seconds. */
  private external?: { doc: Promise<AuthFileDoc>; readAt: number };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly docker: DockerTransport,
    @Inject(CREDENTIAL_STORE) private readonly store: CredentialStore,
    private readonly principals: PrincipalDirectory,
  ) {}

  async onModuleInit(): Promise<void> {
    const shared = this.config.database.url !== undefined;
    if (shared && this.config.secretKeys.length === 0) this.logger.warn(`stored credentials: ${this.store.description}`);
    else this.logger.log(`stored credentials: ${this.store.description}`);
    if (shared) {
      // auth.json of an embedded-mode past is not read with PostgreSQL: say so rather than ignore it silently.
      const local = await readAuthFile(join(this.config.dataDir, 'auth.json')).catch(() => ({}) as AuthFileDoc);
      const n = Object.keys(local.auths ?? {}).length;
      if (n > 0) this.logger.warn(`${join(this.config.dataDir, 'auth.json')} holds ${n} stored login(s) that are not used with SKIFF_DATABASE_URL: store them again through PUT /v1/credentials`);
    }
    try {
      const r = await this.store.reseal();
      if (r.resealed > 0) this.logger.log(`stored credentials: ${r.resealed} entr${r.resealed === 1 ? 'y' : 'ies'} sealed again under the current key`);
      if (r.unreadable.length > 0) {
        this.logger.warn(`stored credentials of ${r.unreadable.join(', ')} cannot be opened with the configured keys (SKIFF_SECRET_KEY): they fail with CREDENTIALS_UNAVAILABLE until stored again or the old key is configured`);
      }
    } catch (e) {
      // An unreachable database must not stop the start (readiness reports it); the next start seals again.
      this.logger.error({ err: e }, 'stored credentials could not be sealed again under the current key; retried at the next start');
    }
  }

  /** A resolver for a transport context acting for `principal`; `requestAuth` wins for every registry of the request. */
  resolver(principal: Principal, requestAuth?: RegistryAuth): CredentialResolver {
    return async (registry: string) => requestAuth ?? (await this.lookup(registry, principal));
  }

  /** The principal an operation runs for (by the name recorded at submit time). */
  actingAs(name: string | undefined): Principal {
    return this.principals.actingAs(name);
  }

  async lookup(registry: string, principal: Principal): Promise<RegistryAuth | undefined> {
    const host = normalizeRegistryKey(registry);
    const stored = await this.store.get(host);
    if (stored && usableBy(stored, principal)) return stored.auth;
    if (!this.config.externalAuthFile || !hasScope(principal, 'credentials:admin')) return undefined;
    let external: AuthFileDoc;
    try {
      external = await this.externalDoc();
    } catch {
      throw new DomainError('CREDENTIAL_HELPER_FAILED', `the auth file ${this.config.externalAuthFile} cannot be read`);
    }
    const helper = external.credHelpers?.[host] ?? Object.entries(external.credHelpers ?? {}).find(([k]) => normalizeRegistryKey(k) === host)?.[1];
    if (helper) return getFromCredentialHelper(helper, host);
    const entry = findEntry(external, host);
    const fromExternal = entry ? decodeEntry(entry) : undefined;
    if (fromExternal) return fromExternal;
    if (external.credsStore) return getFromCredentialHelper(external.credsStore, host);
    return undefined;
  }

  /** Validates a registry name given in a path (`host[:port]`, or `docker.io`). */
  normalizeRegistry(registry: string): string {
    const host = normalizeRegistryKey(registry);
    let parsed;
    try {
      parsed = parseDockerReference(`${host}/skiff-probe`);
    } catch {
      throw new InvalidArgumentError(`invalid registry ${JSON.stringify(registry)}: expected host[:port]`);
    }
    if (parsed.domain !== host) throw new InvalidArgumentError(`invalid registry ${JSON.stringify(registry)}: expected host[:port]`);
    return host;
  }

  /** skopeo login: checks the credentials against the registry, then stores them for `usableBy` (default: the admins). */
  async login(principal: Principal, registry: string, auth: RegistryAuth, opts: { tlsVerify?: boolean; usableBy?: string[] }): Promise<StoredCredentialSummary> {
    requireScope(principal, 'credentials:admin', 'storing registry credentials');
    const host = this.normalizeRegistry(registry);
    if (auth.kind === 'registryToken') throw new InvalidArgumentError('registry tokens are short-lived and cannot be stored');
    const usable = opts.usableBy === undefined ? undefined : [...new Set(opts.usableBy)];
    for (const name of usable ?? []) {
      if (!this.principals.has(name)) throw new InvalidArgumentError(`usableBy: no principal is named ${JSON.stringify(name)}`);
    }
    this.store.assertWritable();
    const client = await this.docker.client(host, { credentials: async () => auth, tlsVerify: opts.tlsVerify });
    await client.checkAccess();
    await this.store.put({ registry: host, auth, ...(usable !== undefined ? { usableBy: usable } : {}) });
    return { registry: host, username: usernameOfAuth(auth), source: 'stored', ...(usable !== undefined ? { usableBy: usable } : {}) };
  }

  /** skopeo logout: forgets stored credentials; CREDENTIALS_NOT_FOUND when there are none. */
  async logout(principal: Principal, registry: string): Promise<void> {
    requireScope(principal, 'credentials:admin', 'forgetting registry credentials');
    const host = this.normalizeRegistry(registry);
    if (!(await this.store.delete(host))) throw new DomainError('CREDENTIALS_NOT_FOUND', `not logged into ${host}`);
  }

  /** The logins this principal may use (admins: all, with who may use them), never a secret. */
  async list(principal: Principal): Promise<StoredCredentialSummary[]> {
    const admin = hasScope(principal, 'credentials:admin');
    const out: StoredCredentialSummary[] = [];
    for (const entry of await this.store.list()) {
      if (!admin && !usableBy(entry, principal)) continue;
      out.push({
        registry: entry.registry,
        username: entry.username,
        source: 'stored',
        ...(admin && entry.usableBy !== undefined ? { usableBy: entry.usableBy } : {}),
      });
    }
    if (this.config.externalAuthFile && admin) {
      const external = await this.externalDoc().catch(() => ({}) as AuthFileDoc);
      for (const [k, v] of Object.entries(external.auths ?? {})) {
        const registry = normalizeRegistryKey(k);
        if (!out.some((o) => o.registry === registry)) out.push({ registry, username: usernameOf(v), source: 'external' });
      }
    }
    return out.sort((a, b) => a.registry.localeCompare(b.registry));
  }

  private externalDoc(): Promise<AuthFileDoc> {
    const now = Date.now();
    if (!this.external || now - this.external.readAt > EXTERNAL_REREAD_MS) {
      this.external = { doc: readAuthFile(this.config.externalAuthFile!), readAt: now };
      this.external.doc.catch(() => (this.external = undefined));
    }
    return this.external.doc;
  }
}

function usableBy(entry: Pick<StoredCredentialInfo, 'usableBy'>, principal: Principal): boolean {
  return entry.usableBy !== undefined ? entry.usableBy.includes(principal.name) : hasScope(principal, 'credentials:admin');
}
