import { createHash } from 'node:crypto';
import { intArray, textArray } from '../shared/db/arrays.js';
import { pgErrorField, sendAll, type Pool, type PoolClient } from '../shared/db/pool.js';
import { nextMonth } from '../shared/time.js';
import type { FundingState, PackInstance } from '../allocate/index.js';
import { capKey } from '../allocate/index.js';

/**
 * The ledger's SQL (DESIGN 7): every statement takes whole arrays (`unnest`), so a micro-batch of
 * thousands of records costs a handful of round trips in one transaction. Int8 values travel as
 * strings and come back as bigint; months and days are `date` values of the billing timezone.
 */

/** A usage record's own fields, as normalised at parse time (DESIGN 3.2's comparison basis). */
export interface RecordFields {
  seq: number;
  startMs: number;
  endMs: number;
  up: bigint;
  down: bigint;
  host: string | null;
  ip: string | null;
  port: number | null;
  proto: string | null;
  iface: string;
  pkg: string | null;
}

/** A record to insert: its fields (by reference, not copied) and what receipt and classification added. */
export interface LedgerRecord {
  vin: string;
  epoch: string;
  record: RecordFields;
  app: string;
  ruleId: string;
  /** `catalog_versions.id` */
  catalogVersionId: number;
  batch: number;
  receivedAtMs: number;
}

export const recordKey = (vin: string, epoch: string, seq: number) => `${vin}\u0000${epoch}\u0000${seq}`;

/** An instant sent as epoch milliseconds (int8), cheaper to serialise than a Date; exact. */
const FROM_MS = (param: string) => `(timestamptz 'epoch' + ${param} * interval '1 millisecond')`;

/**
 * INSERT … ON CONFLICT DO NOTHING; returns how many rows were inserted. No RETURNING: sending the keys back
 * costs 20–30 % of the insert's throughput (bench/README.md, the layout experiment), and in the common case
 * every record is new, which the count alone says. When it falls short, `findRecords` tells which rows this
 * transaction wrote.
 */
export async function insertRecords(client: PoolClient, records: readonly LedgerRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  const col = <T>(f: (r: LedgerRecord) => T) => records.map(f);
  const { rowCount } = await client.query(
    `INSERT INTO usage_records (vin, epoch, seq, start_at, end_at, up, down, host, ip, port, proto, iface, pkg, app, rule_id, catalog_version_id, batch, received_at)
     SELECT vin, epoch, seq, ${FROM_MS('s')}, ${FROM_MS('e')}, up, down, host, ip, port, proto, iface, pkg, app, rule, $16, batch, ${FROM_MS('r')}
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[],
                   $10::int[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $17::bigint[], $18::bigint[])
         AS u(vin, epoch, seq, s, e, up, down, host, ip, port, proto, iface, pkg, app, rule, r, batch)
     ON CONFLICT (vin, epoch, seq) DO NOTHING`,
    [
      textArray(col((r) => r.vin)),
      textArray(col((r) => r.epoch)),
      intArray(col((r) => r.record.seq)),
      intArray(col((r) => r.record.startMs)),
      intArray(col((r) => r.record.endMs)),
      intArray(col((r) => r.record.up)),
      intArray(col((r) => r.record.down)),
      textArray(col((r) => r.record.host)),
      textArray(col((r) => r.record.ip)),
      intArray(col((r) => r.record.port)),
      textArray(col((r) => r.record.proto)),
      textArray(col((r) => r.record.iface)),
      textArray(col((r) => r.record.pkg)),
      textArray(col((r) => r.app)),
      textArray(col((r) => r.ruleId)),
      sameFor(records, (r) => r.catalogVersionId),
      intArray(col((r) => r.receivedAtMs)),
      intArray(col((r) => r.batch)),
    ],
  );
  return rowCount ?? 0;
}

/** The one value every row has (a batch's catalog version), sent once instead of per row. */
function sameFor<R, T>(rows: readonly R[], f: (r: R) => T): T {
  const value = f(rows[0]!);
  if (rows.some((r) => f(r) !== value)) throw new Error('rows of one statement differ where they must agree');
  return value;
}

/**
 * A record as stored, without what classification and receipt added: the duplicate comparison's input.
 * `ours`: written by the calling transaction (its xmin is this transaction's id), not by an earlier one.
 */
export type StoredRecord = RecordFields & { vin: string; epoch: string; ours: boolean };

/** The stored versions of the given keys, for the duplicate / SEQ_CONFLICT comparison (DESIGN 3.2). */
export async function findRecords(client: PoolClient | Pool, keys: ReadonlyArray<{ vin: string; epoch: string; record: { seq: number } }>): Promise<Map<string, StoredRecord>> {
  if (keys.length === 0) return new Map();
  const { rows } = await client.query(
    `SELECT u.vin, u.epoch, u.seq, u.start_at, u.end_at, u.up, u.down, u.host, u.ip, u.port, u.proto, u.iface, u.pkg,
            coalesce(u.xmin::text::bigint = pg_current_xact_id_if_assigned()::text::bigint % 4294967296, false) AS ours
       FROM usage_records u JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(vin, epoch, seq)
         ON u.vin = k.vin AND u.epoch = k.epoch AND u.seq = k.seq`,
    [keys.map((k) => k.vin), keys.map((k) => k.epoch), keys.map((k) => k.record.seq)],
  );
  return new Map(
    rows.map((r) => [
      recordKey(r.vin, r.epoch, Number(r.seq)),
      {
        vin: r.vin,
        epoch: r.epoch,
        seq: Number(r.seq),
        startMs: (r.start_at as Date).getTime(),
        endMs: (r.end_at as Date).getTime(),
        up: BigInt(r.up),
        down: BigInt(r.down),
        host: r.host,
        ip: r.ip,
        port: r.port,
        proto: r.proto,
        iface: r.iface,
        pkg: r.pkg,
        ours: r.ours,
      },
    ]),
  );
}

export interface VehicleForIngest {
  vin: string;
  automaker: string;
  model: string;
  activatedAtMs: number | null;
}

/** Locks the vehicles' rows in VIN order (DESIGN 2: allocation is serial per vehicle; no deadlocks). */
export async function lockVehicles(client: PoolClient, vins: readonly string[]): Promise<Map<string, VehicleForIngest>> {
  const { rows } = await client.query(
    'SELECT vin, automaker, model, activated_at FROM vehicles WHERE vin = ANY($1::text[]) ORDER BY vin FOR NO KEY UPDATE',
    [vins],
  );
  return new Map(rows.map((r) => [r.vin as string, { vin: r.vin, automaker: r.automaker, model: r.model, activatedAtMs: r.activated_at ? (r.activated_at as Date).getTime() : null }]));
}

/** Cap use for the months touched and every pack with balance left, per vehicle (read under the lock). */
export async function loadFunding(client: PoolClient, vins: readonly string[], months: readonly string[]): Promise<Map<string, FundingState>> {
  const [caps, packs] = await sendAll(client, [
    () =>
      client.query<{ vin: string; sponsorship_id: string; month: string; bytes: string }>(
        `SELECT vin, sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes FROM cap_usage
          WHERE vin = ANY($1::text[]) AND month = ANY($2::date[])`,
        [vins, months.map((m) => `${m}-01`)],
      ),
    () =>
      client.query<{ id: string; vin: string; pack_id: string; purchased_at: Date; expires_at: Date; balance_bytes: string }>(
        `SELECT id, vin, pack_id, purchased_at, expires_at, balance_bytes FROM pack_instances
          WHERE vin = ANY($1::text[]) AND balance_bytes > 0 ORDER BY id`,
        [vins],
      ),
  ]);
  const state = new Map<string, { capUsedBytes: Map<string, bigint>; packs: PackInstance[] }>();
  const of = (vin: string) => {
    let s = state.get(vin);
    if (!s) state.set(vin, (s = { capUsedBytes: new Map(), packs: [] }));
    return s;
  };
  for (const vin of vins) of(vin);
  for (const row of caps.rows) of(row.vin).capUsedBytes.set(capKey(row.sponsorship_id, row.month), BigInt(row.bytes));
  for (const row of packs.rows) {
    of(row.vin).packs.push({
      id: row.id,
      packId: row.pack_id,
      purchasedAtMs: row.purchased_at.getTime(),
      expiresAtMs: row.expires_at.getTime(),
      balanceBytes: BigInt(row.balance_bytes),
      createdSeq: Number(row.id),
    });
  }
  return state;
}

/** Writes the counters' new absolute values (read under the vehicle lock in this transaction). */
export async function saveFunding(
  client: PoolClient,
  caps: ReadonlyArray<{ vin: string; sponsorshipId: string; month: string; bytes: bigint }>,
  packs: ReadonlyArray<{ id: string; balanceBytes: bigint }>,
): Promise<void> {
  const steps: Array<() => Promise<unknown>> = [];
  if (caps.length > 0) {
    steps.push(() =>
      client.query(
        `INSERT INTO cap_usage (vin, sponsorship_id, month, bytes)
         SELECT vin, sid, (m || '-01')::date, b FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(vin, sid, m, b)
         ON CONFLICT (vin, sponsorship_id, month) DO UPDATE SET bytes = EXCLUDED.bytes`,
        [caps.map((c) => c.vin), caps.map((c) => c.sponsorshipId), caps.map((c) => c.month), caps.map((c) => c.bytes.toString())],
      ),
    );
  }
  if (packs.length > 0) {
    steps.push(() =>
      client.query(
        `UPDATE pack_instances p SET balance_bytes = u.balance
           FROM unnest($1::bigint[], $2::bigint[]) AS u(id, balance) WHERE p.id = u.id`,
        [packs.map((p) => p.id), packs.map((p) => p.balanceBytes.toString())],
      ),
    );
  }
  await sendAll(client, steps);
}

export interface AllocationRow {
  month: string;
  day: string;
  vin: string;
  epoch: string;
  seq: number;
  part: number;
  startMs: number;
  app: string;
  payer: string;
  kind: string;
  sponsorshipId: string | null;
  packInstanceId: string | null;
  bytes: bigint;
  pricePerGiB: string | null;
}

export async function insertAllocations(client: PoolClient, rows: readonly AllocationRow[], committedAtMs: number): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (r: AllocationRow) => T) => rows.map(f);
  await client.query(
    `INSERT INTO allocations (usage_month, usage_day, vin, epoch, seq, part, start_at, app, payer, kind, sponsorship_id, pack_instance_id, bytes, price_per_gib, committed_at)
     SELECT (m || '-01')::date, d::date, vin, epoch, seq, part, ${FROM_MS('s')}, app, payer, kind, sid, pid, bytes, price, $15
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::smallint[], $7::bigint[], $8::text[], $9::text[], $10::text[],
                   $11::text[], $12::bigint[], $13::bigint[], $14::numeric[])
         AS u(m, d, vin, epoch, seq, part, s, app, payer, kind, sid, pid, bytes, price)`,
    [
      textArray(col((r) => r.month)),
      textArray(col((r) => r.day)),
      textArray(col((r) => r.vin)),
      textArray(col((r) => r.epoch)),
      intArray(col((r) => r.seq)),
      intArray(col((r) => r.part)),
      intArray(col((r) => r.startMs)),
      textArray(col((r) => r.app)),
      textArray(col((r) => r.payer)),
      textArray(col((r) => r.kind)),
      textArray(col((r) => r.sponsorshipId)),
      textArray(col((r) => r.packInstanceId)),
      intArray(col((r) => r.bytes)),
      textArray(col((r) => r.pricePerGiB)),
      new Date(committedAtMs),
    ],
  );
}

/**
 * Adds the batch's sponsor bytes to the rollups the usage API reads (DESIGN 5). Keys are summed in memory
 * first and written in sorted order, so concurrent batches lock rollup rows in the same order.
 */
export async function addToRollups(client: PoolClient, rows: readonly AllocationRow[]): Promise<void> {
  const billable: RollupEntry[] = [];
  for (const row of rows) if (row.kind === 'sponsored' || row.kind === 'overage') billable.push({ row, bytes: row.bytes });
  if (billable.length === 0) return;
  const sep = '\u0000';
  const byVehicle = totals(billable, (r) => r.payer + sep + r.month + sep + r.vin + sep + r.app + sep + r.kind + sep + r.pricePerGiB);
  const byMonth = totals(byVehicle, (r) => r.payer + sep + r.month + sep + r.app + sep + r.kind + sep + r.pricePerGiB);
  const byDay = totals(billable, (r) => r.payer + sep + r.day + sep + r.app + sep + r.kind + sep + r.pricePerGiB);
  const columns = (entries: readonly RollupEntry[], fields: ReadonlyArray<(r: AllocationRow) => string | null>) => [
    ...fields.map((field) => entries.map((e) => field(e.row))),
    entries.map((e) => e.bytes.toString()),
  ];
  const payer = (r: AllocationRow) => r.payer;
  const month = (r: AllocationRow) => r.month;
  const app = (r: AllocationRow) => r.app;
  const kind = (r: AllocationRow) => r.kind;
  const price = (r: AllocationRow) => r.pricePerGiB;
  await sendAll(client, [
    () =>
      client.query(
        `INSERT INTO rollup_app_month (sponsor, usage_month, app, kind, price_per_gib, bytes)
         SELECT s, (m || '-01')::date, a, k, p, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[]) AS u(s, m, a, k, p, b)
         ON CONFLICT (sponsor, usage_month, app, kind, price_per_gib) DO UPDATE SET bytes = rollup_app_month.bytes + EXCLUDED.bytes`,
        columns(byMonth, [payer, month, app, kind, price]),
      ),
    () =>
      client.query(
        `INSERT INTO rollup_app_day (sponsor, usage_day, app, kind, price_per_gib, bytes)
         SELECT s, d::date, a, k, p, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[]) AS u(s, d, a, k, p, b)
         ON CONFLICT (sponsor, usage_day, app, kind, price_per_gib) DO UPDATE SET bytes = rollup_app_day.bytes + EXCLUDED.bytes`,
        columns(byDay, [payer, (r) => r.day, app, kind, price]),
      ),
    () =>
      client.query(
        `INSERT INTO rollup_vehicle_month (sponsor, usage_month, vin, app, kind, price_per_gib, bytes)
         SELECT s, (m || '-01')::date, v, a, k, p, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::bigint[]) AS u(s, m, v, a, k, p, b)
         ON CONFLICT (sponsor, usage_month, vin, app, kind, price_per_gib) DO UPDATE SET bytes = rollup_vehicle_month.bytes + EXCLUDED.bytes`,
        columns(byVehicle, [payer, month, (r) => r.vin, app, kind, price]),
      ),
  ]);
}

interface RollupEntry {
  /** a row of the group, for its key fields */
  row: AllocationRow;
  bytes: bigint;
}

/** Bytes summed per key, in key order (concurrent batches then lock rollup rows in the same order). */
function totals(entries: readonly RollupEntry[], key: (row: AllocationRow) => string): RollupEntry[] {
  const groups = new Map<string, RollupEntry>();
  for (const entry of entries) {
    const k = key(entry.row);
    const group = groups.get(k);
    if (group) group.bytes += entry.bytes;
    else groups.set(k, { row: entry.row, bytes: entry.bytes });
  }
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, group]) => group);
}

export interface DeadLetter {
  vin: string | null;
  topic: string;
  code: string;
  reason: string;
  recordIndex: number | null;
  seq: number | null;
  payload: Buffer;
  receivedAtMs: number;
}

/** DESIGN 3.1: every rejection is stored with its payload, up to 64 KiB. */
export const DEAD_LETTER_PAYLOAD_BYTES = 65_536;

/**
 * Stores rejections; each distinct payload once (the records of one message share it, and a resent
 * message has the same bytes), keyed by the SHA-256 of the stored bytes.
 */
export async function insertDeadLetters(client: PoolClient | Pool, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const digests = new Map<Buffer, Buffer>(); // payload object → digest: records of one message share the Buffer
  const payloads = new Map<string, { sha: Buffer; stored: Buffer; receivedAt: Date }>();
  const shas = letters.map((letter) => {
    let sha = digests.get(letter.payload);
    if (!sha) {
      const stored = letter.payload.subarray(0, DEAD_LETTER_PAYLOAD_BYTES);
      sha = createHash('sha256').update(stored).digest();
      digests.set(letter.payload, sha);
      const key = sha.toString('hex');
      if (!payloads.has(key)) payloads.set(key, { sha, stored, receivedAt: new Date(letter.receivedAtMs) });
    }
    return sha;
  });
  // In digest order: concurrent writers inserting the same payloads wait for each other, never deadlock.
  const unique = [...payloads.values()].sort((a, b) => Buffer.compare(a.sha, b.sha));
  const col = <T>(f: (r: DeadLetter) => T) => letters.map(f);
  await client.query(
    `WITH stored AS (
       INSERT INTO dead_letter_payloads (sha256, payload, first_received_at)
       SELECT * FROM unnest($9::bytea[], $10::bytea[], $11::timestamptz[]) ON CONFLICT DO NOTHING
     )
     INSERT INTO dead_letters (vin, topic, code, reason, record_index, seq, payload_sha256, received_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bytea[], $8::timestamptz[])`,
    [
      col((d) => d.vin),
      col((d) => d.topic),
      col((d) => d.code),
      col((d) => d.reason),
      col((d) => d.recordIndex),
      col((d) => d.seq),
      shas,
      col((d) => new Date(d.receivedAtMs)),
      unique.map((p) => p.sha),
      unique.map((p) => p.stored),
      unique.map((p) => p.receivedAt),
    ],
  );
}

/**
 * Deletes the dead letters received before `beforeMs` and the payloads no letter points at any more, in
 * chunks so that a long backlog never holds one long transaction. Returns the letters deleted.
 */
export async function deleteDeadLettersBefore(pool: Pool, beforeMs: number, chunk = 10_000): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE received_at < $1 ORDER BY received_at LIMIT $2)',
      [new Date(beforeMs), chunk],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < chunk) break;
  }
  await pool.query(
    `DELETE FROM dead_letter_payloads p WHERE p.first_received_at < $1
       AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.payload_sha256 = p.sha256)`,
    [new Date(beforeMs)],
  );
  return deleted;
}

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
