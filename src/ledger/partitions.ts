import { pgErrorField, type Pool } from '../shared/db/pool.js';
import { nextMonth } from '../shared/time.js';

/**
 * The monthly partitions of `allocations` (DESIGN 7: partitioned by month, created on demand). The batch
 * writer asks which months it lacks before inserting allocations; they are then created outside the batch
 * transaction (DDL takes locks a hot transaction should not) and the batch is written again. So only a
 * month that allocations are really written to gets a partition: never one named by a rejected record.
 */
export function createAllocationPartitions(pool: Pool) {
  const known = new Set<string>();
  return {
    /** The months of `months` not known to have a partition (no I/O). */
    missing(months: Iterable<string>): string[] {
      return [...new Set(months)].filter((month) => !known.has(month));
    },
    /** Creates them; safe when several workers race (an existing partition is fine). */
    async create(months: readonly string[]): Promise<void> {
      for (const month of months) {
        if (known.has(month)) continue;
        // nextMonth refuses anything but "YYYY-MM": the name and bounds below are built from checked text only.
        const next = nextMonth(month);
        const name = `allocations_${month.replace('-', '_')}`;
        try {
          await pool.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF allocations FOR VALUES FROM ('${month}-01') TO ('${next}-01')`);
        } catch (error) {
          // 42P07 duplicate_table: another worker created it between our check and our CREATE
          if (pgErrorField(error, 'code') !== '42P07') throw error;
        }
        known.add(month);
      }
    },
  };
}

export type AllocationPartitions = ReturnType<typeof createAllocationPartitions>;

/** Thrown inside a batch transaction that needs partitions not yet created; the writer creates them and retries. */
export class MissingPartitionsError extends Error {
  constructor(readonly months: readonly string[]) {
    super(`allocation partitions missing: ${months.join(', ')}`);
    this.name = 'MissingPartitionsError';
  }
}
