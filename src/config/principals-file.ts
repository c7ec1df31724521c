import { ReferencePattern } from '../image-spec/reference-pattern';

/**
 * What a principal may be given: reading images, writing (copies, syncs, tags), deleting,
 * reading every caller's operations, administering stored credentials, the daemon transports.
 * The principals file grants them; use cases require them (auth/principal.ts).
 */
export const SCOPES = ['images:read', 'images:write', 'images:delete', 'operations:read-all', 'credentials:admin', 'daemons'] as const;

export type Scope = (typeof SCOPES)[number];

/**
 * One caller named in the principals file (SKIFF_PRINCIPALS_FILE, YAML or JSON):
 *
 * ```yaml
 * principals:
 *   - name: team-a
 *     tokenSha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  # sha256 of the token, hex
 *     scopes: [images:read, images:write]
 *     sources: ["docker://registry.internal/team-a/**", "docker://docker.io/library/**"]
 *     destinations: ["docker://registry.internal/team-a/**", "oci:team-a/**"]
 * ```
 *
 * The file holds digests, never tokens. `sources` / `destinations` absent = any reference;
 * an empty list = none.
 */
export interface PrincipalSpec {
  name: string;
  /** Lower-case hex sha256 of the bearer token. */
  tokenSha256: string;
  scopes: Scope[];
  sources?: string[];
  destinations?: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Names skiff gives principals itself: the local user and the SKIFF_API_TOKENS entries. */
const RESERVED = /^(local|anonymous|token-\d+)$/;
const KEYS = ['name', 'tokenSha256', 'scopes', 'sources', 'destinations'];

/** Validates a parsed principals document; throws Error naming the entry and what is wrong. */
export function parsePrincipalsDocument(doc: Record<string, unknown>): PrincipalSpec[] {
  for (const k of Object.keys(doc)) if (k !== 'principals') throw new Error(`unknown key "${k}" (expected "principals")`);
  const list = doc['principals'];
  if (!Array.isArray(list)) throw new Error('"principals" must be a list');
  const names = new Set<string>();
  const digests = new Set<string>();
  return list.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`entry ${i} must be a mapping`);
    const e = raw as Record<string, unknown>;
    const where = typeof e['name'] === 'string' ? `principal "${e['name']}"` : `entry ${i}`;
    for (const k of Object.keys(e)) if (!KEYS.includes(k)) throw new Error(`${where}: unknown key "${k}" (known: ${KEYS.join(', ')})`);
    const name = e['name'];
    if (typeof name !== 'string' || !NAME.test(name)) throw new Error(`${where}: "name" must be 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit`);
    if (RESERVED.test(name)) throw new Error(`${where}: the name "${name}" is reserved (local, anonymous, token-N)`);
    if (names.has(name)) throw new Error(`${where}: duplicate name`);
    names.add(name);
    const digest = e['tokenSha256'];
    if (typeof digest !== 'string' || !/^[0-9a-fA-F]{64}$/.test(digest)) {
      throw new Error(`${where}: "tokenSha256" must be the hex sha256 of the token (64 hex digits), never the token itself`);
    }
    if (digests.has(digest.toLowerCase())) throw new Error(`${where}: another principal has the same tokenSha256`);
    digests.add(digest.toLowerCase());
    const scopes = e['scopes'] ?? [];
    if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s))) {
      throw new Error(`${where}: "scopes" must be a list of ${SCOPES.join(', ')}`);
    }
    const patterns = (key: 'sources' | 'destinations'): string[] | undefined => {
      const v = e[key];
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || v.some((p) => typeof p !== 'string')) throw new Error(`${where}: "${key}" must be a list of reference patterns`);
      for (const p of v as string[]) {
        try {
          ReferencePattern.parse(p);
        } catch (err) {
          throw new Error(`${where}: ${key}: ${(err as Error).message}`);
        }
      }
      return [...(v as string[])];
    };
    const spec: PrincipalSpec = { name, tokenSha256: digest.toLowerCase(), scopes: [...new Set(scopes as Scope[])] };
    const sources = patterns('sources');
    const destinations = patterns('destinations');
    if (sources !== undefined) spec.sources = sources;
    if (destinations !== undefined) spec.destinations = destinations;
    return spec;
  });
}
