import { InvalidArgumentError } from '../errors/domain-error';
import type { RegistryAuth } from '../transports/transport';

/** Body-level credentials (`sourceAuth` etc.) and the decoded X-Registry-Auth header. */
export interface RegistryAuthInput {
  username?: string;
  password?: string;
  identitytoken?: string;
  identityToken?: string;
  registrytoken?: string;
  registryToken?: string;
}

export function toRegistryAuth(input: RegistryAuthInput, where: string): RegistryAuth {
  const identity = input.identityToken ?? input.identitytoken;
  const registryToken = input.registryToken ?? input.registrytoken;
  if (registryToken) return { kind: 'registryToken', registryToken };
  if (identity) return { kind: 'identityToken', identityToken: identity, ...(input.username ? { username: input.username } : {}) };
  if (typeof input.username === 'string' && input.username !== '' && typeof input.password === 'string') {
    if (input.username.includes(':')) throw new InvalidArgumentError(`${where}: username must not contain ":"`);
    return { kind: 'basic', username: input.username, password: input.password };
  }
  throw new InvalidArgumentError(`${where} must carry {username, password}, {identitytoken} or {registrytoken}`);
}

/**
 * Decodes `X-Registry-Auth`: base64 (standard or URL-safe) of a JSON object, the Docker
 * Engine API convention. Absent, blank, or an empty object (`{}`, base64 `e30=`, what Docker
 * clients send for an anonymous pull) means anonymous: undefined. The message never echoes
 * the header's content.
 */
export function parseRegistryAuthHeader(value: string | undefined): RegistryAuth | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const where = 'X-Registry-Auth';
  let doc: unknown;
  try {
    const b64 = value.trim().replace(/-/g, '+').replace(/_/g, '/');
    if (!/^[A-Za-z0-9+/]*=*$/.test(b64)) throw new Error('not base64');
    doc = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  } catch {
    throw new InvalidArgumentError(`${where} must be base64-encoded JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidArgumentError(`${where} must encode a JSON object`);
  const o = doc as Record<string, unknown>;
  if (Object.keys(o).length === 0) return undefined;
  const pick = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  return toRegistryAuth(
    {
      username: pick('username'),
      password: pick('password'),
      identitytoken: pick('identitytoken') ?? pick('identityToken') ?? pick('IdentityToken'),
      registrytoken: pick('registrytoken') ?? pick('registryToken') ?? pick('RegistryToken'),
    },
    where,
  );
}
