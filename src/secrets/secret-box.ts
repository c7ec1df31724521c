import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { DomainError } from '../errors/domain-error';

/**
 * Seals small secrets (registry credentials) with AES-256-GCM under the configured keys
 * (SKIFF_SECRET_KEY / SKIFF_SECRET_KEY_FILE): the first key seals, every key opens, so keys
 * rotate by putting the new one first and keeping the old one until nothing sealed under it
 * is left. Plain TypeScript with node:crypto; reusable for any stored secret.
 *
 * Format: `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url parts; the key id is the first 8
 * hex characters of the key's sha256, never the key). `associated` binds a sealed value to
 * where it belongs (e.g. the operation id): opened elsewhere, it fails.
 */
export class SecretBox {
  private readonly keys: { id: string; key: Buffer }[];

  constructor(keys: readonly Buffer[]) {
    for (const k of keys) if (k.length !== 32) throw new Error('secret keys must be 32 bytes');
    this.keys = keys.map((key) => ({ id: createHash('sha256').update(key).digest('hex').slice(0, 8), key }));
  }

  /** Whether a key is configured (without one, nothing can be sealed). */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The id of the key that seals (the first one); undefined without a key. */
  get currentKeyId(): string | undefined {
    return this.keys[0]?.id;
  }

  /** The id of the key `sealed` was sealed under (read from its text, nothing opened); undefined when it is not a sealed value. */
  keyIdOf(sealed: string): string | undefined {
    const [version, keyId] = sealed.split('.', 2);
    return version === 'v1' && keyId && /^[0-9a-f]{8}$/.test(keyId) ? keyId : undefined;
  }

  /** Whether `sealed` should be sealed again: it is sealed under a key other than the current one. */
  needsReseal(sealed: string): boolean {
    return this.enabled && this.keyIdOf(sealed) !== this.currentKeyId;
  }

  seal(value: unknown, associated: string): string {
    const current = this.keys[0];
    if (!current) throw new Error('no secret key is configured');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(Buffer.from(associated, 'utf8'));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', current.id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The sealed value; SecretUnavailableError when no configured key opens it or it was altered. */
  open<T>(sealed: string, associated: string): T {
    const [version, keyId, iv, body, tag] = sealed.split('.');
    if (version !== 'v1' || !keyId || iv === undefined || body === undefined || tag === undefined) throw new SecretUnavailableError('it is not in a format this skiff reads');
    if (!this.enabled) throw new SecretUnavailableError(`it was sealed under key ${keyId}, and no key is configured (SKIFF_SECRET_KEY or SKIFF_SECRET_KEY_FILE)`);
    const entry = this.keys.find((k) => k.id === keyId);
    if (!entry) throw new SecretUnavailableError(`it was sealed under key ${keyId}, which is not among the configured keys (SKIFF_SECRET_KEY)`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(associated, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      return JSON.parse(text) as T;
    } catch {
      throw new SecretUnavailableError('it does not authenticate under its key (altered, or sealed for something else)');
    }
  }
}

/** A sealed secret that cannot be opened; `what` names it for the caller (default: the operation's stored credentials). */
export class SecretUnavailableError extends DomainError {
  constructor(
    readonly why: string,
    what = 'the stored credentials',
  ) {
    super('CREDENTIALS_UNAVAILABLE', `${what} cannot be opened: ${why}`);
  }
}
