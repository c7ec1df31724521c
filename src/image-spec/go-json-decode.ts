/**
 * A small model of Go's json.Unmarshal into Go structs (Go 1.19, what skopeo 1.9.3 is built
 * with), for code that must accept and refuse image configs exactly as containers/image does:
 * - every key of an object is applied in document order to the field it matches (goKeyMatches:
 *   exactly or under Go's case folding), so the last matching key wins;
 * - null sets a pointer, slice or map to nil and leaves a string, bool, number or struct unchanged;
 * - a struct met twice is merged, a map met twice gets the new keys added, a slice is decoded
 *   element by element over the previous one (a null element keeps the previous element);
 * - a value of the wrong JSON type is an error (json.Unmarshal fails, so does skopeo):
 *   ManifestInvalidError naming the field.
 * Exact duplicate keys cannot be seen here: JSON.parse keeps only the last. Integers are checked
 * on the parsed number: `1.0` and `1e3` (which Go refuses for an integer field) pass.
 */
import { formatGoJsonTime } from '../go-template/go-time';
import { goKeyMatches } from './go-json';
import { ManifestInvalidError } from './manifest';

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function invalid(message: string): ManifestInvalidError {
  return new ManifestInvalidError(`image config: ${message}`);
}

/** The decoded form of one struct field: applies a JSON value onto the target. */
export type FieldDecoder<T> = (target: T, value: unknown, where: string) => void;
export type Fields<T> = ReadonlyArray<readonly [jsonName: string, decode: FieldDecoder<T>]>;

export function decodeStruct<T>(target: T, value: unknown, where: string, fields: Fields<T>): T {
  if (value === null) return target;
  if (!isRecord(value)) throw invalid(`${where} must be an object`);
  const prefix = where === '' ? '' : `${where}.`;
  for (const [key, v] of Object.entries(value)) {
    const field = fields.find(([name]) => goKeyMatches(key, name));
    if (field) field[1](target, v, `${prefix}${field[0]}`);
  }
  return target;
}

export function goString(prev: string, v: unknown, where: string): string {
  if (v === null) return prev;
  if (typeof v !== 'string') throw invalid(`${where} must be a string`);
  return v;
}

export function goBool(prev: boolean, v: unknown, where: string): boolean {
  if (v === null) return prev;
  if (typeof v !== 'boolean') throw invalid(`${where} must be a boolean`);
  return v;
}

/** `*time.Time`: null is nil; a string must be an RFC 3339 time; printed as Go prints it. */
export function goTime(v: unknown, where: string): string | undefined {
  if (v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`${where} must be a string`);
  const t = formatGoJsonTime(v);
  if (t === undefined) throw invalid(`${where} is not an RFC 3339 time: ${JSON.stringify(v)}`);
  return t;
}

/** `[]string`: undefined is nil. */
export function goStringList(prev: string[] | undefined, v: unknown, where: string): string[] | undefined {
  if (v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => x !== null && typeof x !== 'string')) throw invalid(`${where} must be a list of strings`);
  return v.map((x: string | null, i) => (x === null ? (prev?.[i] ?? '') : x));
}

/** `map[string]string`: undefined is nil; a null value is "". */
export function goStringMap(prev: Map<string, string> | undefined, v: unknown, where: string): Map<string, string> | undefined {
  if (v === null) return undefined;
  if (!isRecord(v) || Object.values(v).some((x) => x !== null && typeof x !== 'string')) throw invalid(`${where} must be a map of strings`);
  const out = prev ?? new Map<string, string>();
  for (const [k, x] of Object.entries(v)) out.set(k, x === null ? '' : (x as string));
  return out;
}

/** `map[string]struct{}`: undefined is nil; each value must be an object (its content is ignored) or null. */
export function goKeySet(prev: Set<string> | undefined, v: unknown, where: string): Set<string> | undefined {
  if (v === null) return undefined;
  if (!isRecord(v)) throw invalid(`${where} must be an object`);
  if (Object.values(v).some((x) => x !== null && !isRecord(x))) throw invalid(`${where} values must be objects`);
  const out = prev ?? new Set<string>();
  for (const k of Object.keys(v)) out.add(k);
  return out;
}

/** `time.Time` (a value, not a pointer): null leaves Go's zero time; a string must be an RFC 3339 time. */
export function goTimeValue(prev: string, v: unknown, where: string): string {
  return v === null ? prev : (goTime(v, where) ?? prev);
}

/** An integer field of `bits` (64 for int64, time.Duration and int on 64-bit Go): null leaves it unchanged. */
export function goInt(v: unknown, where: string, bits = 64): void {
  if (v === null) return;
  const limit = 2 ** (bits - 1);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -limit || v >= limit) throw invalid(`${where} must be an integer of ${bits} bits`);
}

/** strslice.StrSlice (Docker's Cmd, Entrypoint, Shell): a list of strings or one string; null is nil. */
export function goStrSlice(prev: string[] | undefined, v: unknown, where: string): string[] | undefined {
  if (typeof v === 'string') return [v];
  return goStringList(prev, v, where);
}
