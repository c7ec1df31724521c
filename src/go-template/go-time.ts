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

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** time.Month's and time.Weekday's String(). */
export function goMonthName(m: number): string {
  return MONTHS[m - 1] ?? `%!Month(${m})`;
}

export function goWeekdayName(d: number): string {
  return WEEKDAYS[d] ?? `%!Weekday(${d})`;
}

/** The wall clock of a time in its own offset (time.Time's Date and Clock, YearDay, Weekday). */
export interface GoCivil {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  yearDay: number;
  weekday: number;
}

export function goCivil(t: GoTime): GoCivil {
  const [y, mo, d, h, mi, se] = t.local.split(/[-T:]/).map(Number) as [number, number, number, number, number, number];
  const day = new Date(0);
  day.setUTCFullYear(y, mo - 1, d);
  const jan1 = new Date(0);
  jan1.setUTCFullYear(y, 0, 1);
  return { year: y, month: mo, day: d, hour: h, minute: mi, second: se, yearDay: Math.round((day.getTime() - jan1.getTime()) / 86_400_000) + 1, weekday: day.getUTCDay() };
}

/** Seconds since the Unix epoch (time.Time.Unix). */
export function goUnixSeconds(t: GoTime): number {
  return Math.floor(t.epochMs / 1000);
}

/** The same instant in UTC (time.Time.UTC; Local too, the process zone being UTC). */
export function goTimeUtc(t: GoTime): GoTime {
  const wall = new Date(t.epochMs);
  const { fraction, nanos, epochMs } = t;
  return { local: goTimeFromDate(wall)!.local, fraction, offsetMinutes: 0, epochMs, nanos };
}

const pad = (n: number, width: number): string => (n < 0 ? '-' + String(-n).padStart(width, '0') : String(n).padStart(width, '0'));

/** One chunk of a layout (time's nextStdChunk): the literal before it, the element, the rest. */
function nextChunk(layout: string): { prefix: string; std?: string; frac?: { sep: string; digits: number; trim: boolean }; rest: string } {
  const lowerAt = (j: number): boolean => j < layout.length && layout[j]! >= 'a' && layout[j]! <= 'z';
  for (let i = 0; i < layout.length; i++) {
    const has = (s: string): boolean => layout.startsWith(s, i);
    const hit = (std: string, len: number) => ({ prefix: layout.slice(0, i), std, rest: layout.slice(i + len) });
    switch (layout[i]) {
      case 'J':
        if (has('January')) return hit('January', 7);
        if (has('Jan') && !lowerAt(i + 3)) return hit('Jan', 3);
        break;
      case 'M':
        if (has('Monday')) return hit('Monday', 6);
        if (has('Mon') && !lowerAt(i + 3)) return hit('Mon', 3);
        if (has('MST')) return hit('MST', 3);
        break;
      case '0': {
        const next = layout[i + 1];
        if (next !== undefined && next >= '1' && next <= '6') return hit(`0${next}`, 2);
        if (has('002')) return hit('002', 3);
        break;
      }
      case '1':
        return has('15') ? hit('15', 2) : hit('1', 1);
      case '2':
        return has('2006') ? hit('2006', 4) : hit('2', 1);
      case '_':
        if (has('_2')) {
          if (has('_2006')) return { prefix: layout.slice(0, i + 1), std: '2006', rest: layout.slice(i + 5) };
          return hit('_2', 2);
        }
        if (has('__2')) return hit('__2', 3);
        break;
      case '3':
      case '4':
      case '5':
        return hit(layout[i]!, 1);
      case 'P':
        if (has('PM')) return hit('PM', 2);
        break;
      case 'p':
        if (has('pm')) return hit('pm', 2);
        break;
      case '-':
      case 'Z':
        for (const tz of ['070000', '07:00:00', '0700', '07:00', '07']) if (layout.startsWith(tz, i + 1)) return hit(layout[i] + tz, tz.length + 1);
        break;
      case '.':
      case ',': {
        const ch = layout[i + 1];
        if (ch === '0' || ch === '9') {
          let j = i + 1;
          while (layout[j] === ch) j++;
          if (!(layout[j]! >= '0' && layout[j]! <= '9')) return { prefix: layout.slice(0, i), frac: { sep: layout[i]!, digits: j - i - 1, trim: ch === '9' }, rest: layout.slice(j) };
        }
        break;
      }
    }
  }
  return { prefix: layout, rest: '' };
}

function zoneText(std: string, offsetMinutes: number): string {
  if (std.startsWith('Z') && offsetMinutes === 0) return 'Z';
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const body = std.slice(1);
  const colon = body.includes(':') ? ':' : '';
  let out = sign + pad(Math.floor(abs / 60), 2);
  if (body !== '07') out += colon + pad(abs % 60, 2);
  if (body === '070000' || body === '07:00:00') out += colon + '00';
  return out;
}

/** time.Time.Format: Go's reference-time layout ("2006-01-02T15:04:05Z07:00"), the process zone being UTC. */
export function goTimeFormat(t: GoTime, layout: string): string {
  const c = goCivil(t);
  const hour12 = c.hour % 12 === 0 ? 12 : c.hour % 12;
  let out = '';
  for (let rest = layout; rest !== ''; ) {
    const chunk = nextChunk(rest);
    out += chunk.prefix;
    rest = chunk.rest;
    if (chunk.frac) {
      const digits = String(t.nanos).padStart(9, '0').slice(0, chunk.frac.digits);
      if (!chunk.frac.trim) out += chunk.frac.sep + digits;
      else if (digits.replace(/0+$/, '') !== '') out += chunk.frac.sep + digits.replace(/0+$/, '');
      continue;
    }
    switch (chunk.std) {
      case undefined: break;
      case '2006': out += pad(c.year, 4); break;
      case '06': out += pad(c.year % 100, 2); break;
      case 'January': out += goMonthName(c.month); break;
      case 'Jan': out += goMonthName(c.month).slice(0, 3); break;
      case '1': out += c.month; break;
      case '01': out += pad(c.month, 2); break;
      case 'Monday': out += goWeekdayName(c.weekday); break;
      case 'Mon': out += goWeekdayName(c.weekday).slice(0, 3); break;
      case '2': out += c.day; break;
      case '_2': out += (c.day < 10 ? ' ' : '') + c.day; break;
      case '02': out += pad(c.day, 2); break;
      case '__2': out += (c.yearDay < 100 ? ' ' : '') + (c.yearDay < 10 ? ' ' : '') + c.yearDay; break;
      case '002': out += pad(c.yearDay, 3); break;
      case '15': out += pad(c.hour, 2); break;
      case '3': out += hour12; break;
      case '03': out += pad(hour12, 2); break;
      case '4': out += c.minute; break;
      case '04': out += pad(c.minute, 2); break;
      case '5': out += c.second; break;
      case '05': out += pad(c.second, 2); break;
      case 'PM': out += c.hour >= 12 ? 'PM' : 'AM'; break;
      case 'pm': out += c.hour >= 12 ? 'pm' : 'am'; break;
      case 'MST': out += t.offsetMinutes === 0 ? 'UTC' : zoneText('-0700', t.offsetMinutes); break;
      default: out += zoneText(chunk.std, t.offsetMinutes);
    }
  }
  return out;
}
