import type pg from 'pg';
import type { Test } from 'tap';

export interface FleetTotals {
  /** records the fleet had acked */
  records: number;
  /** `${vin}/${seq}` of every acked record */
  keys: ReadonlySet<string>;
  /** Σ(up + down) the fleet sent */
  bytes: bigint;
}

/**
 * The exactly-once checks of DESIGN 7 against what a fleet sent: every acked record exactly once, bytes equal
 * to the byte in records and allocations, every record fully allocated and no orphan allocation, counters and
 * rollups equal to the allocations, and no dead letter (every message of these fleets is valid).
 */
export async function checkLedgerAgainstFleet(t: Test, db: pg.Client, expected: FleetTotals): Promise<void> {
  const records = await db.query<{ vin: string; seq: string }>('SELECT vin, seq FROM usage_records');
  t.equal(records.rows.length, expected.records, 'as many usage records as the fleet sent (none lost, none twice)');
  const stored = new Set(records.rows.map((r) => `${r.vin}/${r.seq}`));
  t.equal(stored.size, expected.keys.size, 'no (vin, seq) twice');
  t.ok([...expected.keys].every((key) => stored.has(key)), 'every acked record is in the ledger');
  const totals = await db.query<{ records: string; allocations: string }>(
    'SELECT (SELECT sum(up + down) FROM usage_records)::text AS records, (SELECT sum(bytes) FROM allocations)::text AS allocations',
  );
  t.same(totals.rows[0], { records: expected.bytes.toString(), allocations: expected.bytes.toString() }, 'Σ(up + down) and Σ allocations equal what the fleet sent, byte for byte');
  const unbalanced = await db.query(
    `SELECT u.vin, u.seq, u.up + u.down AS bytes, a.allocated FROM usage_records u
       LEFT JOIN (SELECT vin, epoch, seq, sum(bytes) AS allocated FROM allocations GROUP BY vin, epoch, seq) a USING (vin, epoch, seq)
      WHERE u.up + u.down > 0 AND a.allocated IS DISTINCT FROM u.up + u.down`,
  );
  t.same(unbalanced.rows, [], "no record without its allocations; each record's allocations sum to its bytes");
  const orphans = await db.query('SELECT count(*)::int AS n FROM allocations a WHERE NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.vin = a.vin AND u.epoch = a.epoch AND u.seq = a.seq)');
  t.equal(orphans.rows[0].n, 0, 'no allocation without its record');
  const counters = await db.query(
    `SELECT c.vin, c.sponsorship_id, c.bytes, a.bytes AS allocated FROM cap_usage c
       FULL JOIN (SELECT vin, sponsorship_id, usage_month, sum(bytes) AS bytes FROM allocations WHERE kind = 'sponsored' GROUP BY 1, 2, 3) a
         ON a.vin = c.vin AND a.sponsorship_id = c.sponsorship_id AND a.usage_month = c.month
      WHERE c.bytes IS DISTINCT FROM a.bytes`,
  );
  t.same(counters.rows, [], 'cap counters equal the sponsored allocations');
  const rollups = await db.query(
    `SELECT r.sponsor, r.app, r.kind, r.bytes AS rollup, a.bytes AS allocations
       FROM rollup_app_month r FULL JOIN (SELECT payer, usage_month, app, kind, price_per_gib, sum(bytes) AS bytes FROM allocations WHERE kind IN ('sponsored', 'overage') GROUP BY 1, 2, 3, 4, 5) a
         ON a.payer = r.sponsor AND a.usage_month = r.usage_month AND a.app = r.app AND a.kind = r.kind AND a.price_per_gib = r.price_per_gib
      WHERE r.bytes IS DISTINCT FROM a.bytes`,
  );
  t.same(rollups.rows, [], 'rollups equal the allocations');
  const dead = await db.query('SELECT code, count(*)::int AS n FROM dead_letters GROUP BY code');
  t.same(dead.rows, [], 'no dead letters (no INTERNAL_ERROR either): faults never turn a valid message into a rejection');
}
