import { randomBytes } from 'node:crypto';

/**
 * The names of everything temporary skiff creates — temp files, staging directories, writer
 * markers, locks moved aside — in the storage root and in the data directory:
 *
 *   .skiff-tmp-<replica>-<incarnation>-<random>[-<hint>]
 *
 * `<replica>-<incarnation>` is the owner (StorageOwner): 8 hex digits naming the replica (kept
 * in its data directory, so a restarted replica recognises its earlier incarnations) and 8 hex
 * digits naming this process. `<random>` is 12 hex digits; `<hint>` says what the file is for
 * (sanitised, at most 64 characters). Contract: a name of this grammar is only ever created by
 * skiff, so a sweep may remove it once its owner is provably gone; nothing else is ever removed
 * by a sweep except the names of LEGACY_TEMP_NAMES (what earlier skiff versions created) and lock
 * files whose lease has lapsed.
 */
export const TEMP_PREFIX = '.skiff-tmp-';

const OWNER_ID = /^[0-9a-f]{8}-[0-9a-f]{8}$/;
const TEMP_NAME = /^\.skiff-tmp-([0-9a-f]{8}-[0-9a-f]{8})-[0-9a-f]{12}(?:-(.*))?$/s;

/** Whether `id` is an owner id (`<replica>-<incarnation>`). */
export function isOwnerId(id: string): boolean {
  return OWNER_ID.test(id);
}

/** A fresh temp name for `owner`; `hint` (e.g. the final file's name) is kept readable but sanitised. */
export function tempName(owner: string, hint?: string): string {
  if (!isOwnerId(owner)) throw new Error(`not an owner id: ${owner}`);
  const tail = hint ? `-${hint.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}` : '';
  return `${TEMP_PREFIX}${owner}-${randomBytes(6).toString('hex')}${tail}`;
}

/** The owner and hint of a skiff temp name, or undefined for any other name. */
export function parseTempName(name: string): { owner: string; hint: string } | undefined {
  const m = TEMP_NAME.exec(name);
  return m ? { owner: m[1]!, hint: m[2] ?? '' } : undefined;
}

/**
 * Temp names of skiff versions before owners existed: `.NAME.skiff-<16 hex>.tmp` (atomic
 * writes), `.NAME.skiff-<uuid>.partial` (docker-archive), `.NAME.skiff-old-<16 hex>` (a dir:
 * image moved aside), `.NAME.skiff-<6 characters>` (dir: staging) and
 * `index.json.lock.stale-<24 hex>` (a lock being broken). They carry no owner: a sweep removes
 * them only when nothing in them changed for LEGACY_GRACE_MS (a replica of an earlier version
 * may still be writing them during a rolling update).
 */
const LEGACY_ATOMIC_TEMP_NAME = /^\..+\.skiff-[0-9a-f]{16}\.tmp$/s;

const LEGACY_TEMP_NAMES: readonly RegExp[] = [
  LEGACY_ATOMIC_TEMP_NAME,
  /^\..+\.skiff-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.partial$/s,
  /^\..+\.skiff-old-[0-9a-f]{16}$/s,
  /^\..+\.skiff-[A-Za-z0-9]{6}$/s,
  /^index\.json\.lock\.stale-[0-9a-f]{24}$/,
];

export const LEGACY_GRACE_MS = 60 * 60 * 1000;

export function isLegacyTempName(name: string): boolean {
  return LEGACY_TEMP_NAMES.some((re) => re.test(name));
}

/** Whether `name` is the temp file of an atomic write of an earlier skiff version (`.NAME.skiff-<16 hex>.tmp`). */
export function isLegacyAtomicTempName(name: string): boolean {
  return LEGACY_ATOMIC_TEMP_NAME.test(name);
}

/** The lock file of an OCI layout (the name earlier versions use too, so both exclude each other). */
export const LAYOUT_LOCK_NAME = 'index.json.lock';
const LOCK_PREFIX = '.skiff-lock-';

/** The lock file guarding the replacement of the entry `base` of a directory (dir: images). */
export function entryLockName(base: string): string {
  return `${LOCK_PREFIX}${base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200)}`;
}

/** Whether `name` is a lock file skiff creates (it is swept only when its lease has lapsed). */
export function isLockName(name: string): boolean {
  return name === LAYOUT_LOCK_NAME || name.startsWith(LOCK_PREFIX);
}
