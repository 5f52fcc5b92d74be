/**
 * Calendar arithmetic in an IANA time zone with `Intl` only (no date libraries, no clock reads).
 * Instants are epoch milliseconds (`number`, integral); months are "YYYY-MM", dates "YYYY-MM-DD".
 *
 * Wall-clock times that a zone skips or repeats are resolved like Temporal's `compatible`
 * disambiguation: a repeated time takes its earlier instant, a skipped time is moved forward by the
 * length of the gap. Date-only values and month starts use *start of day* instead (DESIGN 4: "00:00 of
 * that date"): when a zone skips midnight, the day starts at the first instant that exists on it.
 *
 * Supported range: years 0000–9999 (what RFC 3339 can write).
 */

const MS_PER_SECOND = 1_000;
const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;
/**
 * Window probed on each side of a wall-clock time to find the offsets in force around it. Offsets span
 * −12 h … +14 h, so every instant that can show a given wall time lies within 26 h of it.
 */
const PROBE_MS = 36 * 3_600_000;

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone, created on first use (constructing Intl.DateTimeFormat is expensive). */
function offsetFormat(timeZone: string): Intl.DateTimeFormat {
  let format = offsetFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormats.set(timeZone, format);
  }
  return format;
}

/** Is `timeZone` an IANA zone name that this runtime knows? */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    offsetFormat(timeZone);
    return true;
  } catch {
    return false;
  }
}

const OFFSET_NAME = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

const BUCKET_MS = 15 * MS_PER_MINUTE;
const MAX_CACHED_BUCKETS = 200_000;
/** zone → 15-minute bucket → the offset in force throughout that bucket (only buckets without a transition). */
const offsetCache = new Map<string, Map<number, number>>();

/**
 * UTC offset of `timeZone` at `instantMs`, in milliseconds (east positive), e.g. +28 800 000 for +08:00.
 * Hot: ingest asks it several times per record, and `Intl` formatting costs microseconds. A 15-minute bucket
 * is cached only when the offset at its first and last millisecond agree, so a transition inside a bucket
 * is always computed exactly.
 */
export function offsetAt(instantMs: number, timeZone: string): number {
  let zone = offsetCache.get(timeZone);
  if (zone === undefined) offsetCache.set(timeZone, (zone = new Map()));
  const bucket = Math.floor(instantMs / BUCKET_MS);
  const cached = zone.get(bucket);
  if (cached !== undefined) return cached;
  const start = bucket * BUCKET_MS;
  const first = computeOffset(start, timeZone);
  if (first === computeOffset(start + BUCKET_MS - 1, timeZone)) {
    if (zone.size >= MAX_CACHED_BUCKETS) zone.clear();
    zone.set(bucket, first);
    return first;
  }
  return computeOffset(instantMs, timeZone);
}

function computeOffset(instantMs: number, timeZone: string): number {
  const parts = offsetFormat(timeZone).formatToParts(instantMs);
  const name = parts.find((part) => part.type === 'timeZoneName')?.value ?? '';
  const match = OFFSET_NAME.exec(name);
  if (match === null) throw new RangeError(`unexpected offset ${JSON.stringify(name)} for ${timeZone}`);
  const [, sign, hours, minutes, seconds] = match;
  if (sign === undefined) return 0;
  const magnitude =
    (Number(hours) * 3_600 + Number(minutes) * 60 + Number(seconds ?? '0')) * MS_PER_SECOND;
  return sign === '-' ? -magnitude : magnitude;
}

interface WallFields {
  year: number;
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** Epoch milliseconds of a wall time read as if it were UTC ("local ms"). Handles years 0–99. */
function wallToLocalMs(fields: WallFields): number {
  const date = new Date(0);
  date.setUTCFullYear(fields.year, fields.month - 1, fields.day);
  date.setUTCHours(fields.hour, fields.minute, fields.second, fields.millisecond);
  return date.getTime();
}

function localMsToWall(localMs: number): WallFields {
  const date = new Date(localMs);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    millisecond: date.getUTCMilliseconds(),
  };
}

function assertInstant(instantMs: number): void {
  if (!Number.isSafeInteger(instantMs)) throw new RangeError(`not an integral instant: ${instantMs}`);
}

/** Wall-clock fields of `instantMs` in `timeZone`. */
function wallAt(instantMs: number, timeZone: string): WallFields {
  assertInstant(instantMs);
  return localMsToWall(instantMs + offsetAt(instantMs, timeZone));
}

type GapRule = 'shift' | 'startOfDay';

/**
 * The instant showing wall time `localMs` in `timeZone`. Repeated wall times take the earlier instant;
 * skipped ones take `local − offset before the gap` (`shift`) or the transition instant (`startOfDay`).
 */
function localMsToInstant(localMs: number, timeZone: string, gap: GapRule): number {
  const before = offsetAt(localMs - PROBE_MS, timeZone);
  const after = offsetAt(localMs + PROBE_MS, timeZone);
  const here = offsetAt(localMs, timeZone);
  let best: number | null = null;
  for (const offset of new Set([before, here, after])) {
    const candidate = localMs - offset;
    if (offsetAt(candidate, timeZone) === offset && (best === null || candidate < best)) best = candidate;
  }
  if (best !== null) return best;
  // A gap: the wall time was skipped when the offset moved from `before` to `after` (after > before).
  const shifted = localMs - before;
  if (gap === 'shift') return shifted;
  // The transition lies in (local − after, local − before]; find its first instant by bisection.
  let low = localMs - after; // offset here is still `before`
  let high = shifted; // offset here is already past the gap
  while (high - low > 1) {
    const middle = low + Math.floor((high - low) / 2);
    if (offsetAt(middle, timeZone) === before) low = middle;
    else high = middle;
  }
  return high;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function formatMonth(year: number, month: number): string {
  return `${pad(year, 4)}-${pad(month, 2)}`;
}

/** The billing month of `instantMs` in `timeZone`: "YYYY-MM". */
export function monthOf(instantMs: number, timeZone: string): string {
  const wall = wallAt(instantMs, timeZone);
  return formatMonth(wall.year, wall.month);
}

/** The local date of `instantMs` in `timeZone`: "YYYY-MM-DD". */
export function dayOf(instantMs: number, timeZone: string): string {
  const wall = wallAt(instantMs, timeZone);
  return `${formatMonth(wall.year, wall.month)}-${pad(wall.day, 2)}`;
}

/** A billing month "YYYY-MM" (month 01–12): the one month rule, for the API's schema and for this module. */
export const MONTH_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Number of days in `month` (1–12) of `year`, proleptic Gregorian. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** "YYYY-MM" → its year and month (1–12); throws a RangeError on anything else. */
export function parseMonth(month: string): { year: number; month: number } {
  if (!MONTH_PATTERN.test(month)) throw new RangeError(`not a month "YYYY-MM": ${JSON.stringify(month)}`);
  return { year: Number(month.slice(0, 4)), month: Number(month.slice(5)) };
}

/** "YYYY-MM-DD" → its year, month and day, or null when it is not a calendar date. */
function dateParts(text: string): { year: number; month: number; day: number } | null {
  const match = DATE_PATTERN.exec(text);
  if (match === null) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) ? { year, month, day } : null;
}

/** "YYYY-MM-DD" → its year, month and day; throws a RangeError when it is not a calendar date. */
export function parseDateOnly(date: string): { year: number; month: number; day: number } {
  const parts = dateParts(date);
  if (parts === null) throw new RangeError(`not a date "YYYY-MM-DD": ${JSON.stringify(date)}`);
  return parts;
}

/** Is `text` a valid "YYYY-MM-DD" calendar date? */
export function isDateOnly(text: string): boolean {
  return dateParts(text) !== null;
}

/** Is `text` a valid "YYYY-MM" month? */
export function isMonth(text: string): boolean {
  return MONTH_PATTERN.test(text);
}

function startOfDay(year: number, month: number, day: number, timeZone: string): number {
  const localMs = wallToLocalMs({ year, month, day, hour: 0, minute: 0, second: 0, millisecond: 0 });
  return localMsToInstant(localMs, timeZone, 'startOfDay');
}

/** First instant of `month` ("YYYY-MM") in `timeZone`: 00:00 of its first day. */
export function startOfMonth(month: string, timeZone: string): number {
  const parsed = parseMonth(month);
  return startOfDay(parsed.year, parsed.month, 1, timeZone);
}

/** The month after `month`: "2026-12" → "2027-01". */
export function nextMonth(month: string): string {
  const parsed = parseMonth(month);
  return parsed.month === 12 ? formatMonth(parsed.year + 1, 1) : formatMonth(parsed.year, parsed.month + 1);
}

/** The month before `month`: "2027-01" → "2026-12". */
export function previousMonth(month: string): string {
  const parsed = parseMonth(month);
  return parsed.month === 1 ? formatMonth(parsed.year - 1, 12) : formatMonth(parsed.year, parsed.month - 1);
}

/** A date-only value ("YYYY-MM-DD") as the instant 00:00 of that date in `timeZone` (DESIGN 4). */
export function dateOnlyToInstant(date: string, timeZone: string): number {
  const { year, month, day } = parseDateOnly(date);
  return startOfDay(year, month, day, timeZone);
}

/**
 * `instantMs` plus `months` calendar months in `timeZone`: the local wall time is kept and the day is
 * clamped to the end of the target month (31 Jan + 1 month → 28/29 Feb). DESIGN 6 (`termMonths`).
 */
export function addCalendarMonths(instantMs: number, months: number, timeZone: string): number {
  if (!Number.isSafeInteger(months)) throw new RangeError(`not an integral number of months: ${months}`);
  const wall = wallAt(instantMs, timeZone);
  const monthIndex = wall.year * 12 + (wall.month - 1) + months;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  const day = Math.min(wall.day, daysInMonth(year, month));
  return localMsToInstant(wallToLocalMs({ ...wall, year, month, day }), timeZone, 'shift');
}

/**
 * `instantMs` plus `years` calendar years in `timeZone`, wall time kept; 29 Feb → 28 Feb in a common
 * year (DESIGN 4, `validYearsFromActivation`).
 */
export function addCalendarYears(instantMs: number, years: number, timeZone: string): number {
  if (!Number.isSafeInteger(years)) throw new RangeError(`not an integral number of years: ${years}`);
  return addCalendarMonths(instantMs, years * 12, timeZone);
}

const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 `date-time` (section 5.6) with its mandatory offset (`Z` or `±hh:mm`) to epoch ms.
 * Fractions beyond milliseconds are truncated; `:60` leap seconds, impossible dates (Feb 30), hours
 * beyond 23 and offsets beyond ±23:59 give null. `T`/`Z` may be lower case (RFC 3339 5.6 note); a space
 * separator is not accepted. `-00:00` ("offset unknown") denotes the same instant as `Z`.
 */
export function parseOffsetTimestamp(text: string): number | null {
  const match = TIMESTAMP_PATTERN.exec(text);
  if (match === null) return null;
  const [, y, mo, d, h, mi, s, fraction, zulu, sign, oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const millisecond = Number((fraction ?? '').slice(0, 3).padEnd(3, '0'));
  let offsetMs = 0;
  if (zulu === undefined) {
    const offsetHours = Number(oh);
    const offsetMinutes = Number(om);
    if (offsetHours > 23 || offsetMinutes > 59) return null;
    offsetMs = (offsetHours * 60 + offsetMinutes) * MS_PER_MINUTE * (sign === '-' ? -1 : 1);
  }
  return wallToLocalMs({ year, month, day, hour, minute, second, millisecond }) - offsetMs;
}

/**
 * `instantMs` as RFC 3339 in `timeZone` with that zone's offset and always three fraction digits:
 * "2026-11-03T08:16:02.120+08:00". A zero offset is written `+00:00`. Historical offsets with seconds
 * (local mean time before ~1900) are truncated to whole minutes and the wall time written for that
 * offset, so the text always denotes exactly `instantMs`.
 */
export function formatInstant(instantMs: number, timeZone: string): string {
  assertInstant(instantMs);
  const exactOffset = offsetAt(instantMs, timeZone);
  const offset = Math.trunc(exactOffset / MS_PER_MINUTE) * MS_PER_MINUTE;
  const wall = localMsToWall(instantMs + offset);
  if (wall.year < 0 || wall.year > 9999) throw new RangeError(`year ${wall.year} is outside RFC 3339`);
  const offsetMinutes = Math.abs(offset) / MS_PER_MINUTE;
  const offsetText = `${offset < 0 ? '-' : '+'}${pad(Math.floor(offsetMinutes / 60), 2)}:${pad(offsetMinutes % 60, 2)}`;
  return (
    `${formatMonth(wall.year, wall.month)}-${pad(wall.day, 2)}` +
    `T${pad(wall.hour, 2)}:${pad(wall.minute, 2)}:${pad(wall.second, 2)}.${pad(wall.millisecond, 3)}` +
    offsetText
  );
}

/** Days as milliseconds, e.g. a pack's `validDays` (DESIGN 4: `validDays × 86,400 s`). */
export function daysToMs(days: number): number {
  if (!Number.isSafeInteger(days)) throw new RangeError(`not an integral number of days: ${days}`);
  return days * MS_PER_DAY;
}
