/**
 * A dependency-free subset of Go's text/template, with the function map containers/common's
 * `report` package installs (what skopeo's `--format` executes).
 *
 * Contract: for every template this module accepts, the output is byte-for-byte what Go's
 * text/template (with the function map skopeo installs from containers/common `report`)
 * prints for the equivalent Go value. Anything outside the supported subset, any malformed
 * template and any execution error is reported as a {@link TemplateError} rather than being
 * rendered differently from Go. Known approximations: case mapping uses the JavaScript
 * engine's Unicode tables (one-to-one mappings only, like Go's unicode.ToUpper/ToLower), and
 * `truncate` or `slice` cutting a multi-byte character yields U+FFFD where Go emits the partial bytes.
 *
 * Supported: text and `{{ }}` actions with `{{-` / `-}}` trim markers, `{{/* comments *\/}}`,
 * `.`, `$`, `$var`, field chains (`.A.B`, `$v.A`, `(pipeline).A`), `$x := pipeline`,
 * `$x = pipeline`, pipelines with `|`, parenthesised pipelines, `if`/`else if`/`else`,
 * `with`/`else with`/`else`, `range` (slices, maps in sorted key order, integers; one or two
 * variables; `else`; `break`/`continue`), string/raw-string/char/number/bool/nil literals, and
 * the functions `and or not len index slice print printf println html js urlquery eq ne lt le
 * gt ge call` (Go builtins; `call` always fails, as no value here is a function) plus `json join
 * lower upper title split pad truncate` (containers/common report funcs).
 *
 * Methods of digest.Digest (String, Algorithm, Encoded, Hex) and of time values: Year, Month,
 * Day, Hour, Minute, Second, Nanosecond, YearDay, Weekday, Unix, UnixMilli, UnixMicro, UnixNano,
 * IsZero, String, UTC, Local and Format (its layout a string literal or the pipeline's value).
 *
 * Not supported (TemplateError "unsupported template syntax"): `define`, `template`, `block`,
 * complex numbers, `%#v` of a time value, `%p` and hex-float verbs, the other methods of time
 * values, and string literals that are not valid UTF-8.
 *
 * Data model: `data` is plain JSON-like values, typed by the caller's Go struct types
 * ({@link GoStructTypes}, e.g. images/ supplies skopeo's inspect structs). A plain object is
 * the `rootType` struct (held in an `interface{}`, as skopeo passes its output); the declared
 * fields get their Go types (`digest.Digest`, `map[string]string`, `*time.Time`, other
 * structs, ...), and fields absent from the object behave as their Go zero value. Other
 * values are typed by inference (strings, integers as `int`, other numbers as `float64`,
 * arrays as slices, objects as `map[string]...`). Names listed in `timeFields` hold RFC 3339
 * strings (or null) and behave like Go's `*time.Time`; the process-local zone is assumed to be
 * UTC, as in a container.
 *
 * Output differences from the skopeo CLI that are the caller's business: skopeo wraps the
 * template as `{{range .}}...{{end -}}` over a one-element slice (so in the CLI `$` is that
 * slice), appends a newline when the template lacks a trailing one, and rewrites the escapes
 * `\t` (and, in newer releases, `\n`) in the template text to a tab and a newline. This module
 * renders the template exactly as given, with `.` and `$` both bound to `data`.
 *
 * Parts (one file each): lexer → parser (parse-tree) → executor, which calls the functions
 * (functions: builtins, report funcs, digest methods), fmt (Go's printing) and json-encode;
 * data-converter maps `data` onto go-value values using go-struct-types (the caller's schema)
 * and go-time (Go's time.Time, also used by image-spec for configs' `created`); strconv holds
 * Go's literal decoding, quoting and float formatting; template-error the error type.
 */

import { Converter } from './data-converter';
import { Executor } from './executor';
import { GoStructTypes, NO_STRUCT_TYPES } from './go-struct-types';
import { Parser } from './parser';

const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;
const DEFAULT_MAX_STEPS = 1_000_000;

export interface GoTemplateOptions {
  /** The Go struct types `data` is typed with. Default none: objects are maps. */
  readonly structTypes?: GoStructTypes;
  /** The struct type of `data` when it is a plain object; must be one of `structTypes`. */
  readonly rootType?: string;
  /**
   * Struct field names whose values are Go `*time.Time` (RFC 3339 string, Date or null).
   * Default: the fields `structTypes` declares `*time.Time`; a given list replaces the default,
   * so `[]` leaves them strings.
   */
  readonly timeFields?: readonly string[];
  /** Output size limit in UTF-16 code units; exceeding it is a TemplateError. Default 4 Mi. */
  readonly maxOutputLength?: number;
  /** Bound on evaluation work (nodes walked, commands run, range iterations). Default 1 000 000. */
  readonly maxSteps?: number;
}

/**
 * Renders `template` against `data` the way Go's text/template does.
 * Throws TemplateError for syntax the subset does not support, malformed templates and
 * execution errors (for example `index` of a non-indexable value or an unknown field), and
 * TypeError when `data` itself cannot be a Go value (cyclic, a time field that is not RFC 3339,
 * functions or class instances other than Date and Map) or `rootType` is not declared.
 */
export function renderGoTemplate(template: string, data: unknown, options: GoTemplateOptions = {}): string {
  const types = options.structTypes ?? NO_STRUCT_TYPES;
  const rootLayout = options.rootType === undefined ? undefined : types.layout(options.rootType);
  if (options.rootType !== undefined && !rootLayout) throw new TypeError(`renderGoTemplate: rootType ${options.rootType} is not one of the struct types`);
  const tree = new Parser(template).parse();
  const converter = new Converter(types, new Set(options.timeFields ?? types.timeFieldNames));
  const root = converter.root(data, rootLayout);
  const exec = new Executor(template, options.maxOutputLength ?? DEFAULT_MAX_OUTPUT, options.maxSteps ?? DEFAULT_MAX_STEPS);
  return exec.run(tree, root);
}

/** Parses `template` without running it: throws TemplateError for malformed templates and syntax outside the subset. */
export function parseGoTemplate(template: string): void {
  new Parser(template).parse();
}
