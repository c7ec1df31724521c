/** Go values as the interpreter represents them (reflect.Value, reduced), and the predicates text/template applies to them. */

import { type StructLayout } from './go-struct-types';
import { type GoTime } from './go-time';
import { utf8Encoder } from './strconv';

export type GoValue =
  | { readonly kind: 'invalid' }
  | { readonly kind: 'nil' }
  | { readonly kind: 'string'; readonly type: string; readonly value: string }
  | { readonly kind: 'int'; readonly type: string; readonly value: bigint }
  | { readonly kind: 'float'; readonly type: string; readonly value: number }
  | { readonly kind: 'bool'; readonly type: string; readonly value: boolean }
  | { readonly kind: 'slice'; readonly type: string; readonly items: readonly GoValue[] | null }
  | { readonly kind: 'map'; readonly type: string; readonly entries: ReadonlyMap<string, GoValue> | null; readonly elemZero: GoValue }
  | { readonly kind: 'struct'; readonly type: string; readonly fields: ReadonlyMap<string, GoValue>; readonly layout: StructLayout; readonly viaInterface: boolean }
  | { readonly kind: 'time'; readonly type: string; readonly time: GoTime | null };

type StructValue = Extract<GoValue, { kind: 'struct' }>;

/** A missing value (Go's invalid reflect.Value): prints as `<no value>`. */
export const INVALID: GoValue = { kind: 'invalid' };
/** An untyped nil interface value. */
export const NIL: GoValue = { kind: 'nil' };

export const str = (value: string, type = 'string'): GoValue => ({ kind: 'string', type, value });
export const int = (value: bigint | number, type = 'int'): GoValue => ({ kind: 'int', type, value: BigInt(value) });
export const bool = (value: boolean): GoValue => ({ kind: 'bool', type: 'bool', value });
export const float = (value: number): GoValue => ({ kind: 'float', type: 'float64', value });

/** The fields Go's struct has (hidden ones left out), in declaration order. */
export function visibleFields(v: StructValue): [string, GoValue][] {
  return [...v.fields].filter(([name]) => !v.layout.fields.get(name)?.hidden);
}

/** The Go type name reflect would report for the value. */
export function typeName(v: GoValue): string {
  switch (v.kind) {
    case 'invalid':
    case 'nil':
      return '<nil>';
    default:
      return v.type;
  }
}

/** Go's isTrue ("truth" of if/with/and/or/not); missing and nil values are false. */
export function truth(v: GoValue): boolean {
  switch (v.kind) {
    case 'invalid':
    case 'nil':
      return false;
    case 'string':
      return v.value.length > 0;
    case 'int':
      return v.value !== 0n;
    case 'float':
      return v.value !== 0;
    case 'bool':
      return v.value;
    case 'slice':
      return (v.items?.length ?? 0) > 0;
    case 'map':
      return (v.entries?.size ?? 0) > 0;
    case 'struct':
      return true;
    case 'time':
      return v.time !== null;
  }
}

/** Compares strings by UTF-8 byte order (equivalently, by code point), as Go does. */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function sortedKeys(entries: ReadonlyMap<string, GoValue> | null): string[] {
  return entries ? [...entries.keys()].sort(compareStrings) : [];
}

export function utf8Length(s: string): number {
  return utf8Encoder.encode(s).length;
}
