import t from 'tap';
import fc from 'fast-check';
import {
  BYTES_PER_GIB,
  formatMinor,
  isDecimalString,
  lineAmountMinor,
  netOfTaxMinor,
  parseDecimal,
  roundHalfUp,
  taxMinor,
  toMinor,
} from '../../src/shared/money.js';

const GIB = BYTES_PER_GIB;

t.test('parseDecimal', async (t) => {
  const valid: Array<[string, bigint, number]> = [
    ['0', 0n, 0],
    ['12.30', 1230n, 2],
    ['-0.05', -5n, 2],
    ['007.10', 710n, 2],
    ['4.0000', 40000n, 4],
    ['123456789012345678901234567890.1', 1234567890123456789012345678901n, 1],
  ];
  for (const [text, units, scale] of valid) t.same(parseDecimal(text), { units, scale }, text);
  for (const bad of ['', '1.', '.5', '+1', '1e3', ' 1', '1 ', '1,0', '--1', '0x10', 'NaN', '-', '1.2.3']) {
    t.throws(() => parseDecimal(bad), RangeError, `rejects ${JSON.stringify(bad)}`);
    t.equal(isDecimalString(bad), false, `isDecimalString(${JSON.stringify(bad)})`);
  }
  t.equal(isDecimalString('4.0001', 4), true);
  t.equal(isDecimalString('4.00001', 4), false);
  t.throws(() => parseDecimal('1e3'), /"1e3"/, 'the error shows the bad value');
});

t.test('roundHalfUp: half away from zero, any signs', async (t) => {
  const cases: Array<[bigint, bigint, bigint]> = [
    [5n, 2n, 3n], // 2.5
    [-5n, 2n, -3n], // -2.5
    [5n, -2n, -3n],
    [-5n, -2n, 3n],
    [1n, 2n, 1n], // 0.5
    [-1n, 2n, -1n],
    [4n, 2n, 2n],
    [7n, 3n, 2n], // 2.33
    [8n, 3n, 3n], // 2.67
    [-7n, 3n, -2n],
    [-8n, 3n, -3n],
    [1n, 3n, 0n],
    [-1n, 3n, 0n],
    [0n, 5n, 0n],
    [249n, 100n, 2n], // 2.49
    [250n, 100n, 3n],
    [-249n, 100n, -2n],
    [-250n, 100n, -3n],
  ];
  for (const [n, d, expected] of cases) t.equal(roundHalfUp(n, d), expected, `${n}/${d}`);
  t.throws(() => roundHalfUp(1n, 0n), RangeError);
});

t.test('toMinor', async (t) => {
  t.equal(toMinor('12.3'), 1230n);
  t.equal(toMinor('12'), 1200n);
  t.equal(toMinor('-0.05'), -5n);
  t.equal(toMinor('1.230'), 123n, 'trailing zeros beyond the digits are exact');
  t.equal(toMinor('5', 0), 5n);
  t.equal(toMinor('1.5', 4), 15000n);
  t.throws(() => toMinor('0.001'), /more than 2 decimals/);
  t.throws(() => toMinor('abc'), RangeError);
});

t.test('formatMinor', async (t) => {
  const cases: Array<[bigint, number, string]> = [
    [1230n, 2, '12.30'],
    [-5n, 2, '-0.05'],
    [5n, 2, '0.05'],
    [0n, 2, '0.00'],
    [-100n, 2, '-1.00'],
    [99n, 2, '0.99'],
    [5n, 0, '5'],
    [-5n, 0, '-5'],
    [12345n, 4, '1.2345'],
    [123456789012345678901234567890n, 2, '1234567890123456789012345678.90'],
  ];
  for (const [minor, digits, text] of cases) t.equal(formatMinor(minor, digits), text, `${minor} @ ${digits}`);
});

t.test('lineAmountMinor = round_half_up(bytes × price / 2^30, 2)', async (t) => {
  const cases: Array<[string, bigint, string, bigint]> = [
    ['1 GiB at 4.00', GIB, '4.00', 400n],
    ['3 GiB at 8.00', 3n * GIB, '8.00', 2400n],
    ['zero bytes', 0n, '8.00', 0n],
    ['free', 5n * GIB, '0', 0n],
    ['exactly half a cent rounds up', GIB / 2n, '0.01', 1n],
    ['just below half a cent', GIB / 2n - 1n, '0.01', 0n],
    ['1.5 cents → 2', 3n * (GIB / 2n), '0.01', 2n],
    ['2.5 cents → 3', 5n * (GIB / 2n), '0.01', 3n],
    ['four decimals, half: 2^30 at 0.0050 = 0.5 cent', GIB, '0.0050', 1n],
    ['four decimals, below half: 2^30 at 0.0049', GIB, '0.0049', 0n],
    ['one byte at the highest price', 1n, '9999.9999', 0n],
    ['1 MiB at 4.00 = 0.390625 cents', 1_048_576n, '4.00', 0n],
    ['100 MiB at 4.00 = 39.0625 cents', 100n * 1_048_576n, '4.00', 39n],
    ['big: 2^40 bytes at 12.3456', 2n ** 40n, '12.3456', 1264189n], // 1024 × 12.3456 = 12641.8944
  ];
  for (const [name, bytes, price, expected] of cases) t.equal(lineAmountMinor(bytes, price), expected, name);
});

t.test('taxMinor = round_half_up(amount × rate, 2)', async (t) => {
  const cases: Array<[bigint, string, bigint]> = [
    [1000n, '0.06', 60n],
    [25n, '0.06', 2n], // 1.5
    [24n, '0.06', 1n], // 1.44
    [8n, '0.0625', 1n], // 0.5
    [7n, '0.0625', 0n], // 0.4375
    [-25n, '0.06', -2n], // −1.5: half away from zero
    [0n, '0.13', 0n],
    [12345n, '0', 0n],
  ];
  for (const [amount, rate, expected] of cases) t.equal(taxMinor(amount, rate), expected, `${amount} × ${rate}`);
});

t.test('netOfTaxMinor = round_half_up(retail / (1 + rate), 2)', async (t) => {
  const cases: Array<[bigint, string, bigint]> = [
    [4800n, '0.06', 4528n], // 45.2830…
    [10600n, '0.06', 10000n],
    [3000n, '0.06', 2830n], // 28.3018…
    [5n, '1', 3n], // 2.5
    [-5n, '1', -3n], // −2.5: a red-letter reversal mirrors the original
    [4800n, '0', 4800n],
    [113n, '0.13', 100n],
  ];
  for (const [retail, rate, expected] of cases) t.equal(netOfTaxMinor(retail, rate), expected, `${retail} / (1 + ${rate})`);
  t.throws(() => netOfTaxMinor(100n, '-1'), RangeError);
});

// ---- properties, against an exact rational characterisation ----

const bigSigned = fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n });
const nonZero = bigSigned.filter((d) => d !== 0n);
const abs = (x: bigint): bigint => (x < 0n ? -x : x);

/**
 * r is round_half_up(n/d) iff |n/d − r| ≤ 1/2, and at exactly 1/2 r lies farther from zero than n/d.
 * In integers: 2·|n − r·d| ≤ |d|, and when equal, |r·d| > |n|.
 */
function isRoundHalfUp(n: bigint, d: bigint, r: bigint): boolean {
  const twiceError = 2n * abs(n - r * d);
  if (twiceError > abs(d)) return false;
  return twiceError < abs(d) || abs(r * d) > abs(n);
}

/** A decimal string with up to `maxScale` decimals, built from integers. */
const decimalString = (maxScale: number, min = 0n, max = 10n ** 8n) =>
  fc.tuple(fc.bigInt({ min, max }), fc.integer({ min: 0, max: maxScale })).map(([units, scale]) => ({
    text: formatMinor(units, scale),
    units,
    scale,
  }));

t.test('property: roundHalfUp matches the rational definition', async (t) => {
  fc.assert(fc.property(bigSigned, nonZero, (n, d) => isRoundHalfUp(n, d, roundHalfUp(n, d))));
  // half-way points specifically
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), nonZero, (k, d) => {
      const n = 2n * k * d + d; // n / 2d = k + 1/2
      const r = roundHalfUp(n, 2n * d);
      return r === (k >= 0n ? k + 1n : k);
    }),
  );
  t.pass('roundHalfUp properties hold');
});

t.test('property: formatMinor and parsing round-trip', async (t) => {
  fc.assert(
    fc.property(bigSigned, fc.integer({ min: 0, max: 6 }), (minor, digits) => {
      const text = formatMinor(minor, digits);
      const parsed = parseDecimal(text);
      return toMinor(text, digits) === minor && parsed.units === minor && parsed.scale === digits;
    }),
  );
  t.pass('round trip holds');
});

t.test('property: lineAmountMinor is the rounded exact rational and monotonic in bytes', async (t) => {
  const bytes = fc.bigInt({ min: 0n, max: 2n ** 60n });
  fc.assert(
    fc.property(bytes, decimalString(4), (b, price) => {
      const amount = lineAmountMinor(b, price.text);
      // exact value in cents: b × units × 100 / (2^30 × 10^scale)
      return isRoundHalfUp(b * price.units * 100n, GIB * 10n ** BigInt(price.scale), amount);
    }),
  );
  fc.assert(
    fc.property(bytes, bytes, decimalString(4), (a, b, price) => {
      const [low, high] = a <= b ? [a, b] : [b, a];
      return lineAmountMinor(low, price.text) <= lineAmountMinor(high, price.text);
    }),
  );
  t.pass('lineAmountMinor properties hold');
});

t.test('property: taxMinor and netOfTaxMinor are the rounded exact rationals', async (t) => {
  const amount = fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n });
  const rate = decimalString(4, 0n, 10n ** 4n);
  fc.assert(
    fc.property(amount, rate, (a, r) => {
      const one = 10n ** BigInt(r.scale);
      return (
        isRoundHalfUp(a * r.units, one, taxMinor(a, r.text)) &&
        isRoundHalfUp(a * one, one + r.units, netOfTaxMinor(a, r.text))
      );
    }),
  );
  t.pass('tax properties hold');
});
