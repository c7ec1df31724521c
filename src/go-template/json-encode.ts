/** The `json` template function (containers/common report: json.Encoder with SetEscapeHTML(false), trimmed). */

import { goTimeJson } from './go-time';
import { type GoValue, NIL, sortedKeys, visibleFields } from './go-value';
import { runes } from './strconv';

/** A value encoding/json refuses (NaN, ±Inf): the `json` function then prints nothing, as report's does. */
export class JsonUnsupported extends Error {}

function jsonString(s: string): string {
  let out = '"';
  for (const cp of runes(s)) {
    switch (cp) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += '\\\\';
        continue;
      case 8:
        out += '\\b';
        continue;
      case 12:
        out += '\\f';
        continue;
      case 10:
        out += '\\n';
        continue;
      case 13:
        out += '\\r';
        continue;
      case 9:
        out += '\\t';
        continue;
      case 0x2028:
      case 0x2029:
        out += `\\u${cp.toString(16)}`;
        continue;
    }
    out += cp < 0x20 ? `\\u00${cp.toString(16).padStart(2, '0')}` : String.fromCodePoint(cp);
  }
  return `${out}"`;
}

function jsonIsEmpty(v: GoValue): boolean {
  switch (v.kind) {
    case 'invalid':
    case 'nil':
      return true;
    case 'string':
      return v.value === '';
    case 'int':
      return v.value === 0n;
    case 'float':
      return v.value === 0;
    case 'bool':
      return !v.value;
    case 'slice':
      return (v.items?.length ?? 0) === 0;
    case 'map':
      return (v.entries?.size ?? 0) === 0;
    case 'time':
      return v.time === null;
    case 'struct':
      return false;
  }
}

export function jsonEncode(v: GoValue): string {
  switch (v.kind) {
    case 'invalid':
    case 'nil':
      return 'null';
    case 'string':
      return jsonString(v.value);
    case 'int':
      return v.value.toString();
    case 'float':
      if (!Number.isFinite(v.value)) throw new JsonUnsupported();
      return Object.is(v.value, -0) ? '-0' : String(v.value);
    case 'bool':
      return v.value ? 'true' : 'false';
    case 'slice':
      return v.items === null ? 'null' : `[${v.items.map(jsonEncode).join(',')}]`;
    case 'map':
      return v.entries === null
        ? 'null'
        : `{${sortedKeys(v.entries)
            .map((k) => `${jsonString(k)}:${jsonEncode(v.entries?.get(k) ?? NIL)}`)
            .join(',')}}`;
    case 'time':
      return v.time === null ? 'null' : jsonString(goTimeJson(v.time));
    case 'struct': {
      const parts: string[] = [];
      for (const [name, value] of visibleFields(v)) {
        const field = v.layout.fields.get(name);
        if (field?.omitEmpty && jsonIsEmpty(value)) continue;
        parts.push(`${jsonString(field?.jsonName ?? name)}:${jsonEncode(value)}`);
      }
      return `{${parts.join(',')}}`;
    }
  }
}
