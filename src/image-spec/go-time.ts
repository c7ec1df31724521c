/**
 * Timestamps as Go's encoding/json reads and prints a time.Time. Reading follows Go 1.19's
 * `time.Parse(time.RFC3339, …)` (what `Time.UnmarshalJSON` uses in the skopeo we compare with):
 * upper-case `T` and `Z` only, month/day/hour/minute/second range-checked (day against the
 * month, leap years included), a one- or two-digit hour, `.` or `,` before the fraction, any
 * number of fraction digits with the tenth on truncated. Printing is RFC 3339 with
 * nanoseconds, trailing zeros of the fraction dropped, `Z` for a zero offset, the wall clock
 * kept in its own offset. skopeo parses configs into time.Time and prints them back, so this
 * is what its JSON shows for `Created`.
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
    local: `${y}-${mo}-${d}T${String(hour).padStart(2, '0')}:${mi}:${se}`,
    fraction: digits.replace(/0+$/, ''),
    offsetMinutes,
    epochMs: wall.getTime() - offsetMinutes * 60_000,
    nanos: Number(digits.padEnd(9, '0')),
  };
}

/** Go's `time.Time.MarshalJSON` output for an RFC 3339 input; undefined if Go would not parse it. */
export function formatGoJsonTime(s: string): string | undefined {
  const t = parseGoTime(s);
  if (!t) return undefined;
  const frac = t.fraction ? '.' + t.fraction : '';
  if (t.offsetMinutes === 0) return `${t.local}${frac}Z`;
  const abs = Math.abs(t.offsetMinutes);
  const sign = t.offsetMinutes < 0 ? '-' : '+';
  return `${t.local}${frac}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Go's zero time.Time as JSON. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
