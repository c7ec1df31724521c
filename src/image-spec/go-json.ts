/**
 * How Go's encoding/json (Go 1.19, what skopeo 1.9.3 is built with) assigns the keys of a JSON
 * object to struct fields, for code that must decide as containers/image does: a key matches
 * a field when it is equal to the field's JSON name or equal under Go's case folding (ASCII
 * case, and U+212A KELVIN SIGN for `k`, U+017F LATIN SMALL LETTER LONG S for `s`). Keys are
 * applied in document order, so the last matching key wins. Field names here are ASCII.
 *
 * Works on an already parsed object: of exact duplicate keys, JSON.parse keeps only the last.
 */

function goFold(s: string): string {
  let out = '';
  for (const ch of s) {
    if (ch === '\u212a') out += 'k';
    else if (ch === '\u017f') out += 's';
    else if (ch >= 'A' && ch <= 'Z') out += ch.toLowerCase();
    else out += ch;
  }
  return out;
}

/** True when json.Unmarshal would assign the value of `key` to the field named `field`. */
export function goKeyMatches(key: string, field: string): boolean {
  return key === field || goFold(key) === field.toLowerCase();
}

/** The values json.Unmarshal would assign to the field named `field`, in document order. */
export function goFieldValues(obj: Record<string, unknown>, field: string): unknown[] {
  return Object.entries(obj)
    .filter(([k]) => goKeyMatches(k, field))
    .map(([, v]) => v);
}

/** Go's encoding/json string escaping on top of JSON.stringify. */
export function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
