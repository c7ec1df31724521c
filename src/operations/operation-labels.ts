import { InvalidArgumentError } from '../errors/domain-error';

/**
 * Labels: a small string map set at submit and filterable on the list. Keys are 1–63
 * characters, letters and digits with `.`, `_`, `-`, `/` inside (`team`, `app.kubernetes.io/name`);
 * values at most 128 characters from letters, digits and `._-:/@+,=` (may be empty); at most
 * 32 labels.
 */
export const LABEL_KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._\/-]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^[A-Za-z0-9._\-:\/@+,=]{0,128}$/;
export const MAX_LABELS = 32;

export function validateLabels(labels: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new InvalidArgumentError(`labels: at most ${MAX_LABELS} labels`);
  const out: Record<string, string> = {};
  for (const [key, value] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!LABEL_KEY.test(key)) throw new InvalidArgumentError(`labels: key ${JSON.stringify(key.slice(0, 80))} must be 1 to 63 letters, digits, ".", "_", "-" or "/", starting and ending with a letter or digit`);
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      throw new InvalidArgumentError(`labels: the value of "${key}" must be a string of at most 128 letters, digits or "._-:/@+,="`);
    }
    out[key] = value;
  }
  return out;
}

/** `key=value` (a `label` query parameter) → the pair; INVALID_ARGUMENT when malformed. */
export function parseLabelFilter(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? '' : text.slice(eq + 1);
  if (eq < 0 || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
    throw new InvalidArgumentError(`label filter ${JSON.stringify(text.slice(0, 200))} must be key=value with a valid label key and value`);
  }
  return [key, value];
}
