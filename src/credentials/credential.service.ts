import { Inject, Injectable } from '@nestjs/common';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DomainError, InvalidArgumentError } from '../errors/domain-error';
import { parseDockerReference } from '../image-spec/docker-reference';
import { DockerTransport } from '../transports/docker/docker.transport';
import type { CredentialResolver, RegistryAuth } from '../transports/transport';
import { type AuthFileDoc, encodeEntry, findEntry, decodeEntry, normalizeRegistryKey, readAuthFile, usernameOf, writeAuthFile } from './auth-file';
import { getFromCredentialHelper } from './credential-helper';

const EXTERNAL_REREAD_MS = 2_000;

export interface StoredCredentialSummary {
  registry: string;
  username: string;
  /** `stored` = saved through this API; `external` = from REGISTRY_AUTH_FILE (read-only). */
  source: 'stored' | 'external';
}

/**
 * Resolves registry credentials for every transport: the request's own (X-Registry-Auth or
 * a job's sourceAuth/destinationAuth), then those stored through /v1/credentials, then the
 * external auth file (with its credHelpers / credsStore), then anonymous.
 */
@Injectable()
export class CredentialService {
  private readonly storePath: string;
  private writeChain: Promise<unknown> = Promise.resolve();
  /** Our own store: this process is its only writer, so it is read once and kept. */
  private stored?: Promise<AuthFileDoc>;
  /** The external auth file may change under us: re-read at most every few seconds. */
  private external?: { doc: Promise<AuthFileDoc>; readAt: number };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly docker: DockerTransport,
  ) {
    this.storePath = join(config.dataDir, 'auth.json');
  }

  /** A resolver for a transport context; `requestAuth` wins for every registry of the request. */
  resolver(requestAuth?: RegistryAuth): CredentialResolver {
    return async (registry: string) => requestAuth ?? (await this.lookup(registry));
  }

  async lookup(registry: string): Promise<RegistryAuth | undefined> {
    const host = normalizeRegistryKey(registry);
    const stored = findEntry(await this.storedDoc(), host);
    const fromStore = stored ? decodeEntry(stored) : undefined;
    if (fromStore) return fromStore;
    if (!this.config.externalAuthFile) return undefined;
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

  /** skopeo login: checks the credentials against the registry, then stores them. */
  async login(registry: string, auth: RegistryAuth, opts: { tlsVerify?: boolean }): Promise<StoredCredentialSummary> {
    const host = this.normalizeRegistry(registry);
    const client = await this.docker.client(host, { credentials: async () => auth, tlsVerify: opts.tlsVerify });
    await client.checkAccess();
    await this.update((doc) => {
      const auths = { ...(doc.auths ?? {}) };
      for (const k of Object.keys(auths)) if (normalizeRegistryKey(k) === host) delete auths[k];
      auths[host] = encodeEntry(auth);
      return { ...doc, auths };
    });
    return { registry: host, username: auth.kind === 'basic' ? auth.username : auth.kind === 'identityToken' ? (auth.username ?? '<token>') : '', source: 'stored' };
  }

  /** skopeo logout: forgets stored credentials; IMAGE_NOT_FOUND-like error when there are none. */
  async logout(registry: string): Promise<void> {
    const host = this.normalizeRegistry(registry);
    let removed = false;
    await this.update((doc) => {
      const auths = { ...(doc.auths ?? {}) };
      for (const k of Object.keys(auths)) {
        if (normalizeRegistryKey(k) === host) {
          delete auths[k];
          removed = true;
        }
      }
      return { ...doc, auths };
    });
    if (!removed) throw new DomainError('CREDENTIALS_NOT_FOUND', `not logged into ${host}`);
  }

  async list(): Promise<StoredCredentialSummary[]> {
    const out: StoredCredentialSummary[] = [];
    const stored = await this.storedDoc();
    for (const [k, v] of Object.entries(stored.auths ?? {})) out.push({ registry: normalizeRegistryKey(k), username: usernameOf(v), source: 'stored' });
    if (this.config.externalAuthFile) {
      const external = await this.externalDoc().catch(() => ({}) as AuthFileDoc);
      for (const [k, v] of Object.entries(external.auths ?? {})) {
        const registry = normalizeRegistryKey(k);
        if (!out.some((o) => o.registry === registry)) out.push({ registry, username: usernameOf(v), source: 'external' });
      }
    }
    return out.sort((a, b) => a.registry.localeCompare(b.registry));
  }

  private storedDoc(): Promise<AuthFileDoc> {
    if (!this.stored) {
      this.stored = readAuthFile(this.storePath);
      this.stored.catch(() => (this.stored = undefined));
    }
    return this.stored;
  }

  private externalDoc(): Promise<AuthFileDoc> {
    const now = Date.now();
    if (!this.external || now - this.external.readAt > EXTERNAL_REREAD_MS) {
      this.external = { doc: readAuthFile(this.config.externalAuthFile!), readAt: now };
      this.external.doc.catch(() => (this.external = undefined));
    }
    return this.external.doc;
  }

  /** Read-modify-write of the store, serialised within the process. */
  private update(change: (doc: AuthFileDoc) => AuthFileDoc): Promise<void> {
    const next = this.writeChain.then(async () => {
      const doc = change(await readAuthFile(this.storePath));
      await writeAuthFile(this.storePath, doc);
      this.stored = Promise.resolve(doc);
    });
    this.writeChain = next.catch(() => undefined);
    return next;
  }
}
