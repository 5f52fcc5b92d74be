import type { Clock } from '../shared/clock.js';
import { isUniqueViolation, type Pool, type PoolClient } from '../shared/db/pool.js';
import { conflict } from '../shared/errors.js';

/** Merchants who sell IoT and vehicle cards (DESIGN 6): created by the admin, seller of their e-invoices. */

export interface Merchant {
  id: string;
  name: string;
  /** unified social credit code (GB 32100): the seller's tax id on e-invoices */
  taxId: string;
  createdAt: string;
}

interface MerchantRow {
  id: string;
  name: string;
  tax_id: string;
  created_at: Date;
}

const toMerchant = (row: MerchantRow): Merchant => ({ id: row.id, name: row.name, taxId: row.tax_id, createdAt: row.created_at.toISOString() });

export function createMerchantRepository(pool: Pool, clock: Clock) {
  return {
    async create(input: { id: string; name: string; taxId: string }): Promise<Merchant> {
      try {
        const { rows } = await pool.query<MerchantRow>('INSERT INTO merchants (id, name, tax_id, created_at) VALUES ($1, $2, $3, $4) RETURNING *', [
          input.id,
          input.name,
          input.taxId,
          new Date(clock.now()),
        ]);
        return toMerchant(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('DUPLICATE_MERCHANT', `merchant ${input.id} already exists`);
        throw error;
      }
    },

    async find(id: string, db: Pool | PoolClient = pool): Promise<Merchant | null> {
      const { rows } = await db.query<MerchantRow>('SELECT * FROM merchants WHERE id = $1', [id]);
      return rows[0] ? toMerchant(rows[0]) : null;
    },

    async list(): Promise<Merchant[]> {
      const { rows } = await pool.query<MerchantRow>('SELECT * FROM merchants ORDER BY id');
      return rows.map(toMerchant);
    },
  };
}

export type MerchantRepository = ReturnType<typeof createMerchantRepository>;
