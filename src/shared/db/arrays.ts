/**
 * PostgreSQL array literals for `unnest` parameters, built in one pass. pg's generic serialiser inspects and
 * escapes every element (the ingest profile's largest pg frames); these know their element types. Values
 * are the caller's (never SQL text): they travel as bind parameters and PostgreSQL parses the literal.
 */

/** Integers (numbers or bigints) and nulls as `{1,2,NULL}`. */
export function intArray(values: ReadonlyArray<number | bigint | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) out += ',';
    if (value === null || value === undefined) out += 'NULL';
    else if (typeof value === 'bigint' || Number.isSafeInteger(value)) out += String(value);
    else throw new RangeError(`not an integer: ${String(value)}`);
  }
  return `${out}}`;
}

const PLAIN = /^[A-Za-z0-9._/:*@+-]+$/;
const NEEDS_ESCAPE = /["\\]/g;
const UNQUOTED_NULL = /^null$/i;

/** Strings and nulls: plain words as they are, everything else double-quoted with `"` and `\` escaped. */
export function textArray(values: ReadonlyArray<string | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) out += ',';
    if (value === null || value === undefined) out += 'NULL';
    else if (PLAIN.test(value) && !UNQUOTED_NULL.test(value)) out += value;
    else out += `"${value.replace(NEEDS_ESCAPE, '\\$&')}"`;
  }
  return `${out}}`;
}
