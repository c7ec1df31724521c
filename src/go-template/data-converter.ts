/** Maps the caller's JSON-like data onto Go values, typed by the caller's struct types. */

import { GoStructTypes, INT_TYPES, STRING_TYPES, type StructLayout } from './go-struct-types';
import { goTimeFromDate, parseGoTime } from './go-time';
import { bool, float, type GoValue, int, NIL, str } from './go-value';
import { MAX_NESTING } from './template-error';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

class DataError extends Error {}

/** Maps JSON-like input data onto Go values (see the module comment for the typing rules). */
export class Converter {
  private readonly active = new Set<object>();

  constructor(
    private readonly types: GoStructTypes,
    private readonly timeFields: ReadonlySet<string>,
  ) {}

  /** The data as Go value: with a root layout, a plain object is that struct held in an `interface{}`. */
  root(data: unknown, rootLayout: StructLayout | undefined): GoValue {
    try {
      return rootLayout && isPlainObject(data) ? this.struct(data, rootLayout, true) : this.infer(data);
    } catch (e) {
      if (e instanceof DataError) throw new TypeError(`renderGoTemplate: ${e.message}`);
      throw e;
    }
  }

  private guard<T>(obj: object, f: () => T): T {
    if (this.active.has(obj)) throw new DataError('cyclic data structure');
    if (this.active.size > MAX_NESTING) throw new DataError(`data nested deeper than ${MAX_NESTING} levels`);
    this.active.add(obj);
    try {
      return f();
    } finally {
      this.active.delete(obj);
    }
  }

  private struct(obj: Record<string, unknown>, layout: StructLayout, viaInterface: boolean): GoValue {
    return this.guard(obj, () => {
      const fields = new Map<string, GoValue>();
      for (const [name, { type: goType }] of layout.fields) {
        const own = Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
        fields.set(name, this.field(name, own, goType));
      }
      for (const name of Object.keys(obj)) {
        if (!fields.has(name) && obj[name] !== undefined) fields.set(name, this.field(name, obj[name], undefined));
      }
      return { kind: 'struct', type: layout.name, fields, layout, viaInterface };
    });
  }

  private field(name: string, value: unknown, goType: string | undefined): GoValue {
    if (this.timeFields.has(name)) return this.typed(value, '*time.Time');
    if (goType !== undefined && goType !== '*time.Time') return this.typed(value, goType);
    return value === undefined ? NIL : this.infer(value);
  }

  private typed(value: unknown, goType: string): GoValue {
    if (value === undefined) return zeroValue(goType, this.types);
    if (goType === '*time.Time') {
      if (value === null) return { kind: 'time', type: goType, time: null };
      const t = typeof value === 'string' ? parseGoTime(value) : value instanceof Date ? goTimeFromDate(value) : undefined;
      if (!t) throw new DataError(`invalid time value ${JSON.stringify(String(value))}`);
      return { kind: 'time', type: goType, time: t };
    }
    if (STRING_TYPES.has(goType)) return typeof value === 'string' ? str(value, goType) : this.infer(value);
    if (INT_TYPES.has(goType)) {
      if (typeof value === 'bigint') return int(value, goType);
      if (typeof value === 'number' && Number.isSafeInteger(value)) return int(value, goType);
      return this.infer(value);
    }
    if (goType.startsWith('[]')) {
      if (value === null) return { kind: 'slice', type: goType, items: null };
      if (!Array.isArray(value)) return this.infer(value);
      const elemType = goType.slice(2);
      return this.guard(value, () => ({ kind: 'slice', type: goType, items: value.map((v) => this.typed(v, elemType)) }));
    }
    if (goType.startsWith('map[string]')) {
      const elemType = goType.slice('map[string]'.length);
      if (value === null) return { kind: 'map', type: goType, entries: null, elemZero: zeroValue(elemType, this.types) };
      const entries = this.entries(value);
      if (!entries) return this.infer(value);
      return this.guard(value as object, () => {
        const converted = new Map<string, GoValue>();
        for (const [k, v] of entries) converted.set(k, this.typed(v, elemType));
        return { kind: 'map', type: goType, entries: converted, elemZero: zeroValue(elemType, this.types) };
      });
    }
    const layout = this.types.layout(goType);
    if (layout && isPlainObject(value)) return this.struct(value, layout, false);
    return this.infer(value);
  }

  private entries(value: unknown): [string, unknown][] | undefined {
    if (value instanceof Map) {
      const out: [string, unknown][] = [];
      for (const [k, v] of value as Map<unknown, unknown>) {
        if (typeof k !== 'string') throw new DataError('map keys must be strings');
        out.push([k, v]);
      }
      return out;
    }
    if (isPlainObject(value)) return Object.entries(value).filter(([, v]) => v !== undefined);
    return undefined;
  }

  private infer(value: unknown): GoValue {
    if (value === null || value === undefined) return NIL;
    switch (typeof value) {
      case 'string':
        return str(value);
      case 'boolean':
        return bool(value);
      case 'bigint':
        return int(value, 'int64');
      case 'number':
        return Number.isSafeInteger(value) && !Object.is(value, -0) ? int(value) : float(value);
    }
    if (value instanceof Date) return this.typed(value, '*time.Time');
    if (Array.isArray(value)) {
      return this.guard(value, () => {
        const items = value.map((v) => this.infer(v));
        const allStrings = items.every((v) => v.kind === 'string' && v.type === 'string');
        return { kind: 'slice', type: allStrings ? '[]string' : '[]interface {}', items };
      });
    }
    const entries = this.entries(value);
    if (entries) {
      return this.guard(value as object, () => {
        const converted = new Map<string, GoValue>();
        for (const [k, v] of entries) converted.set(k, this.infer(v));
        const allStrings = [...converted.values()].every((v) => v.kind === 'string' && v.type === 'string');
        return allStrings
          ? { kind: 'map', type: 'map[string]string', entries: converted, elemZero: str('') }
          : { kind: 'map', type: 'map[string]interface {}', entries: converted, elemZero: NIL };
      });
    }
    throw new DataError(`unsupported data value of type ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}`);
  }
}

/** Go's zero value for a declared field type. */
function zeroValue(goType: string, types: GoStructTypes): GoValue {
  if (STRING_TYPES.has(goType)) return str('', goType);
  if (INT_TYPES.has(goType)) return int(0, goType);
  if (goType === 'float64') return float(0);
  if (goType === 'bool') return bool(false);
  if (goType === '*time.Time') return { kind: 'time', type: goType, time: null };
  if (goType.startsWith('[]')) return { kind: 'slice', type: goType, items: null };
  if (goType.startsWith('map[string]')) return { kind: 'map', type: goType, entries: null, elemZero: zeroValue(goType.slice('map[string]'.length), types) };
  const layout = types.layout(goType);
  if (layout) {
    const fields = new Map<string, GoValue>();
    for (const [name, f] of layout.fields) fields.set(name, zeroValue(f.type, types));
    return { kind: 'struct', type: goType, fields, layout, viaInterface: false };
  }
  return NIL;
}
