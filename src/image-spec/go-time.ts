/**
 * Timestamps as Go's encoding/json prints a time.Time (RFC 3339 with nanoseconds, trailing
 * zeros of the fraction dropped, `Z` for a zero offset). skopeo parses configs into time.Time
 * and prints them back, so this is what its JSON shows for `Created`.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

export interface GoTime {
  /** `YYYY-MM-DDTHH:MM:SS` in the timestamp's own offset. */
  local: string;
  /** Fraction digits, trailing zeros removed (may be empty). */
  fraction: string;
  /** Offset east of UTC in minutes. */
  offsetMinutes: number;
  /** Milliseconds since the epoch (for UTC conversions). */
  epochMs: number;
  nanos: number;
}

export function parseGoTime(s: string): GoTime | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se, frac = '', z, sign, oh, om] = m;
  const offsetMinutes = z ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const fraction = frac.replace(/0+$/, '');
  const nanos = Number(frac.padEnd(9, '0'));
  const epochMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se)) - offsetMinutes * 60_000;
  return { local: `${y}-${mo}-${d}T${h}:${mi}:${se}`, fraction, offsetMinutes, epochMs, nanos };
}

/** Go's `time.Time.MarshalJSON` output for an RFC 3339 input; undefined if it is not one. */
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
