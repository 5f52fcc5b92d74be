import t from 'tap';
import fc from 'fast-check';
import pg from 'pg';
import { intArray, textArray } from '../../src/shared/db/arrays.js';
import { createTestDatabase } from '../helpers/database.js';

// The ledger's array literals (src/shared/db/arrays.ts) must read back exactly what was meant, for any
// string PostgreSQL can store (no NUL) — quotes, backslashes, braces, commas, spaces, "NULL", unicode.
const url = await createTestDatabase(t);
const db = new pg.Client({ connectionString: url });
await db.connect();
t.teardown(() => db.end());

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', 'NULL', 'null', 'Null', '"', '\\', '{}', 'a,b', ' x ', 'navigation/suffix/*.amap.com', '2001:db8::1', 'LSVAU2180N2183294'),
).filter((s) => !s.includes('\u0000'));

t.test('textArray round-trips every string and null', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.option(text, { nil: null }), { maxLength: 30 }), async (values) => {
      const { rows } = await db.query<{ v: Array<string | null> }>('SELECT $1::text[] AS v', [textArray(values)]);
      t.same(rows[0]!.v, values);
    }),
    { numRuns: 300 },
  );
});

t.test('intArray round-trips int8 values, bigints beyond 2^53 included', async () => {
  const int8 = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.maxSafeInteger().map((n) => BigInt(n)));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.option(int8, { nil: null }), { maxLength: 30 }), async (values) => {
      const { rows } = await db.query<{ v: Array<string | null> }>('SELECT $1::int8[]::text[] AS v', [intArray(values)]);
      t.same(rows[0]!.v, values.map((v) => (v === null ? null : v.toString())));
    }),
    { numRuns: 200 },
  );
  t.throws(() => intArray([1.5]), RangeError, 'a fraction is refused');
  t.equal(intArray([]), '{}');
});
