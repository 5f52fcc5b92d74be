import t from 'tap';
import fc from 'fast-check';
import {
  addCalendarMonths,
  addCalendarYears,
  dateOnlyToInstant,
  dayOf,
  daysInMonth,
  formatInstant,
  isDateOnly,
  isMonth,
  isValidTimeZone,
  monthOf,
  nextMonth,
  offsetAt,
  parseOffsetTimestamp,
  previousMonth,
  startOfMonth,
} from '../../src/shared/time.js';

const SH = 'Asia/Shanghai';
const NY = 'America/New_York';
const SAO_PAULO = 'America/Sao_Paulo';
const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number =>
  Date.UTC(y, mo - 1, d, h, mi, s, ms);

t.test('monthOf / dayOf at the Asia/Shanghai month boundary', async (t) => {
  // 2026-10-31T23:59:59.999+08:00 and 2026-11-01T00:00:00.000+08:00
  const lastMs = utc(2026, 10, 31, 15, 59, 59, 999);
  const firstMs = utc(2026, 10, 31, 16);
  t.equal(monthOf(lastMs, SH), '2026-10');
  t.equal(monthOf(firstMs, SH), '2026-11');
  t.equal(dayOf(lastMs, SH), '2026-10-31');
  t.equal(dayOf(firstMs, SH), '2026-11-01');
  t.equal(monthOf(firstMs, 'UTC'), '2026-10', 'the same instant is still October in UTC');
  t.equal(monthOf(utc(2026, 12, 31, 16), SH), '2027-01', 'year boundary');
  t.equal(dayOf(utc(2024, 2, 28, 16), SH), '2024-02-29', 'leap day');
  t.equal(dayOf(utc(2025, 2, 28, 16), SH), '2025-03-01', 'no leap day in 2025');
  t.throws(() => monthOf(1.5, SH), RangeError, 'fractional instants are rejected');
});

t.test('startOfMonth is 00:00 local, across DST', async (t) => {
  const cases: Array<[string, string, number]> = [
    ['2026-11', SH, utc(2026, 10, 31, 16)],
    ['2026-01', SH, utc(2025, 12, 31, 16)],
    ['2024-03', SH, utc(2024, 2, 29, 16)],
    ['2026-03', NY, utc(2026, 3, 1, 5)], // EST, DST starts 8 March
    ['2026-04', NY, utc(2026, 4, 1, 4)], // EDT
    ['2026-11', NY, utc(2026, 11, 1, 4)], // EDT: DST ends at 02:00 that same day
    ['2026-12', NY, utc(2026, 12, 1, 5)], // EST
    ['2026-07', 'UTC', utc(2026, 7, 1)],
    ['2026-07', 'Asia/Kolkata', utc(2026, 6, 30, 18, 30)],
    // Shanghai observed DST 1986–1991: 1988-04-17 02:00 → 03:00, so May started at +09:00
    ['1988-05', SH, utc(1988, 4, 30, 15)],
  ];
  for (const [month, zone, expected] of cases) {
    t.equal(startOfMonth(month, zone), expected, `${month} in ${zone}`);
    t.equal(monthOf(expected, zone), month, `${month} in ${zone} contains its start`);
    t.equal(monthOf(expected - 1, zone), previousMonth(month), `${month} in ${zone}: 1 ms earlier is the month before`);
  }
  t.throws(() => startOfMonth('2026-13', SH), RangeError);
  t.throws(() => startOfMonth('2026-1', SH), RangeError);
});

t.test('nextMonth / previousMonth / validators', async (t) => {
  t.equal(nextMonth('2026-11'), '2026-12');
  t.equal(nextMonth('2026-12'), '2027-01');
  t.equal(previousMonth('2027-01'), '2026-12');
  t.equal(previousMonth('2026-03'), '2026-02');
  t.throws(() => nextMonth('2026-00'), RangeError);
  t.equal(isMonth('2026-12'), true);
  t.equal(isMonth('2026-13'), false);
  t.equal(isDateOnly('2024-02-29'), true);
  t.equal(isDateOnly('2025-02-29'), false);
  t.equal(isDateOnly('2026-02-30'), false);
  t.equal(isDateOnly('2026-2-3'), false);
  t.same([daysInMonth(2024, 2), daysInMonth(2100, 2), daysInMonth(2000, 2), daysInMonth(2026, 4)], [29, 28, 29, 30]);
  t.equal(isValidTimeZone(SH), true);
  t.equal(isValidTimeZone('Mars/Olympus_Mons'), false);
});

t.test('dateOnlyToInstant: 00:00 of the date, start of day when midnight is skipped', async (t) => {
  t.equal(dateOnlyToInstant('2026-01-01', SH), utc(2025, 12, 31, 16));
  t.equal(dateOnlyToInstant('2027-01-01', SH), utc(2026, 12, 31, 16));
  t.equal(dateOnlyToInstant('2026-03-08', NY), utc(2026, 3, 8, 5), 'DST day in New York starts at 00:00 EST');
  // São Paulo began DST at midnight on 2018-11-04: the day started at 01:00 −02:00
  const skipped = dateOnlyToInstant('2018-11-04', SAO_PAULO);
  t.equal(skipped, utc(2018, 11, 4, 3));
  t.equal(formatInstant(skipped, SAO_PAULO), '2018-11-04T01:00:00.000-02:00');
  t.equal(dayOf(skipped - 1, SAO_PAULO), '2018-11-03');
  // and ended it at midnight on 2019-02-17 (00:00 → 23:00 of the 16th): the 16th has 25 hours
  t.equal(dateOnlyToInstant('2019-02-16', SAO_PAULO), utc(2019, 2, 16, 2));
  t.equal(dateOnlyToInstant('2019-02-17', SAO_PAULO), utc(2019, 2, 17, 3));
  // Samoa skipped 2011-12-30 entirely (−10:00 → +14:00): that date maps to the instant the 31st began
  t.equal(dateOnlyToInstant('2011-12-30', 'Pacific/Apia'), utc(2011, 12, 30, 10));
  t.equal(dateOnlyToInstant('2011-12-31', 'Pacific/Apia'), utc(2011, 12, 30, 10));
  t.throws(() => dateOnlyToInstant('2026-02-30', SH), RangeError);
  t.throws(() => dateOnlyToInstant('2026-01-01T00:00:00Z', SH), RangeError);
});

t.test('addCalendarMonths keeps wall time and clamps the day', async (t) => {
  const sh = (y: number, mo: number, d: number, h = 0, mi = 0): number => utc(y, mo, d, h - 8, mi);
  const cases: Array<[string, number, number, string, number]> = [
    ['31 Jan + 1 → 28 Feb', sh(2026, 1, 31, 10), 1, SH, sh(2026, 2, 28, 10)],
    ['31 Jan + 1 → 29 Feb in a leap year', sh(2024, 1, 31, 10), 1, SH, sh(2024, 2, 29, 10)],
    ['31 Jan + 13', sh(2026, 1, 31, 10), 13, SH, sh(2027, 2, 28, 10)],
    ['31 Mar − 1', sh(2026, 3, 31, 23, 59), -1, SH, sh(2026, 2, 28, 23, 59)],
    ['15 Nov + 2 crosses the year', sh(2026, 11, 15), 2, SH, sh(2027, 1, 15)],
    ['zero months', sh(2026, 5, 5, 5), 0, SH, sh(2026, 5, 5, 5)],
    ['EST → EDT keeps 12:00 local', utc(2026, 3, 7, 17), 1, NY, utc(2026, 4, 7, 16)],
    ['into the spring gap: 02:30 → 03:30 EDT', utc(2026, 2, 8, 7, 30), 1, NY, utc(2026, 3, 8, 7, 30)],
    ['into the autumn overlap: the earlier 01:30 (EDT)', utc(2026, 10, 1, 5, 30), 1, NY, utc(2026, 11, 1, 5, 30)],
  ];
  for (const [name, from, months, zone, expected] of cases) {
    t.equal(addCalendarMonths(from, months, zone), expected, name);
  }
  t.equal(addCalendarMonths(utc(2026, 1, 1, 0, 0, 0, 123), 1, 'UTC'), utc(2026, 2, 1, 0, 0, 0, 123), 'milliseconds kept');
  t.throws(() => addCalendarMonths(0, 0.5, SH), RangeError);
});

t.test('addCalendarYears: 29 Feb → 28 Feb', async (t) => {
  const leapDay = utc(2024, 2, 29, 1); // 2024-02-29T09:00+08:00
  t.equal(addCalendarYears(leapDay, 1, SH), utc(2025, 2, 28, 1));
  t.equal(addCalendarYears(leapDay, 4, SH), utc(2028, 2, 29, 1));
  t.equal(addCalendarYears(leapDay, 10, SH), utc(2034, 2, 28, 1));
  t.equal(addCalendarYears(leapDay, -4, SH), utc(2020, 2, 29, 1));
  // 2024-02-28T16:30Z is the 29th in Shanghai but the 28th in UTC: the zone decides
  t.equal(addCalendarYears(utc(2024, 2, 28, 16, 30), 1, SH), utc(2025, 2, 27, 16, 30));
  t.equal(addCalendarYears(utc(2024, 2, 28, 16, 30), 1, 'UTC'), utc(2025, 2, 28, 16, 30));
  t.equal(addCalendarYears(utc(2026, 6, 1, 4), 10, NY), utc(2036, 6, 1, 4));
});

t.test('parseOffsetTimestamp', async (t) => {
  const valid: Array<[string, number]> = [
    ['2026-11-03T08:15:00.000+08:00', utc(2026, 11, 3, 0, 15)],
    ['2026-11-03T00:15:00Z', utc(2026, 11, 3, 0, 15)],
    ['2026-11-03t00:15:00z', utc(2026, 11, 3, 0, 15)],
    ['2026-11-03T00:15:00.1234567Z', utc(2026, 11, 3, 0, 15, 0, 123)],
    ['2026-11-03T00:15:59.9999999Z', utc(2026, 11, 3, 0, 15, 59, 999)],
    ['2026-11-03T00:15:00.5Z', utc(2026, 11, 3, 0, 15, 0, 500)],
    ['2026-11-02T18:45:00-05:30', utc(2026, 11, 3, 0, 15)],
    ['2026-11-03T00:15:00+00:00', utc(2026, 11, 3, 0, 15)],
    ['2026-11-03T00:15:00-00:00', utc(2026, 11, 3, 0, 15)],
    ['2026-01-01T00:00:00.000+08:00', utc(2025, 12, 31, 16)],
    ['2024-02-29T12:00:00Z', utc(2024, 2, 29, 12)],
    ['2000-02-29T12:00:00Z', utc(2000, 2, 29, 12)],
    ['0001-01-01T00:00:00Z', -62135596800000],
    ['9999-12-31T23:59:59.999+14:00', utc(9999, 12, 31, 9, 59, 59, 999)],
  ];
  for (const [text, expected] of valid) t.equal(parseOffsetTimestamp(text), expected, text);
  const invalid = [
    '',
    '2026-11-03T08:15:00', // no offset
    '2026-11-03T08:15:00.000', // no offset
    '2026-11-03T23:59:60Z', // leap second
    '2026-11-03T23:59:60.000+08:00',
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-11-00T00:00:00Z',
    '2026-11-03T24:00:00Z',
    '2026-11-03T12:60:00Z',
    '2026-11-03 08:15:00Z', // space separator
    '2026-11-03T08:15:00+0800',
    '2026-11-03T08:15:00+08',
    '2026-11-03T08:15:00+24:00',
    '2026-11-03T08:15:00+08:60',
    '2026-11-03T08:15:00.Z',
    '2026-1-03T08:15:00Z',
    '2026-11-03T8:15:00Z',
    '2026-11-03T08:15Z',
    '2026-11-03T08:15:00Z ',
    '+2026-11-03T08:15:00Z',
    '2026-11-03',
  ];
  for (const text of invalid) t.equal(parseOffsetTimestamp(text), null, `invalid: ${JSON.stringify(text)}`);
});

t.test('formatInstant: RFC 3339 in the zone, milliseconds always', async (t) => {
  const at = utc(2026, 11, 3, 0, 16, 2, 120);
  t.equal(formatInstant(at, SH), '2026-11-03T08:16:02.120+08:00');
  t.equal(formatInstant(at, 'UTC'), '2026-11-03T00:16:02.120+00:00');
  t.equal(formatInstant(at, NY), '2026-11-02T19:16:02.120-05:00');
  t.equal(formatInstant(utc(2026, 7, 1), NY), '2026-06-30T20:00:00.000-04:00');
  t.equal(formatInstant(at, 'Asia/Kolkata'), '2026-11-03T05:46:02.120+05:30');
  t.equal(formatInstant(at, 'America/St_Johns'), '2026-11-02T20:46:02.120-03:30');
  t.equal(formatInstant(utc(2026, 10, 31, 15, 59, 59, 999), SH), '2026-10-31T23:59:59.999+08:00');
  t.equal(formatInstant(0, 'UTC'), '1970-01-01T00:00:00.000+00:00');
  t.equal(formatInstant(-1, 'UTC'), '1969-12-31T23:59:59.999+00:00');
  // Shanghai local mean time was +08:05:43: written with +08:05 and the matching wall time
  const lmt = utc(1900, 1, 1);
  t.equal(offsetAt(lmt, SH), (8 * 3600 + 5 * 60 + 43) * 1000);
  t.equal(formatInstant(lmt, SH), '1900-01-01T08:05:00.000+08:05');
  t.equal(parseOffsetTimestamp(formatInstant(lmt, SH)), lmt);
  t.throws(() => formatInstant(Number.NaN, SH), RangeError);
});

// ---- properties ----

const ZONES = [SH, NY, SAO_PAULO, 'UTC', 'Europe/London', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];
const zone = fc.constantFrom(...ZONES);
/** 1970..2100 */
const instant = fc.integer({ min: 0, max: utc(2100, 1, 1) });
const month = fc
  .tuple(fc.integer({ min: 1971, max: 2099 }), fc.integer({ min: 1, max: 12 }))
  .map(([y, m]) => `${y}-${String(m).padStart(2, '0')}`);

t.test('property: formatInstant and parseOffsetTimestamp round-trip', async (t) => {
  fc.assert(fc.property(instant, zone, (ms, tz) => parseOffsetTimestamp(formatInstant(ms, tz)) === ms));
  t.pass('round trip holds');
});

t.test('property: a month is [startOfMonth(m), startOfMonth(next m))', async (t) => {
  fc.assert(
    fc.property(month, zone, (m, tz) => {
      const start = startOfMonth(m, tz);
      const end = startOfMonth(nextMonth(m), tz);
      return (
        monthOf(start, tz) === m &&
        monthOf(start - 1, tz) === previousMonth(m) &&
        monthOf(end - 1, tz) === m &&
        dayOf(start, tz) === `${m}-01`
      );
    }),
  );
  fc.assert(
    fc.property(instant, zone, (ms, tz) => {
      const m = monthOf(ms, tz);
      return startOfMonth(m, tz) <= ms && ms < startOfMonth(nextMonth(m), tz);
    }),
  );
  t.pass('month intervals hold');
});

t.test('property: addCalendarMonths lands in the right month with a clamped day', async (t) => {
  fc.assert(
    fc.property(instant, fc.integer({ min: -240, max: 240 }), zone, (ms, n, tz) => {
      const result = addCalendarMonths(ms, n, tz);
      const [y, mo, d] = dayOf(ms, tz).split('-').map(Number) as [number, number, number];
      const index = y * 12 + mo - 1 + n;
      const year = Math.floor(index / 12);
      const targetMonth = index - year * 12 + 1;
      const expectedDay = Math.min(d, daysInMonth(year, targetMonth));
      const [ry, rmo, rd] = dayOf(result, tz).split('-').map(Number) as [number, number, number];
      // a wall time skipped by a gap moves forward within the same day, except a gap at 23:xx
      const sameDay = ry === year && rmo === targetMonth && rd === expectedDay;
      const nextDay = dayOf(result - 3_600_000, tz) === `${year}-${String(targetMonth).padStart(2, '0')}-${String(expectedDay).padStart(2, '0')}`;
      return sameDay || nextDay;
    }),
  );
  t.pass('addCalendarMonths holds');
});
