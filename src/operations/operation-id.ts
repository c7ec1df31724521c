import { randomBytes } from 'node:crypto';

/**
 * Operation ids are ULIDs: 26 Crockford base32 characters, a 48-bit millisecond timestamp
 * followed by 80 random bits. Ids made by one process are strictly increasing (the random
 * part is incremented within a millisecond), so sorting by id is sorting by creation: the
 * worker's FIFO order and the list's "newest first" both use it.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_MAX = (1n << 80n) - 1n;

export const OPERATION_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function encode(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

let lastTime = -1;
let lastRandom = 0n;

export function newOperationId(now: number = Date.now()): string {
  let time = now;
  if (time <= lastTime) {
    time = lastTime;
    lastRandom = lastRandom === RANDOM_MAX ? 0n : lastRandom + 1n;
    if (lastRandom === 0n) time = lastTime + 1;
  } else {
    lastRandom = BigInt('0x' + randomBytes(10).toString('hex')) & (RANDOM_MAX >> 1n);
  }
  lastTime = time;
  return encode(BigInt(time), 10) + encode(lastRandom, 16);
}

/** The 10-character time prefix of the ids made at `ms` (ids made at or after it sort at or above it). */
export function operationIdTimePrefix(ms: number): string {
  return encode(BigInt(Math.max(0, Math.floor(ms))), 10);
}
