import { type AuthFileDoc, type AuthFileEntry, decodeEntry, encodeEntry, findEntry, normalizeRegistryKey, readAuthFile, writeAuthFile } from './auth-file';
import type { CredentialStore, StoredCredential } from './credential-store';

/**
 * The CredentialStore on `$SKIFF_DATA_DIR/auth.json` (containers-auth.json format, mode 0600,
 * replaced atomically). An entry's `usableBy` is kept as an extra key of its `auths` entry,
 * which skopeo and docker ignore; other keys of the file are kept when it is rewritten.
 * This process is the file's only writer: it is read once and kept, and writes are serialised.
 */
export class AuthFileCredentialStore implements CredentialStore {
  private writeChain: Promise<unknown> = Promise.resolve();
  private doc?: Promise<AuthFileDoc>;

  constructor(private readonly path: string) {}

  async get(registry: string): Promise<StoredCredential | undefined> {
    const entry = findEntry(await this.read(), registry);
    return entry ? toStored(normalizeRegistryKey(registry), entry) : undefined;
  }

  async list(): Promise<StoredCredential[]> {
    const out: StoredCredential[] = [];
    for (const [k, v] of Object.entries((await this.read()).auths ?? {})) {
      const s = toStored(normalizeRegistryKey(k), v);
      if (s) out.push(s);
    }
    return out;
  }

  put(entry: StoredCredential): Promise<void> {
    return this.update((doc) => {
      const auths = { ...(doc.auths ?? {}) };
      for (const k of Object.keys(auths)) if (normalizeRegistryKey(k) === entry.registry) delete auths[k];
      auths[entry.registry] = { ...encodeEntry(entry.auth), ...(entry.usableBy !== undefined ? { usableBy: [...entry.usableBy] } : {}) };
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
      return { doc: { ...doc, auths }, result: removed };
    });
  }

  private read(): Promise<AuthFileDoc> {
    if (!this.doc) {
      this.doc = readAuthFile(this.path);
      this.doc.catch(() => (this.doc = undefined));
    }
    return this.doc;
  }

  /** Read-modify-write, serialised within the process. */
  private update<T>(change: (doc: AuthFileDoc) => { doc: AuthFileDoc; result: T }): Promise<T> {
    const next = this.writeChain.then(async () => {
      const { doc, result } = change(await readAuthFile(this.path));
      await writeAuthFile(this.path, doc);
      this.doc = Promise.resolve(doc);
      return result;
    });
    this.writeChain = next.catch(() => undefined);
    return next;
  }
}

function toStored(registry: string, entry: AuthFileEntry): StoredCredential | undefined {
  const auth = decodeEntry(entry);
  if (!auth) return undefined;
  const usableBy = Array.isArray(entry['usableBy']) ? (entry['usableBy'] as unknown[]).filter((n): n is string => typeof n === 'string') : undefined;
  return { registry, auth, ...(usableBy !== undefined ? { usableBy } : {}) };
}
