import { z } from 'zod';
import type { PiiPurpose, PiiVault } from '../pii.js';
import { withTransaction, type Pool } from './pool.js';
import { parseRows } from './rows.js';

const BATCH = 500;
const CiphertextRowSchema = z.object({ key: z.string(), value: z.string() });

/**
 * Key rotation (PII_KEY_PREVIOUS → PII_KEY): re-encrypts one personal-data column of one table with the
 * current key, in batches of 500 rows skipped when locked; `rehash` names a lookup-hash column kept in step.
 * Each owner calls it for its own tables. Returns how many values moved.
 */
export async function reencryptColumn(
  pool: Pool,
  vault: PiiVault,
  target: { table: string; key: string; column: string; purpose: PiiPurpose; rehash?: string },
): Promise<number> {
  const { table, key, column, purpose, rehash } = target;
  let total = 0;
  for (;;) {
    const moved = await withTransaction(pool, async (client) => {
      const { rows: found } = await client.query(
        `SELECT ${key}::text AS key, ${column} AS value FROM ${table} WHERE ${column} IS NOT NULL AND ${column} NOT LIKE $1 LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
        [`pii1.${vault.keyId}.%`],
      );
      const rows = parseRows(CiphertextRowSchema, found, `${table}.${column}`);
      for (const row of rows) {
        const plaintext = vault.decrypt(row.value, purpose);
        const sets = rehash ? `${column} = $2, ${rehash} = $3` : `${column} = $2`;
        await client.query(`UPDATE ${table} SET ${sets} WHERE ${key} = $1`, [row.key, vault.encrypt(plaintext, purpose), ...(rehash ? [vault.lookupHash(plaintext)] : [])]);
      }
      return rows.length;
    });
    total += moved;
    if (moved < BATCH) return total;
  }
}
