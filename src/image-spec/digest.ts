import { createHash } from 'node:crypto';
import { InvalidReferenceError } from './invalid-reference-error';

/**
 * A content digest `algorithm:encoded`. Every Digest produced by this module is valid:
 * `sha256:` + 64 or `sha512:` + 128 lowercase hex characters (go-digest's canonical form for
 * the two algorithms OCI registries use). Values from elsewhere must go through parseDigest.
 */
export type Digest = string;

export type DigestAlgorithm = 'sha256' | 'sha512';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512'];

const ENCODED_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };

const DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return value === 'sha256' || value === 'sha512';
}

/** Why `s` is not a valid digest, or undefined when it is. */
function digestProblem(s: string): string | undefined {
  if (DIGEST_RE.test(s)) return undefined;
  const colon = s.indexOf(':');
  if (colon < 0) return 'missing the "algorithm:" prefix (expected sha256:<64 hex> or sha512:<128 hex>)';
  const algorithm = s.slice(0, colon);
  const encoded = s.slice(colon + 1);
  if (!isDigestAlgorithm(algorithm)) {
    return `unsupported digest algorithm ${JSON.stringify(algorithm)} (supported: ${DIGEST_ALGORITHMS.join(', ')})`;
  }
  if (!/^[a-f0-9]*$/.test(encoded)) {
    return `the ${algorithm} value must be lowercase hexadecimal [a-f0-9]`;
  }
  return `a ${algorithm} digest has ${ENCODED_LENGTH[algorithm]} hex characters, got ${encoded.length}`;
}

/** True when `s` is a valid digest (see Digest). Never throws. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Returns `s` unchanged when it is a valid digest; throws InvalidReferenceError otherwise. */
export function parseDigest(s: string): Digest {
  const problem = digestProblem(s);
  if (problem !== undefined) throw new InvalidReferenceError({ subject: 'digest', input: s, reason: problem });
  return s;
}

/** The digest of `bytes` under `algorithm`. */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  if (!isDigestAlgorithm(algorithm)) {
    throw new InvalidReferenceError({
      subject: 'digest',
      input: String(algorithm),
      reason: `unsupported digest algorithm (supported: ${DIGEST_ALGORITHMS.join(', ')})`,
    });
  }
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** The algorithm of a digest; throws InvalidReferenceError when `d` is not a valid digest. */
export function digestAlgorithm(d: Digest): DigestAlgorithm {
  parseDigest(d);
  return d.startsWith('sha256:') ? 'sha256' : 'sha512';
}

/** The encoded (hex) part of a digest; throws InvalidReferenceError when `d` is not a valid digest. */
export function digestHex(d: Digest): string {
  parseDigest(d);
  return d.slice(d.indexOf(':') + 1);
}
