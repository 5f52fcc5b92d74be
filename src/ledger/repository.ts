import { intArray, textArray } from '../shared/db/arrays.js';
import { sendAll, type Pool, type PoolClient } from '../shared/db/pool.js';
import type { FundingState, PackInstance } from '../allocate/index.js';
import { capKey } from '../allocate/index.js';
import { loadPacks, savePackBalances } from '../vehicles/packs-repository.js';
import { recordKey, type AllocationRow, type LedgerRecord, type StoredRecord } from './records.js';

/**
 * The ledger's SQL (DESIGN 7): every statement takes whole arrays (`unnest`), so a micro-batch of
 * thousands of records costs a handful of round trips in one transaction. Int8 values travel as
 * strings and come back as bigint; months and days are `date` values of the billing timezone.
 */

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

/** Cap use for the months touched and every pack with balance left (src/vehicles), per vehicle (read under the lock). */
export async function loadFunding(client: PoolClient, vins: readonly string[], months: readonly string[]): Promise<Map<string, FundingState>> {
  const [caps, packs] = await sendAll(client, [
    () =>
      client.query<{ vin: string; sponsorship_id: string; month: string; bytes: string }>(
        `SELECT vin, sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes FROM cap_usage
          WHERE vin = ANY($1::text[]) AND month = ANY($2::date[])`,
        [vins, months.map((m) => `${m}-01`)],
      ),
    () => loadPacks(client, vins),
  ]);
  const state = new Map<string, { capUsedBytes: Map<string, bigint>; packs: PackInstance[] }>();
  const of = (vin: string) => {
    let s = state.get(vin);
    if (!s) state.set(vin, (s = { capUsedBytes: new Map(), packs: [] }));
    return s;
  };
  for (const vin of vins) of(vin);
  for (const row of caps.rows) of(row.vin).capUsedBytes.set(capKey(row.sponsorship_id, row.month), BigInt(row.bytes));
  for (const { vin, ...pack } of packs) of(vin).packs.push(pack);
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
  if (packs.length > 0) steps.push(() => savePackBalances(client, packs));
  await sendAll(client, steps);
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


/** A capped sponsorship's month (DESIGN 4.2): vehicles that used it, at or near the cap, and the bytes used. */
export async function capUseSummary(pool: Pick<Pool, 'query'>, sponsorshipId: string, month: string, capBytes: bigint, nearBytes: bigint): Promise<{ vehicles: bigint; atCap: bigint; nearCap: bigint; usedBytes: bigint }> {
  const { rows } = await pool.query<{ vehicles: string; at_cap: string; near_cap: string; used: string }>(
    `SELECT count(*)::text AS vehicles,
            count(*) FILTER (WHERE bytes >= $3::bigint)::text AS at_cap,
            count(*) FILTER (WHERE bytes >= $4::bigint AND bytes < $3::bigint)::text AS near_cap,
            coalesce(sum(bytes), 0)::text AS used
       FROM cap_usage WHERE sponsorship_id = $1 AND month = $2::date`,
    [sponsorshipId, `${month}-01`, capBytes.toString(), nearBytes.toString()],
  );
  // An aggregate without GROUP BY always returns its one row.
  const row = rows[0] ?? { vehicles: '0', at_cap: '0', near_cap: '0', used: '0' };
  return { vehicles: BigInt(row.vehicles), atCap: BigInt(row.at_cap), nearCap: BigInt(row.near_cap), usedBytes: BigInt(row.used) };
}

/** Has any vehicle used this sponsorship's cap (the catalog may then not remove it)? */
export async function sponsorshipReferenced(pool: Pick<Pool, 'query'>, sponsorshipId: string): Promise<boolean> {
  return (await pool.query('SELECT 1 FROM cap_usage WHERE sponsorship_id = $1 LIMIT 1', [sponsorshipId])).rows.length > 0;
}

/** Does the ledger hold any usage record (the catalog's timezone and currency are then fixed)? */
export async function ledgerHasRecords(pool: Pick<Pool, 'query'>): Promise<boolean> {
  return (await pool.query<{ yes: boolean }>('SELECT EXISTS (SELECT 1 FROM usage_records) AS yes')).rows[0]?.yes === true;
}

/**
 * Cap use of several capped sponsorships in one month, one query (the usage alerts, src/alerts): per
 * sponsorship the vehicles with a counter, those at or over `capBytes`, and the bytes counted. A sponsorship
 * nobody used has no entry.
 */
export async function capUseBySponsorship(
  db: Pick<Pool | PoolClient, 'query'>,
  month: string,
  caps: ReadonlyArray<{ sponsorshipId: string; capBytes: bigint }>,
): Promise<Map<string, { vehicles: bigint; atCap: bigint; usedBytes: bigint }>> {
  const result = new Map<string, { vehicles: bigint; atCap: bigint; usedBytes: bigint }>();
  if (caps.length === 0) return result;
  const { rows } = await db.query<{ sponsorship_id: string; vehicles: string; at_cap: string; used: string }>(
    `SELECT c.sponsorship_id, count(*)::text AS vehicles, count(*) FILTER (WHERE c.bytes >= q.cap)::text AS at_cap, sum(c.bytes)::text AS used
       FROM unnest($2::text[], $3::bigint[]) AS q(sid, cap)
       JOIN cap_usage c ON c.sponsorship_id = q.sid AND c.month = $1::date
      GROUP BY c.sponsorship_id`,
    [`${month}-01`, caps.map((c) => c.sponsorshipId), caps.map((c) => c.capBytes.toString())],
  );
  for (const row of rows) result.set(row.sponsorship_id, { vehicles: BigInt(row.vehicles), atCap: BigInt(row.at_cap), usedBytes: BigInt(row.used) });
  return result;
}
