/**
 * Exact decimal arithmetic for money (DESIGN 4.3): decimal strings in, bigint minor units out.
 * No floating point anywhere: every value is an integer `units` scaled by 10^-scale.
 */

/** A decimal number `units × 10^-scale`, e.g. "12.30" → { units: 1230n, scale: 2 }. */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

/** 1 GiB = 2^30 bytes (DESIGN 4, carrier convention). */
export const BYTES_PER_GIB = 1_073_741_824n;
/** 1 MiB = 2^20 bytes. */
export const BYTES_PER_MIB = 1_048_576n;

/** Default number of minor-unit digits (CNY fen, cents). */
const CENTS = 2;

const DECIMAL_PATTERN = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Is `text` a plain decimal string (`123`, `-0.05`, `4.0000`) with at most `maxScale` fraction digits?
 * No exponent, no leading `+`, no leading or trailing `.`, no whitespace.
 */
export function isDecimalString(text: string, maxScale = Number.POSITIVE_INFINITY): boolean {
  const match = DECIMAL_PATTERN.exec(text);
  return match !== null && (match[3]?.length ?? 0) <= maxScale;
}

/** Parses a plain decimal string exactly; throws RangeError naming the bad value. */
export function parseDecimal(text: string): Decimal {
  const match = DECIMAL_PATTERN.exec(text);
  if (match === null) throw new RangeError(`not a decimal string: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction = ''] = match;
  const magnitude = BigInt(`${whole}${fraction}`);
  return { units: sign === '-' ? -magnitude : magnitude, scale: fraction.length };
}

function pow10(exponent: number): bigint {
  return 10n ** BigInt(exponent);
}

/**
 * Divides and rounds half away from zero ("round half up" on magnitudes, the commercial rule):
 * 2.5 → 3, −2.5 → −3, 2.4999… → 2. Works for any signs; throws RangeError on a zero denominator.
 */
export function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator === 0n) throw new RangeError('roundHalfUp: denominator is zero');
  if (denominator < 0n) {
    numerator = -numerator;
    denominator = -denominator;
  }
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  // floor(|n| / d + 1/2) = floor((2|n| + d) / 2d)
  const rounded = (2n * magnitude + denominator) / (2n * denominator);
  return negative ? -rounded : rounded;
}

/**
 * Converts a decimal string to minor units (`"12.3"` → 1230n with 2 digits). Exact only: a value with
 * more fraction digits than `digits` throws RangeError (round explicitly with {@link roundHalfUp}).
 */
export function toMinor(text: string, digits = CENTS): bigint {
  const { units, scale } = parseDecimal(text);
  if (scale <= digits) return units * pow10(digits - scale);
  const divisor = pow10(scale - digits);
  if (units % divisor !== 0n) {
    throw new RangeError(`${JSON.stringify(text)} has more than ${digits} decimals`);
  }
  return units / divisor;
}

/** Formats minor units as a decimal string with exactly `digits` decimals: 1230n → "12.30", -5n → "-0.05". */
export function formatMinor(minor: bigint, digits = CENTS): string {
  const negative = minor < 0n;
  const magnitude = (negative ? -minor : minor).toString();
  if (digits === 0) return `${negative ? '-' : ''}${magnitude}`;
  const padded = magnitude.padStart(digits + 1, '0');
  const whole = padded.slice(0, padded.length - digits);
  const fraction = padded.slice(padded.length - digits);
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

/**
 * Amount of a usage line in minor units (DESIGN 4.3):
 * `round_half_up(bytes × pricePerGiB / 2^30, 2)`, applied to a line's summed bytes, never per record.
 */
export function lineAmountMinor(bytes: bigint, pricePerGiB: string): bigint {
  const price = parseDecimal(pricePerGiB);
  return roundHalfUp(bytes * price.units * pow10(CENTS), BYTES_PER_GIB * pow10(price.scale));
}

/** Tax of a line in minor units (DESIGN 4.3): `round_half_up(amount × taxRate, 2)`. */
export function taxMinor(amountMinor: bigint, taxRate: string): bigint {
  const rate = parseDecimal(taxRate);
  return roundHalfUp(amountMinor * rate.units, pow10(rate.scale));
}

/**
 * Tax-exclusive amount of a tax-inclusive price in minor units (DESIGN 6, e-invoice):
 * `round_half_up(retail / (1 + rate), 2)`; the invoice's tax is then `retail − amount`.
 */
export function netOfTaxMinor(retailMinor: bigint, taxRate: string): bigint {
  const rate = parseDecimal(taxRate);
  const one = pow10(rate.scale);
  if (one + rate.units === 0n) throw new RangeError(`netOfTaxMinor: tax rate ${taxRate} makes 1 + rate zero`);
  return roundHalfUp(retailMinor * one, one + rate.units);
}
