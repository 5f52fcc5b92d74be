import { z } from 'zod';

/**
 * Query rows parsed at the repository edge: each row is checked against the zod schema the repository
 * declares for its SELECT, so a column that is missing, renamed or of another type fails here — naming the
 * query — instead of travelling on as a wrong value (`pool.query<Row>` only asserts the type). Used on the
 * reads behind the API and the pages; the ingest hot path keeps its own typed rows.
 */
export function parseRows<S extends z.ZodType>(schema: S, rows: readonly unknown[], query: string): Array<z.output<S>> {
  const parsed = z.array(schema).safeParse(rows);
  // The issues name paths and expected types, never the values (rows may hold personal data).
  if (!parsed.success) throw new Error(`${query}: a row does not match its schema: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The first row parsed (see {@link parseRows}), or null when the query returned none. */
export function parseFirstRow<S extends z.ZodType>(schema: S, rows: readonly unknown[], query: string): z.output<S> | null {
  return rows.length === 0 ? null : (parseRows(schema, rows.slice(0, 1), query)[0] ?? null);
}
