import { SecretUnavailableError, type SecretBox } from '../secrets/secret-box';
import { type AuthFileDoc, type AuthFileEntry, decodeEntry, encodeEntry, findEntry, normalizeRegistryKey, readAuthFile, writeAuthFile } from './auth-file';
import { type CredentialStore, type ResealReport, type StoredCredential, type StoredCredentialInfo, usernameOfAuth } from './credential-store';
import { openCredential, type SealedCredential, sealCredential } from './sealed-credential';

/** Keys of a sealed entry of `auths` (skopeo and docker ignore them: such an entry holds no `auth` they could use). */
const SEALED = 'skiffSealed';
const SEALED_USERNAME = 'skiffUsername';

/**
 * The CredentialStore on `$SKIFF_DATA_DIR/auth.json` (containers-auth.json format, mode 0600,
 * replaced atomically): the embedded default of a single process. An entry's `usableBy` is kept
 * as an extra key of its `auths` entry, which skopeo and docker ignore; other keys of the file
 * are kept when it is rewritten.
 *
 * Without a secret key, entries are written as skopeo writes them (`auth` = base64 user:password),
 * as skiff always did. With a key (SKIFF_SECRET_KEY), they are written sealed
 * (`{"skiffSealed": "v1.…", "skiffUsername": "…", "usableBy": […]}`, see sealed-credential.ts),
 * and `reseal` (run at start) seals the entries still in clear or under an older key. Entries
 * in clear are read with or without a key; sealed ones need a key that opens them.
 *
 * This process is the file's only writer (one process per data directory): it is read once and
 * kept, and writes are serialised.
 */
export class AuthFileCredentialStore implements CredentialStore {
  private writeChain: Promise<unknown> = Promise.resolve();
  private doc?: Promise<AuthFileDoc>;

  constructor(
    private readonly path: string,
    private readonly box: SecretBox,
  ) {}

  get description(): string {
    return `${this.path} (mode 0600, ${this.box.enabled ? `secrets sealed under key ${this.box.currentKeyId}` : 'secrets in clear: set SKIFF_SECRET_KEY to seal them'})`;
  }

  assertWritable(): void {
    // written in clear without a key, as skiff always did: a single process's own file
  }

  async get(registry: string): Promise<StoredCredential | undefined> {
    const key = normalizeRegistryKey(registry);
    const entry = findEntry(await this.read(), registry);
    if (!entry) return undefined;
    const sealed = sealedOf(key, entry);
    return sealed ? openCredential(this.box, sealed) : clearOf(key, entry);
  }

  async list(): Promise<StoredCredentialInfo[]> {
    const out: StoredCredentialInfo[] = [];
    for (const [k, v] of Object.entries((await this.read()).auths ?? {})) {
      const registry = normalizeRegistryKey(k);
      const sealed = sealedOf(registry, v);
      if (sealed) {
        out.push({ registry, username: sealed.username, ...(sealed.usableBy !== undefined ? { usableBy: sealed.usableBy } : {}) });
        continue;
      }
      const s = clearOf(registry, v);
      if (s) out.push({ registry, username: usernameOfAuth(s.auth), ...(s.usableBy !== undefined ? { usableBy: s.usableBy } : {}) });
    }
    return out;
  }

  async put(entry: StoredCredential): Promise<void> {
    const written = this.box.enabled ? sealedEntry(sealCredential(this.box, entry)) : { ...encodeEntry(entry.auth), ...(entry.usableBy !== undefined ? { usableBy: [...entry.usableBy] } : {}) };
    await this.update((doc) => {
      const auths = { ...(doc.auths ?? {}) };
      for (const k of Object.keys(auths)) if (normalizeRegistryKey(k) === entry.registry) delete auths[k];
      auths[entry.registry] = written;
      return { doc: { ...doc, auths }, result: undefined };
    });
  }

  delete(registry: string): Promise<boolean> {
    return this.update((doc) => {
      const auths = { ...(doc.auths ?? {}) };
      let removed = false;
      for (const k of Object.keys(auths)) {
        if (normalizeRegistryKey(k) === registry) {
          delete auths[k];
          removed = true;
        }
      }
      return { doc: { ...doc, auths }, result: removed, unchanged: !removed };
    });
  }

  reseal(): Promise<ResealReport> {
    if (!this.box.enabled) return Promise.resolve({ resealed: 0, unreadable: [] });
    return this.update((doc) => {
      const auths = { ...(doc.auths ?? {}) };
      const report: ResealReport = { resealed: 0, unreadable: [] };
      for (const [k, v] of Object.entries(auths)) {
        const registry = normalizeRegistryKey(k);
        const sealed = sealedOf(registry, v);
        let stored: StoredCredential | undefined;
        if (sealed) {
          if (!this.box.needsReseal(sealed.sealed)) continue;
          try {
            stored = openCredential(this.box, sealed);
          } catch (e) {
            if (!(e instanceof SecretUnavailableError)) throw e;
            report.unreadable.push(registry);
            continue;
          }
        } else {
          stored = clearOf(registry, v);
        }
        if (!stored) continue;
        // The entry keeps its key in the file (a legacy URL key stays as it was written).
        auths[k] = sealedEntry(sealCredential(this.box, stored));
        report.resealed++;
      }
      return { doc: { ...doc, auths }, result: report, unchanged: report.resealed === 0 };
    });
  }

  private read(): Promise<AuthFileDoc> {
    if (!this.doc) {
      this.doc = readAuthFile(this.path);
      this.doc.catch(() => (this.doc = undefined));
    }
    return this.doc;
  }

  /** Read-modify-write, serialised within the process; an `unchanged` result writes nothing. */
  private update<T>(change: (doc: AuthFileDoc) => { doc: AuthFileDoc; result: T; unchanged?: boolean }): Promise<T> {
    const next = this.writeChain.then(async () => {
      const { doc, result, unchanged } = change(await readAuthFile(this.path));
      if (!unchanged) await writeAuthFile(this.path, doc);
      this.doc = Promise.resolve(doc);
      return result;
    });
    this.writeChain = next.catch(() => undefined);
    return next;
  }
}

function usableByOf(entry: AuthFileEntry): string[] | undefined {
  return Array.isArray(entry['usableBy']) ? (entry['usableBy'] as unknown[]).filter((n): n is string => typeof n === 'string') : undefined;
}

function sealedOf(registry: string, entry: AuthFileEntry): SealedCredential | undefined {
  const sealed = entry[SEALED];
  if (typeof sealed !== 'string') return undefined;
  const username = typeof entry[SEALED_USERNAME] === 'string' ? entry[SEALED_USERNAME] : '';
  const usableBy = usableByOf(entry);
  return { registry, username, sealed, ...(usableBy !== undefined ? { usableBy } : {}) };
}

function sealedEntry(s: SealedCredential): AuthFileEntry {
  return { [SEALED]: s.sealed, [SEALED_USERNAME]: s.username, ...(s.usableBy !== undefined ? { usableBy: s.usableBy } : {}) };
}

function clearOf(registry: string, entry: AuthFileEntry): StoredCredential | undefined {
  const auth = decodeEntry(entry);
  if (!auth) return undefined;
  const usableBy = usableByOf(entry);
  return { registry, auth, ...(usableBy !== undefined ? { usableBy } : {}) };
}
