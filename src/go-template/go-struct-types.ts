/**
 * How a caller describes the Go struct types of its data, so that templates see Go's field
 * order, types, json tags and zero values (images/ describes skopeo's inspect output this way).
 */

/** One field of a Go struct, as text/template, fmt and encoding/json see it. */
export interface GoStructField {
  /** The Go field name (what `.Name` selects). */
  readonly name: string;
  /**
   * The field's Go type: `string`, `bool`, `int`, `int64`, `int32`, `uint8`, `float64`,
   * `digest.Digest`, `digest.Algorithm`, `*time.Time`, `[]T`, `map[string]T`, or the name of
   * another struct type of the same {@link GoStructTypes}.
   */
  readonly type: string;
  /** The key `json` writes for it (the name in the field's `json` tag); default the field name. */
  readonly jsonName?: string;
  /** The `json` tag's `omitempty`: `json` leaves the field out when it holds an empty value. */
  readonly omitEmpty?: boolean;
  /**
   * A field the Go struct does not have: readable with `.Name`, but left out of the struct's
   * `{{.}}`, `printf "%v"` and `json` renderings, as Go would print the struct without it.
   */
  readonly hidden?: boolean;
}

/** A Go struct type: its name as `%T` and error messages print it (`pkg.Type`), and its fields in declaration order. */
export interface GoStructType {
  readonly name: string;
  readonly fields: readonly GoStructField[];
}

/** A struct type as the interpreter uses it: fields by name, in declaration order. */
export interface StructLayout {
  readonly name: string;
  readonly fields: ReadonlyMap<string, GoStructField>;
}

/** Go's basic types and the named types the interpreter knows (go-digest's Digest and Algorithm, time.Time). */
const BASIC_TYPES: ReadonlySet<string> = new Set(['string', 'bool', 'int', 'int64', 'int32', 'uint8', 'float64', 'digest.Digest', 'digest.Algorithm', '*time.Time']);

/**
 * The Go struct types template data is typed with (the caller's schema: which fields exist,
 * in which order, with which types and json tags). Checked once when built — unknown types,
 * duplicate types or fields throw a TypeError — and shared by every render.
 */
export class GoStructTypes {
  private readonly layouts = new Map<string, StructLayout>();
  /** Names of the fields declared `*time.Time` (the default `timeFields` of a render). */
  readonly timeFieldNames: readonly string[];

  constructor(types: readonly GoStructType[]) {
    for (const t of types) {
      if (this.layouts.has(t.name)) throw new TypeError(`GoStructTypes: struct type ${t.name} is declared twice`);
      const fields = new Map<string, GoStructField>();
      for (const f of t.fields) {
        if (fields.has(f.name)) throw new TypeError(`GoStructTypes: field ${t.name}.${f.name} is declared twice`);
        fields.set(f.name, f);
      }
      this.layouts.set(t.name, { name: t.name, fields });
    }
    const known = (type: string): boolean => {
      if (type.startsWith('[]')) return known(type.slice(2));
      if (type.startsWith('map[string]')) return known(type.slice('map[string]'.length));
      return BASIC_TYPES.has(type) || this.layouts.has(type);
    };
    const timeFields = new Set<string>();
    for (const t of types) {
      for (const f of t.fields) {
        if (!known(f.type)) throw new TypeError(`GoStructTypes: field ${t.name}.${f.name} has unsupported type ${f.type}`);
        if (f.type === '*time.Time') timeFields.add(f.name);
      }
    }
    this.timeFieldNames = [...timeFields];
  }

  /** The layout of a declared struct type. */
  layout(name: string): StructLayout | undefined {
    return this.layouts.get(name);
  }
}

export const NO_STRUCT_TYPES = new GoStructTypes([]);
/** Types whose values are strings, and integer types. */
export const STRING_TYPES: ReadonlySet<string> = new Set(['string', 'digest.Digest', 'digest.Algorithm']);
export const INT_TYPES: ReadonlySet<string> = new Set(['int', 'int64', 'int32', 'uint8']);
