import { z } from 'zod';
import type { Clock } from '../shared/clock.js';
import { isUniqueViolation, type Pool, type PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import type { Merchant } from './schemas.js';
import { conflict } from '../shared/errors.js';

/** Merchants who sell IoT and vehicle cards (DESIGN 6): created by the admin, seller of their e-invoices. */

const MerchantRowSchema = z.object({ id: z.string(), name: z.string(), tax_id: z.string(), created_at: z.date() });
type MerchantRow = z.output<typeof MerchantRowSchema>;

const toMerchant = (row: MerchantRow): Merchant => ({ id: row.id, name: row.name, taxId: row.tax_id, createdAt: row.created_at.toISOString() });

export function createMerchantRepository(pool: Pool, clock: Clock) {
  return {
    async create(input: { id: string; name: string; taxId: string }): Promise<Merchant> {
      try {
        const { rows } = await pool.query('INSERT INTO merchants (id, name, tax_id, created_at) VALUES ($1, $2, $3, $4) RETURNING *', [
          input.id,
          input.name,
          input.taxId,
          new Date(clock.now()),
        ]);
        const created = parseFirstRow(MerchantRowSchema, rows, 'new merchant');
        if (!created) throw new Error(`merchant ${input.id}: INSERT … RETURNING returned no row`);
        return toMerchant(created);
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('DUPLICATE_MERCHANT', `merchant ${input.id} already exists`);
        throw error;
      }
    },

    async find(id: string, db: Pool | PoolClient = pool): Promise<Merchant | null> {
      const { rows } = await db.query('SELECT * FROM merchants WHERE id = $1', [id]);
      const row = parseFirstRow(MerchantRowSchema, rows, 'merchant');
      return row && toMerchant(row);
    },

    async list(): Promise<Merchant[]> {
      const { rows } = await pool.query('SELECT * FROM merchants ORDER BY id');
      return parseRows(MerchantRowSchema, rows, 'merchants').map(toMerchant);
    },
  };
}

export type MerchantRepository = ReturnType<typeof createMerchantRepository>;
