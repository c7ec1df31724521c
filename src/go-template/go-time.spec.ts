import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GO_ZERO_TIME, formatGoJsonTime, parseGoTime } from './go-time';

// Expectations were checked against skopeo 1.9.3 (Go's time.Time JSON round trip of a
// config's "created").

describe('formatGoJsonTime (Go time.Time MarshalJSON, RFC3339Nano)', () => {
  const cases: Array<[string, string]> = [
    ['2024-01-02T03:04:05Z', '2024-01-02T03:04:05Z'],
    // Trailing zeros of the fraction are dropped; an all-zero fraction disappears.
    ['2024-01-02T03:04:05.000000000Z', '2024-01-02T03:04:05Z'],
    ['2024-01-02T03:04:05.0Z', '2024-01-02T03:04:05Z'],
    ['2024-01-02T03:04:05.120Z', '2024-01-02T03:04:05.12Z'],
    ['2024-01-02T03:04:05.100000000Z', '2024-01-02T03:04:05.1Z'],
    ['2024-01-02T03:04:05.000000001Z', '2024-01-02T03:04:05.000000001Z'],
    ['2024-01-02T03:04:05.123456789Z', '2024-01-02T03:04:05.123456789Z'],
    ['2024-01-02T03:04:05.050Z', '2024-01-02T03:04:05.05Z'],
    // A zero offset prints as Z, whatever its sign.
    ['2024-01-02T03:04:05+00:00', '2024-01-02T03:04:05Z'],
    ['2024-01-02T03:04:05-00:00', '2024-01-02T03:04:05Z'],
    ['2024-01-02T03:04:05.500+00:00', '2024-01-02T03:04:05.5Z'],
    // Other offsets are kept, with the wall clock unchanged (not converted to UTC).
    ['2024-01-02T03:04:05+01:00', '2024-01-02T03:04:05+01:00'],
    ['2024-01-02T03:04:05-08:00', '2024-01-02T03:04:05-08:00'],
    ['2024-01-02T03:04:05+05:30', '2024-01-02T03:04:05+05:30'],
    ['2024-01-02T03:04:05.25-09:45', '2024-01-02T03:04:05.25-09:45'],
    ['2024-01-02T23:59:59+14:00', '2024-01-02T23:59:59+14:00'],
    // Go's zero time and the extremes of a four-digit year.
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z'],
    ['9999-12-31T23:59:59.999999999Z', '9999-12-31T23:59:59.999999999Z'],
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00Z'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(formatGoJsonTime(input), expected));
  }

  const invalid = [
    '',
    'yesterday',
    '2024-01-02',
    '2024-01-02T03:04',
    '2024-01-02T03:04:05', // no zone
    '2024-01-02 03:04:05Z', // space instead of T
    '2024-01-02T03:04:05.Z', // empty fraction
    '2024-01-02T03:04:05+0100', // offset without colon
    '2024-01-02T03:04:05+01', // short offset
    '2024-01-02T03:04:05 Z',
    ' 2024-01-02T03:04:05Z',
    '2024-01-02T03:04:05Z ',
    '24-01-02T03:04:05Z',
    '2024-1-2T03:04:05Z',
    '2024-01-02T03:04:05ZZ',
    '2024-01-02T03:04:05UTC',
    '12024-01-02T03:04:05Z',
  ];
  for (const input of invalid) {
    it(`refuses ${JSON.stringify(input)}`, () => assert.equal(formatGoJsonTime(input), undefined));
  }

  // Go's RFC 3339 parser checks the ranges (month 1-12, day within the month, hour 0-23,
  // minute and second 0-59); json.Unmarshal fails on such values, so they are not times.
  const outOfRange = [
    '2024-00-10T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-00T00:00:00Z',
    '2024-01-32T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:60:00Z',
    '2024-01-01T00:00:60Z',
  ];
  it('refuses out-of-range fields (month, day of month, hour, minute, second)', () => {
    for (const input of outOfRange) assert.equal(formatGoJsonTime(input), undefined, input);
  });

  // Go accepts any number of fraction digits when parsing and keeps nanoseconds (the 10th
  // digit on is truncated, not rounded).
  it('accepts more than nine fraction digits, truncating to nanoseconds', () => {
    assert.equal(formatGoJsonTime('2024-01-02T03:04:05.1234567891Z'), '2024-01-02T03:04:05.123456789Z');
    assert.equal(formatGoJsonTime('2024-01-02T03:04:05.0000000009Z'), '2024-01-02T03:04:05Z');
  });
});

describe('formatGoJsonTime: separators Go accepts and refuses', () => {
  // time.Parse accepts a comma before the fraction (Go 1.17+); the JSON output uses a period.
  it('accepts a comma as the fraction separator', () => {
    assert.equal(formatGoJsonTime('2024-01-02T03:04:05,5Z'), '2024-01-02T03:04:05.5Z');
  });

  // Go's RFC 3339 parser wants an upper-case T and Z.
  it('refuses a lower-case t or z', () => {
    assert.equal(formatGoJsonTime('2024-01-02t03:04:05Z'), undefined);
    assert.equal(formatGoJsonTime('2024-01-02T03:04:05z'), undefined);
  });
});

describe('parseGoTime', () => {
  it('splits the wall clock, the fraction and the offset', () => {
    assert.deepEqual(parseGoTime('2024-01-02T03:04:05.120+05:30'), {
      local: '2024-01-02T03:04:05',
      fraction: '12',
      offsetMinutes: 330,
      epochMs: Date.UTC(2024, 0, 1, 21, 34, 5),
      nanos: 120_000_000,
    });
  });

  it('computes the epoch through the offset', () => {
    assert.equal(parseGoTime('1970-01-01T01:00:00+01:00')!.epochMs, 0);
    assert.equal(parseGoTime('1969-12-31T16:00:00-08:00')!.epochMs, 0);
    assert.equal(parseGoTime('1970-01-01T00:00:00Z')!.epochMs, 0);
    assert.equal(parseGoTime('2024-01-02T03:04:05Z')!.offsetMinutes, 0);
    assert.equal(parseGoTime('2024-01-02T03:04:05-02:30')!.offsetMinutes, -150);
  });

  it('reads the fraction as nanoseconds', () => {
    assert.equal(parseGoTime('2024-01-02T03:04:05Z')!.nanos, 0);
    assert.equal(parseGoTime('2024-01-02T03:04:05.5Z')!.nanos, 500_000_000);
    assert.equal(parseGoTime('2024-01-02T03:04:05.000000007Z')!.nanos, 7);
    assert.equal(parseGoTime('2024-01-02T03:04:05.000Z')!.fraction, '');
  });

  it('returns undefined for a non-RFC 3339 string', () => {
    assert.equal(parseGoTime('Tue, 02 Jan 2024 03:04:05 GMT'), undefined);
  });

  it('GO_ZERO_TIME is what Go prints for time.Time{}', () => {
    assert.equal(GO_ZERO_TIME, '0001-01-01T00:00:00Z');
    assert.equal(formatGoJsonTime(GO_ZERO_TIME), GO_ZERO_TIME);
  });
});
