import type { z } from 'zod';
import { invalid } from '../shared/errors.js';

/** Opaque keyset cursors: base64url JSON, so their form can change without clients noticing. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The cursor's content, or 422 on `field` when it is not exactly one this API issued. */
export function decodeCursor<T extends z.ZodType>(text: string, schema: T, field = 'cursor'): z.output<T> {
  const bad = () => invalid(field, 'not a cursor returned by this endpoint');
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(text)) throw bad();
  const bytes = Buffer.from(text, 'base64url');
  // Node's decoder skips what it cannot read; a cursor must round-trip exactly.
  if (bytes.toString('base64url') !== text) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad();
  }
  const cursor = schema.safeParse(parsed);
  if (!cursor.success) throw bad();
  return cursor.data;
}
