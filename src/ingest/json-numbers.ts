import { randomBytes } from 'node:crypto';

/**
 * JSON integer exactness.
 *
 * JSON.parse reads `1024.0` and `1.024e3` as 1024 and rounds integers beyond 2^53. Before parsing, one
 * scan finds number tokens (outside strings) with a `.`, `e`/`E` or more than 15 characters, and
 * rewrites each into a marker string holding the token's text, so the schema can tell `1.0` from `1`
 * and read long integers exactly with BigInt. Messages without such tokens (the common case) are
 * parsed as they are. The marker carries a per-process random nonce so that a device cannot forge one
 * with a `"\u0000…"` string; the nonce never appears in a message (see `showValue`).
 */

const MARKER_NONCE = randomBytes(8).toString('hex');
/** The marker as JSON.parse returns it (a real U+0000) … */
const MARKER = `\u0000num${MARKER_NONCE}:`;
/** … and as written into the JSON text (raw control characters are not allowed in JSON strings). */
const MARKER_JSON = `"\\u0000num${MARKER_NONCE}:`;

/** RFC 8259 section 6 number grammar; a rewritten token must match it, or the text was not JSON. */
const NUMBER_GRAMMAR = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
/** Every integer of up to 15 digits is exact as a double; a 16-character token may not be. */
const MAX_PLAIN_TOKEN_CHARS = 15;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const COLON = 0x3a;

/** Index just past the string whose opening quote is at `open` (text length if unterminated). */
function skipString(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const close = text.indexOf('"', from);
    if (close === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close + 1;
    from = close + 1;
  }
}

function isJsonWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * `text` with every inexact number token replaced by a marker string; the same string when there is
 * none. null when a rewritten token is not a JSON number or stands where a key belongs (the original
 * text is then not JSON, and must not become JSON by the rewrite).
 */
export function protectInexactNumbers(text: string): string | null {
  let rewritten: string | null = null;
  let copiedUpTo = 0;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = skipString(text, i);
      continue;
    }
    if (code !== MINUS && (code < ZERO || code > NINE)) {
      i++;
      continue;
    }
    let end = i + 1;
    let inexact = false;
    for (; end < length; end++) {
      const next = text.charCodeAt(end);
      if ((next >= ZERO && next <= NINE) || next === MINUS || next === PLUS) continue;
      if (next === DOT || next === LOWER_E || next === UPPER_E) {
        inexact = true;
        continue;
      }
      break;
    }
    if (inexact || end - i > MAX_PLAIN_TOKEN_CHARS) {
      const token = text.slice(i, end);
      if (!NUMBER_GRAMMAR.test(token)) return null;
      let after = end;
      while (after < length && isJsonWhitespace(text.charCodeAt(after))) after++;
      if (text.charCodeAt(after) === COLON) return null;
      rewritten = (rewritten ?? '') + text.slice(copiedUpTo, i) + MARKER_JSON + token + '"';
      copiedUpTo = end;
    }
    i = end;
  }
  return rewritten === null ? text : rewritten + text.slice(copiedUpTo);
}

export function isMarker(value: unknown): value is string {
  return typeof value === 'string' && value.charCodeAt(0) === 0 && value.startsWith(MARKER);
}

export type IntegerProblem = 'missing' | 'type' | 'fraction' | 'negative' | 'tooLarge';

/** A JSON integer in 0..max, exactly; or what is wrong with it. */
export function readInteger(input: unknown, max: bigint): bigint | IntegerProblem {
  if (typeof input === 'number') {
    // Without a marker the token had ≤ 15 characters and no fraction or exponent: exact.
    if (!Number.isInteger(input)) return 'fraction';
    if (input < 0) return 'negative';
    const value = BigInt(input); // -0 becomes 0n
    return value > max ? 'tooLarge' : value;
  }
  if (isMarker(input)) {
    const token = input.slice(MARKER.length);
    if (/[.eE]/.test(token)) return 'fraction';
    if (token.startsWith('-')) return 'negative';
    // no leading zeros (grammar), so more than 20 digits exceeds every limit: skip the BigInt work
    if (token.length > 20) return 'tooLarge';
    const value = BigInt(token);
    return value > max ? 'tooLarge' : value;
  }
  return input === undefined ? 'missing' : 'type';
}

/** A bad value for a message: short, and never the marker's nonce. */
export function showValue(value: unknown): string {
  if (isMarker(value)) return truncate(value.slice(MARKER.length));
  if (typeof value === 'string') return JSON.stringify(truncate(value));
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function integerMessage(problem: IntegerProblem, input: unknown, max: bigint): string {
  switch (problem) {
    case 'missing':
      return 'is required';
    case 'fraction':
      return `must be a JSON integer (no fraction or exponent), got ${showValue(input)}`;
    case 'tooLarge':
      return `must be at most ${max}, got ${showValue(input)}`;
    default:
      return `must be a non-negative integer, got ${showValue(input)}`;
  }
}

