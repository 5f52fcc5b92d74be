import { BYTES_PER_GIB } from '../shared/money.js';
import { formatInstant, parseOffsetTimestamp } from '../shared/time.js';

/**
 * Numbers for people (DESIGN 4): bytes as GB of 1,073,741,824 bytes, money as the exact decimal string with
 * 2 decimals and the currency code. Pure string and bigint arithmetic: no float touches a displayed figure.
 */

/** "1234567" → "1,234,567"; keeps a leading minus. */
export function groupDigits(integer: string): string {
  const negative = integer.startsWith('-');
  const digits = negative ? integer.slice(1) : integer;
  return (negative ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Exact byte count with thousands separators. */
export function formatBytesExact(bytes: bigint | number): string {
  return groupDigits(BigInt(bytes).toString());
}

/**
 * GB with 3 decimals, truncated toward zero — the same figure the printable invoice shows, so a finance
 * user comparing the two never sees them differ in the last digit (the exact byte count is always beside it).
 */
export function formatGb(bytes: bigint | number): string {
  const value = BigInt(bytes);
  const magnitude = value < 0n ? -value : value;
  const whole = magnitude / BYTES_PER_GIB;
  const milli = ((magnitude % BYTES_PER_GIB) * 1000n) / BYTES_PER_GIB;
  return `${value < 0n ? '-' : ''}${groupDigits(whole.toString())}.${milli.toString().padStart(3, '0')}`;
}

/** "1234.5" / "1234.50" → "CNY 1,234.50": a decimal string as given, grouped, always 2 decimals. */
export function formatMoney(amount: string, currency: string): string {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(amount);
  if (!match) throw new RangeError(`not a money amount with at most 2 decimals: ${JSON.stringify(amount)}`);
  const [, sign, whole, fraction = ''] = match;
  return `${currency} ${sign}${groupDigits(whole!)}.${fraction.padEnd(2, '0')}`;
}

/** `part / whole` as a percentage with one decimal, half up, exact: "93.7 %"; "—" when whole is 0. */
export function formatPercent(part: bigint, whole: bigint): string {
  if (whole <= 0n) return '—';
  const tenths = (part * 2000n + whole) / (2n * whole);
  return `${tenths / 10n}.${tenths % 10n} %`;
}

/** A unit price as the catalog wrote it (2–4 decimals): "0.0125" → "CNY 0.0125", never rounded. */
export function formatPrice(price: string, currency: string): string {
  const match = /^(\d+)\.(\d{2,4})$/.exec(price);
  if (!match) throw new RangeError(`not a catalog price: ${JSON.stringify(price)}`);
  return `${currency} ${groupDigits(match[1]!)}.${match[2]}`;
}

/** A tax rate as a decimal fraction, shown as a percentage without rounding: "0.06" → "6 %", "0.065" → "6.5 %". */
export function formatRate(rate: string): string {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(rate);
  if (!match) throw new RangeError(`not a rate: ${JSON.stringify(rate)}`);
  const fraction = (match[2] ?? '').padEnd(2, '0');
  const whole = `${match[1]}${fraction.slice(0, 2)}`.replace(/^0+(?=\d)/, '');
  const rest = fraction.slice(2).replace(/0+$/, '');
  return `${whole}${rest ? `.${rest}` : ''} %`;
}

/**
 * An RFC 3339 instant as the API gives it, to the minute for people, in `timeZone` when given (the billing
 * timezone: the API writes some instants in UTC): "2026-11-03T00:16:02.120Z" → "2026-11-03 08:16 +08:00".
 */
export function formatWhen(instant: string, timeZone?: string): string {
  const ms = timeZone ? parseOffsetTimestamp(instant) : null;
  const text = ms === null ? instant : formatInstant(ms, timeZone!);
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):\d{2}(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  return match ? `${match[1]} ${match[2]} ${match[3] === 'Z' ? 'UTC' : match[3]}` : instant;
}
