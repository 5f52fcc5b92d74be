import t from 'tap';
import fc from 'fast-check';
import {
  checkIccid,
  checkResidentId,
  checkUscc,
  checkVin,
  luhnCheckDigit,
  residentIdCheckChar,
  usccCheckChar,
  vinCheckDigit,
  type IdentifierCheck,
} from '../../src/shared/identifiers.js';

const TODAY = { year: 2026, month: 1, day: 1 };

interface Case {
  name: string;
  input: string;
  /** null: valid; otherwise a fragment the reason must contain */
  reason: string | null;
}

/** One subtest per validator: each case is valid or rejected with a reason naming the problem. */
function runTable(name: string, check: (input: string) => IdentifierCheck, cases: Case[]): void {
  t.test(name, async (t) => {
    for (const c of cases) {
      const result = check(c.input);
      if (c.reason === null) {
        t.same(result, { ok: true }, `${c.name}: ${c.input} is valid`);
      } else {
        t.equal(result.ok, false, `${c.name}: ${c.input} is rejected`);
        if (!result.ok) t.match(result.reason, c.reason, `${c.name}: reason names the problem`);
      }
    }
  });
}

// Vectors were checked against published examples: the VIN from the NHTSA/Wikipedia worked
// example, the resident ID from GB 11643 itself, the USCC `91350100M000100Y43` from GB 32100's
// annex, the Luhn digit of 7992739871 from ISO/IEC 7812's worked example.

runTable('checkVin', checkVin, [
  { name: 'classic example', input: '1M8GDM9AXKP042788', reason: null },
  { name: 'Chinese WMI, check digit X', input: 'LSVAU218XN2183294', reason: null },
  { name: 'wrong check digit', input: '1M8GDM9A0KP042788', reason: "should be 'X', got '0'" },
  { name: 'letter I', input: '1M8GDM9AXKI042788', reason: "letter 'I' is not allowed" },
  { name: 'letter O', input: '1M8GDM9AXKO042788', reason: "letter 'O' is not allowed" },
  { name: 'letter Q', input: 'QM8GDM9AXKP042788', reason: "letter 'Q' is not allowed (position 1)" },
  { name: 'lowercase', input: '1m8GDM9AXKP042788', reason: 'uppercase' },
  { name: 'punctuation', input: '1M8GDM9AXKP04278-', reason: "character '-' is not allowed" },
  { name: 'too short', input: '1M8GDM9AXKP04278', reason: 'must be 17 characters' },
  { name: 'too long', input: '1M8GDM9AXKP0427880', reason: 'must be 17 characters' },
  { name: 'empty', input: '', reason: 'must be 17 characters' },
]);

runTable('checkIccid', checkIccid, [
  { name: '20 digits', input: '89860318640220133897', reason: null },
  { name: '19 digits with Luhn', input: '898603186402201338' + luhnCheckDigit('898603186402201338'), reason: null },
  { name: 'hex issuer part (no Luhn)', input: '89860B1234567890ABC', reason: null },
  { name: 'wrong Luhn digit', input: '89860318640220133890', reason: "should be '7', got '0'" },
  { name: 'lowercase hex', input: '89860b1234567890abc', reason: 'uppercase' },
  { name: 'letter beyond F', input: '89860G1234567890123', reason: "character 'G' is not allowed (position 6)" },
  { name: 'wrong prefix', input: '98860318640220133897', reason: "must start with '89'" },
  { name: 'too short', input: '898603186402201338', reason: 'must be 19 or 20 characters' },
  { name: 'too long', input: '898603186402201338970', reason: 'must be 19 or 20 characters' },
]);

runTable('checkResidentId', (id) => checkResidentId(id, TODAY), [
  { name: 'GB 11643 example', input: '11010519491231002X', reason: null },
  { name: '29 Feb of a leap year', input: '44030420000229123' + residentIdCheckChar('44030420000229123'), reason: null },
  { name: 'born today', input: '11010520260101001' + residentIdCheckChar('11010520260101001'), reason: null },
  { name: 'wrong check char', input: '110105194912310021', reason: "should be 'X', got '1'" },
  { name: 'lowercase x', input: '11010519491231002x', reason: "uppercase 'X'" },
  { name: '30 February', input: '110105199902300011', reason: 'birth date 19990230 is not a valid date' },
  { name: '29 Feb 1900 (not leap)', input: '440304190002291230', reason: 'birth date 19000229 is not a valid date' },
  { name: 'month 13', input: '110105199913010011', reason: 'not a valid date' },
  { name: 'day 00', input: '110105199901000011', reason: 'not a valid date' },
  { name: 'future birth date', input: '11010520260102001' + residentIdCheckChar('11010520260102001'), reason: 'birth date 20260102 is in the future' },
  { name: 'letter in body', input: '1101051949123100AX', reason: "character 'A' is not allowed (position 17)" },
  { name: 'bad last char', input: '11010519491231002Y', reason: "must be 0-9 or 'X'" },
  { name: '15-digit first generation', input: '110105491231002', reason: 'must be 18 characters' },
]);

runTable('checkUscc', checkUscc, [
  { name: 'GB 32100 annex example', input: '91350100M000100Y43', reason: null },
  { name: 'DESIGN 4 example', input: '91310000MA1FL5LQ3E', reason: null },
  { name: 'wrong check char', input: '91310000MA1FL5LQ3F', reason: "should be 'E', got 'F'" },
  { name: 'letter I', input: '91310000MA1IL5LQ3E', reason: "letter 'I' is not allowed (position 12)" },
  { name: 'letter O', input: '9131000OMA1FL5LQ3E', reason: "letter 'O' is not allowed" },
  { name: 'letter S', input: '91310000MA1FS5LQ3E', reason: "letter 'S' is not allowed" },
  { name: 'letter V', input: '91310000MA1FL5LV3E', reason: "letter 'V' is not allowed" },
  { name: 'letter Z', input: '91310000MA1FL5LQ3Z', reason: "letter 'Z' is not allowed" },
  { name: 'lowercase', input: '91310000ma1fl5lq3e', reason: 'uppercase' },
  { name: 'too short', input: '91310000MA1FL5LQ3', reason: 'must be 18 characters' },
  { name: 'old 15-digit registration number', input: '310000000123456', reason: 'must be 18 characters' },
]);

t.test('check-character helpers', async (t) => {
  t.equal(vinCheckDigit('1M8GDM9A0KP042788'), 'X', 'VIN position 9 is ignored when computing');
  t.equal(luhnCheckDigit('7992739871'), '3', 'ISO/IEC 7812 worked example');
  t.equal(residentIdCheckChar('11010519491231002'), 'X');
  t.equal(usccCheckChar('91350100M000100Y4'), '3');
  t.throws(() => vinCheckDigit('1M8GDM9AXKI042788'), RangeError, 'malformed input throws');
  t.throws(() => luhnCheckDigit('12a'), RangeError);
  t.throws(() => residentIdCheckChar('1101051949123100'), RangeError);
  t.throws(() => usccCheckChar('91310000MA1FL5LQ'), RangeError);
});

// Properties: appending the computed check character always validates, and any other check
// character is rejected — so the helpers and the validators agree on every input.
const chars = (alphabet: string, length: number) =>
  fc.array(fc.constantFrom(...alphabet), { minLength: length, maxLength: length }).map((a) => a.join(''));
const VIN_CHARS = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
const USCC_CHARS = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const birthDates = fc
  .date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2025-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10).replaceAll('-', ''));

t.test('check characters round-trip (fast-check)', async (t) => {
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(chars(VIN_CHARS, 8), chars(VIN_CHARS, 8), (head, tail) => {
          const vin = `${head}${vinCheckDigit(`${head}0${tail}`)}${tail}`;
          return checkVin(vin).ok && !checkVin(`${head}${vin[8] === '1' ? '2' : '1'}${tail}`).ok;
        }),
      ),
    'VIN',
  );
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(chars(USCC_CHARS, 17), (body) => {
          const check = usccCheckChar(body);
          return checkUscc(body + check).ok && !checkUscc(body + (check === '0' ? '1' : '0')).ok;
        }),
      ),
    'USCC',
  );
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(chars('0123456789', 17), (body) => {
          const iccid = `89${body}`;
          const check = luhnCheckDigit(iccid);
          return checkIccid(iccid + check).ok && !checkIccid(iccid + String((Number(check) + 1) % 10)).ok;
        }),
      ),
    'ICCID',
  );
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(chars('0123456789', 6), birthDates, chars('0123456789', 3), (area, birth, seq) => {
          const first17 = `${area}${birth}${seq}`;
          const check = residentIdCheckChar(first17);
          const wrong = check === '0' ? '1' : '0';
          return checkResidentId(first17 + check, TODAY).ok && !checkResidentId(first17 + wrong, TODAY).ok;
        }),
      ),
    'resident ID',
  );
});
