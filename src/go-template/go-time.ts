/**
 * Go's time.Time, the one place skiff reads and prints Go times: configs' `created` (image-spec,
 * inspect) and the time values of templates.
 *
 * Reading follows Go 1.19's `time.Parse(time.RFC3339, …)` (what `Time.UnmarshalJSON` uses in
 * the skopeo we compare with): upper-case `T` and `Z` only, month/day/hour/minute/second
 * range-checked (day against the month, leap years included), a one- or two-digit hour, `.` or
 * `,` before the fraction, any number of fraction digits with the tenth on truncated, any
 * two-digit offset. Printing is MarshalJSON's RFC 3339 with nanoseconds (trailing zeros of the
 * fraction dropped, `Z` for a zero offset, the wall clock kept in its own offset) and
 * `String()`'s "2006-01-02 15:04:05.999999999 -0700 MST" with Local = UTC. skopeo parses
 * configs into time.Time and prints them back, so this is what its JSON shows for `Created`.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

export interface GoTime {
  /** `YYYY-MM-DDTHH:MM:SS` in the timestamp's own offset. */
  local: string;
  /** Fraction digits (at most nine), trailing zeros removed (may be empty). */
  fraction: string;
  /** Offset east of UTC in minutes. */
  offsetMinutes: number;
  /** Milliseconds since the epoch (for UTC conversions). */
  epochMs: number;
  nanos: number;
}

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysIn(month: number, year: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Parses an RFC 3339 timestamp as Go does; undefined when Go's parser refuses it. */
export function parseGoTime(s: string): GoTime | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se, frac = '', z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(se);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || second > 59) return undefined;
  const digits = frac.slice(0, 9);
  const offsetMinutes = z ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const wall = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  return {
    local: `${y}-${mo}-${d}T${pad2(hour)}:${mi}:${se}`,
    fraction: digits.replace(/0+$/, ''),
    offsetMinutes,
    epochMs: wall.getTime() - offsetMinutes * 60_000,
    nanos: Number(digits.padEnd(9, '0')),
  };
}

/** A JavaScript Date as a Go time in UTC (millisecond precision); undefined for an invalid Date. */
export function goTimeFromDate(d: Date): GoTime | undefined {
  const epochMs = d.getTime();
  if (Number.isNaN(epochMs)) return undefined;
  const ms = d.getUTCMilliseconds();
  return {
    local: `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`,
    fraction: ms === 0 ? '' : String(ms).padStart(3, '0').replace(/0+$/, ''),
    offsetMinutes: 0,
    epochMs,
    nanos: ms * 1_000_000,
  };
}

function offsetText(offsetMinutes: number, colon: boolean): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad2(Math.floor(abs / 60))}${colon ? ':' : ''}${pad2(abs % 60)}`;
}

/** Go's `time.Time.MarshalJSON` text (RFC 3339 with trimmed nanoseconds), without the quotes. */
export function goTimeJson(t: GoTime): string {
  const frac = t.fraction ? '.' + t.fraction : '';
  return `${t.local}${frac}${t.offsetMinutes === 0 ? 'Z' : offsetText(t.offsetMinutes, true)}`;
}

/** Go's `time.Time.String()` with Local = UTC: a zero offset is `+0000 UTC`, others are named by the offset. */
export function goTimeString(t: GoTime): string {
  const frac = t.fraction ? '.' + t.fraction : '';
  const zone = t.offsetMinutes === 0 ? '+0000 UTC' : `${offsetText(t.offsetMinutes, false)} ${offsetText(t.offsetMinutes, false)}`;
  return `${t.local.replace('T', ' ')}${frac} ${zone}`;
}

/** Go's `time.Time.MarshalJSON` output for an RFC 3339 input; undefined if Go would not parse it. */
export function formatGoJsonTime(s: string): string | undefined {
  const t = parseGoTime(s);
  return t && goTimeJson(t);
}

/** Go's zero time.Time as JSON. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
