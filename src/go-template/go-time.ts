/** Go's time.Time as template values: parsed from RFC 3339, printed by String() and MarshalJSON. */

/** A parsed RFC 3339 instant, kept in its original zone offset like Go's time.Time. */
export interface GoTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly nanos: number;
  readonly offsetMinutes: number;
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

export function parseRfc3339(s: string): GoTime | undefined {
  const m = RFC3339_RE.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number);
  const nanos = m[7] ? Number(m[7].slice(0, 9).padEnd(9, '0')) : 0;
  const offsetMinutes = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  const probe = new Date(0);
  probe.setUTCFullYear(year, month, 0);
  const monthDays = probe.getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[10] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  return { year, month, day, hour, minute, second, nanos, offsetMinutes };
}

export function timeFromDate(d: Date): GoTime | undefined {
  if (Number.isNaN(d.getTime())) return undefined;
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    nanos: d.getUTCMilliseconds() * 1_000_000,
    offsetMinutes: 0,
  };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function fraction(nanos: number): string {
  return nanos === 0 ? '' : `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
}

function offsetText(offsetMinutes: number, colon: boolean): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad2(Math.floor(abs / 60))}${colon ? ':' : ''}${pad2(abs % 60)}`;
}

/** Go's time.Time.String() ("2006-01-02 15:04:05.999999999 -0700 MST") with Local = UTC. */
export function timeString(t: GoTime): string {
  const zone = t.offsetMinutes === 0 ? '+0000 UTC' : `${offsetText(t.offsetMinutes, false)} ${offsetText(t.offsetMinutes, false)}`;
  return `${String(t.year).padStart(4, '0')}-${pad2(t.month)}-${pad2(t.day)} ${pad2(t.hour)}:${pad2(t.minute)}:${pad2(t.second)}${fraction(t.nanos)} ${zone}`;
}

/** Go's time.Time.MarshalJSON layout (RFC 3339 with trimmed nanoseconds). */
export function timeRfc3339Nano(t: GoTime): string {
  const zone = t.offsetMinutes === 0 ? 'Z' : offsetText(t.offsetMinutes, true);
  return `${String(t.year).padStart(4, '0')}-${pad2(t.month)}-${pad2(t.day)}T${pad2(t.hour)}:${pad2(t.minute)}:${pad2(t.second)}${fraction(t.nanos)}${zone}`;
}
