/**
 * Validators for the identifiers of DESIGN 6 (ICCID, VIN, resident ID number, USCC), and the patterns of
 * the catalog's ids (DESIGN 4) and of a T-Box epoch (DESIGN 3.1): the one place each rule is written.
 * Pure: no I/O, no clock — `checkResidentId` takes today's date from the caller.
 * Each returns `{ ok: true }` or `{ ok: false, reason }`, the reason a short English sentence
 * that names the offending part, so an API can answer 422 with it.
 */

export type IdentifierCheck = { ok: true } | { ok: false; reason: string };

export interface CalendarDate {
  year: number;
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
}

/** DESIGN 4: the id of a sponsor, app, sponsorship, pack or plan; merchant ids follow the same rule. */
export const ID_PATTERN = /^[a-z0-9-]{2,40}$/;

/** DESIGN 3.1: a T-Box's seq epoch, 1–36 characters of `[A-Za-z0-9-]`. */
export const EPOCH_PATTERN = /^[A-Za-z0-9-]{1,36}$/;

const OK: IdentifierCheck = Object.freeze({ ok: true });

function fail(reason: string): IdentifierCheck {
  return { ok: false, reason };
}

/** Returns a reason when `text` is not exactly `length` characters, else null. */
function lengthProblem(text: string, length: number): string | null {
  return text.length === length ? null : `must be ${length} characters, got ${text.length}`;
}

// ---------------------------------------------------------------------------------------------
// VIN — ISO 3779 (structure), check digit per the North American scheme adopted by
// GB 16735-2019 §5: transliterate letters, weight positions, sum mod 11, 10 → 'X', in position 9.
// Letters I, O and Q are never used (ISO 3779 §5.1.2: confusable with 1 and 0).

const VIN_VALUES: Readonly<Record<string, number>> = {
  A: 1, B: 2, C: 3, D: 4, E: 5, F: 6, G: 7, H: 8,
  J: 1, K: 2, L: 3, M: 4, N: 5, P: 7, R: 9,
  S: 2, T: 3, U: 4, V: 5, W: 6, X: 7, Y: 8, Z: 9,
  '0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7': 7, '8': 8, '9': 9,
};
const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2] as const;

function vinCharProblem(vin: string): string | null {
  for (let i = 0; i < vin.length; i++) {
    const ch = vin[i]!;
    if (ch === 'I' || ch === 'O' || ch === 'Q') return `letter '${ch}' is not allowed (position ${i + 1})`;
    if (/[a-z]/.test(ch)) return `letters must be uppercase, got '${ch}' (position ${i + 1})`;
    if (VIN_VALUES[ch] === undefined) return `character '${ch}' is not allowed (position ${i + 1})`;
  }
  return null;
}

/**
 * The check digit ('0'–'9' or 'X') for a 17-character VIN; position 9 of the input is ignored
 * (its weight is 0). Throws on a malformed input: callers validate first.
 */
export function vinCheckDigit(vin17: string): string {
  const problem = lengthProblem(vin17, 17) ?? vinCharProblem(vin17);
  if (problem) throw new RangeError(`vinCheckDigit: ${problem}`);
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += VIN_VALUES[vin17[i]!]! * VIN_WEIGHTS[i]!;
  const rest = sum % 11;
  return rest === 10 ? 'X' : String(rest);
}

/** VIN per DESIGN 6: 17 characters of `A-H J-N P R-Z 0-9`, check digit in position 9. */
export function checkVin(vin: string): IdentifierCheck {
  const problem = lengthProblem(vin, 17) ?? vinCharProblem(vin);
  if (problem) return fail(problem);
  const expected = vinCheckDigit(vin);
  return vin[8] === expected ? OK : fail(`check digit (position 9) should be '${expected}', got '${vin[8]}'`);
}

// ---------------------------------------------------------------------------------------------
// ICCID — ITU-T E.118: prefix 89 (telecommunications), 19–20 characters. Some issuers use hex
// digits in the issuer part; only an all-digit ICCID carries a Luhn (ISO/IEC 7812-1 Annex B) check.

/** The Luhn check digit to append to `digits` (a non-empty string of 0-9). */
export function luhnCheckDigit(digits: string): string {
  if (!/^[0-9]+$/.test(digits)) throw new RangeError('luhnCheckDigit: expects digits only');
  let sum = 0;
  // Doubling starts at the rightmost digit of the payload (it sits next to the check digit).
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** ICCID per DESIGN 6: 19–20 characters starting `89`, digits or uppercase A–F; Luhn when all digits. */
export function checkIccid(iccid: string): IdentifierCheck {
  if (iccid.length < 19 || iccid.length > 20) return fail(`must be 19 or 20 characters, got ${iccid.length}`);
  if (/[a-f]/.test(iccid)) return fail('hex digits must be uppercase A-F');
  const bad = /[^0-9A-F]/.exec(iccid);
  if (bad) return fail(`character '${bad[0]}' is not allowed (position ${bad.index + 1})`);
  if (!iccid.startsWith('89')) return fail(`must start with '89', got '${iccid.slice(0, 2)}'`);
  if (!/^[0-9]+$/.test(iccid)) return OK;
  const expected = luhnCheckDigit(iccid.slice(0, -1));
  const actual = iccid.slice(-1);
  return actual === expected ? OK : fail(`Luhn check digit should be '${expected}', got '${actual}'`);
}

// ---------------------------------------------------------------------------------------------
// Resident identity card number — GB 11643-1999: 6-digit address code, 8-digit birth date
// YYYYMMDD, 3-digit sequence, check character per ISO 7064:1983 MOD 11-2 (weights 2^(17-i) mod 11).

const RESIDENT_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
/** Indexed by the weighted sum mod 11 (GB 11643 §8.2 table). */
const RESIDENT_CHECK_CHARS = '10X98765432';

/** The GB 11643 check character ('0'–'9' or 'X') for the first 17 digits. */
export function residentIdCheckChar(first17: string): string {
  if (!/^[0-9]{17}$/.test(first17)) throw new RangeError('residentIdCheckChar: expects 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * RESIDENT_WEIGHTS[i]!;
  return RESIDENT_CHECK_CHARS[sum % 11]!;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function compareDates(a: CalendarDate, b: CalendarDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/**
 * Resident ID number per DESIGN 6 / GB 11643. `today` is injected (the billing-timezone date of
 * the caller's clock) so a birth date "not in the future" is decided without reading the clock here.
 */
export function checkResidentId(id: string, today: CalendarDate): IdentifierCheck {
  const problem = lengthProblem(id, 18);
  if (problem) return fail(problem);
  if (/x$/.test(id)) return fail("check character must be uppercase 'X'");
  const bad = /[^0-9]/.exec(id.slice(0, 17));
  if (bad) return fail(`character '${bad[0]}' is not allowed (position ${bad.index + 1}); only the last may be 'X'`);
  if (!/[0-9X]$/.test(id)) return fail(`check character must be 0-9 or 'X', got '${id[17]}'`);

  const birthText = id.slice(6, 14);
  const birth = { year: Number(id.slice(6, 10)), month: Number(id.slice(10, 12)), day: Number(id.slice(12, 14)) };
  const validDate =
    birth.month >= 1 && birth.month <= 12 && birth.day >= 1 && birth.day <= daysInMonth(birth.year, birth.month);
  if (!validDate) return fail(`birth date ${birthText} is not a valid date`);
  if (compareDates(birth, today) > 0) return fail(`birth date ${birthText} is in the future`);

  const expected = residentIdCheckChar(id.slice(0, 17));
  return id[17] === expected ? OK : fail(`check character should be '${expected}', got '${id[17]}'`);
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code — GB 32100-2015: 18 characters from a 31-symbol alphabet (digits and
// capitals without I, O, Z, S, V), check character at position 18 = (31 − Σ value×weight mod 31) mod 31.

const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;

function usccCharProblem(code: string): string | null {
  for (let i = 0; i < code.length; i++) {
    const ch = code[i]!;
    if (USCC_ALPHABET.includes(ch)) continue;
    if (/[a-z]/.test(ch)) return `letters must be uppercase, got '${ch}' (position ${i + 1})`;
    if (/[A-Z]/.test(ch)) return `letter '${ch}' is not allowed (position ${i + 1})`;
    return `character '${ch}' is not allowed (position ${i + 1})`;
  }
  return null;
}

/** The GB 32100 check character for the first 17 characters of a USCC. */
export function usccCheckChar(first17: string): string {
  const problem = lengthProblem(first17, 17) ?? usccCharProblem(first17);
  if (problem) throw new RangeError(`usccCheckChar: ${problem}`);
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_ALPHABET.indexOf(first17[i]!) * USCC_WEIGHTS[i]!;
  return USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
}

/** USCC per DESIGN 6: 18 characters of `0-9 A-H J-N P-R T-U W-Y`, weighted mod-31 check character. */
export function checkUscc(code: string): IdentifierCheck {
  const problem = lengthProblem(code, 18) ?? usccCharProblem(code);
  if (problem) return fail(problem);
  const expected = usccCheckChar(code.slice(0, 17));
  return code[17] === expected ? OK : fail(`check character should be '${expected}', got '${code[17]}'`);
}
