import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * PostgreSQL alone, for the raw limit beside the end-to-end figure: the ledger rows the service just
 * committed (usage_records and their allocations) are read back and bulk-loaded into scratch copies of the
 * two tables (same columns, checks, keys, indexes and partitioning), in transactions of the service's batch
 * size, on one connection, as the service's single batch writer does.
 *
 * Two methods on the same rows: `COPY … FROM STDIN` (the raw limit of issue 6), and the multi-row
 * `INSERT … SELECT unnest(…)` the service itself uses (minus ON CONFLICT and RETURNING), which shows what
 * switching the writer to COPY could gain.
 */
export type BulkMethod = 'copy' | 'insert-unnest';

export interface BulkLoadResult {
  method: BulkMethod;
  label: string;
  records: number;
  allocationRows: number;
  seconds: number;
  /** ledger records (each with its allocation rows) per second: the unit of the end-to-end figure */
  recordsPerSecond: number;
  /** table rows (usage + allocation) per second */
  rowsPerSecond: number;
  chunkRecords: number;
}

const LABELS: Record<BulkMethod, string> = {
  copy: 'COPY … FROM STDIN',
  'insert-unnest': "INSERT … SELECT unnest(…), the service's statement shape",
};

/** A table's columns as PostgreSQL has them now (see `liveColumns`): names for SQL, types for the array casts. */
interface Columns {
  /** quoted identifiers, in ordinal order */
  names: string[];
  /** `format_type` without typmod (the array cast re-reads text; the table's own typmod still applies) */
  types: string[];
  /** array-typed columns: unnest would flatten an array of arrays, so these travel as text and are cast after */
  arrays: boolean[];
  /** position of a column by its plain name */
  index(name: string): number;
}

type Row = Array<string | null>;
interface LedgerSample {
  usageColumns: Columns;
  allocationColumns: Columns;
  records: LedgerRecord[];
  months: string[];
}
interface LedgerRecord {
  usage: Row;
  allocations: Row[];
}

export interface BulkLoadOptions {
  url: string;
  /** ledger records read back (each pass loads all of them) */
  sampleRecords: number;
  /** records timed in all, over as many passes as needed */
  minRecords: number;
  /** records per transaction */
  chunkRecords: number;
  methods: readonly BulkMethod[];
  /** called before the connection closes (its backend process exits with it): the place to sample CPU */
  beforeClose?(): void;
}

export async function measurePostgresBulk(options: BulkLoadOptions): Promise<BulkLoadResult[]> {
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  try {
    const { usageColumns, allocationColumns, records, months } = await readLedgerSample(client, options.sampleRecords);
    const results: BulkLoadResult[] = [];
    for (const method of options.methods) {
      await createScratchTables(client, months);
      let seconds = 0;
      let loaded = 0;
      let allocationRows = 0;
      // Passes over the sample (tables emptied in between, untimed) until enough records were timed.
      while (loaded < options.minRecords) {
        await client.query('TRUNCATE bench_raw_usage_records, bench_raw_allocations');
        for (let i = 0; i < records.length; i += options.chunkRecords) {
          const chunk = records.slice(i, i + options.chunkRecords);
          const allocationChunk = chunk.flatMap((r) => r.allocations);
          const started = performance.now();
          await client.query('BEGIN');
          await load(client, method, 'bench_raw_usage_records', usageColumns, chunk.map((r) => r.usage));
          if (allocationChunk.length > 0) await load(client, method, 'bench_raw_allocations', allocationColumns, allocationChunk);
          await client.query('COMMIT');
          seconds += (performance.now() - started) / 1000;
          loaded += chunk.length;
          allocationRows += allocationChunk.length;
        }
      }
      await checkLoaded(client, records);
      results.push({ method, label: LABELS[method], records: loaded, allocationRows, seconds, recordsPerSecond: loaded / seconds, rowsPerSecond: (loaded + allocationRows) / seconds, chunkRecords: options.chunkRecords });
    }
    await client.query('DROP TABLE IF EXISTS bench_raw_usage_records, bench_raw_allocations');
    options.beforeClose?.();
    return results;
  } finally {
    await client.end();
  }
}

/**
 * The columns of a table as the catalog has them now, in ordinal order: dropped columns (still in
 * pg_attribute after ALTER TABLE … DROP COLUMN) and generated columns (not insertable) left out, so a
 * migration that adds, drops or retypes a ledger column cannot break this phase.
 */
export async function liveColumns(client: pg.Client, table: string): Promise<Columns> {
  const { rows } = await client.query<{ name: string; quoted: string; type: string; array: boolean }>({
    text: `SELECT a.attname AS name, quote_ident(a.attname) AS quoted, format_type(a.atttypid, NULL) AS type, t.typcategory = 'A' AS array
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum`,
    values: [table],
  });
  if (rows.length === 0) throw new Error(`no table ${table} (or no insertable columns)`);
  const plain = rows.map((r) => r.name);
  return {
    names: rows.map((r) => r.quoted),
    types: rows.map((r) => r.type),
    arrays: rows.map((r) => r.array),
    index(name) {
      const i = plain.indexOf(name);
      if (i < 0) throw new Error(`${table} has no column ${name}`);
      return i;
    },
  };
}

/** Every column as text: exact values, re-read by PostgreSQL's own input functions on the way in. */
async function readLedgerSample(client: pg.Client, limit: number): Promise<LedgerSample> {
  const usageColumns = await liveColumns(client, 'usage_records');
  const allocationColumns = await liveColumns(client, 'allocations');
  const usage = await client.query<Row>({
    text: `SELECT ${usageColumns.names.map((c) => `${c}::text`).join(', ')} FROM usage_records LIMIT $1`,
    values: [limit],
    rowMode: 'array',
  });
  if (usage.rows.length === 0) throw new Error('the ledger is empty: run an end-to-end phase first');
  const [uVin, uEpoch, uSeq] = (['vin', 'epoch', 'seq'] as const).map((c) => usageColumns.index(c)) as [number, number, number];
  const allocations = await client.query<Row>({
    text: `SELECT ${allocationColumns.names.map((c) => `a.${c}::text`).join(', ')}
             FROM allocations a JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(vin, epoch, seq)
               ON a.vin = k.vin AND a.epoch = k.epoch AND a.seq = k.seq`,
    values: [usage.rows.map((r) => r[uVin]), usage.rows.map((r) => r[uEpoch]), usage.rows.map((r) => r[uSeq])],
    rowMode: 'array',
  });
  const [aVin, aEpoch, aSeq, aMonth] = (['vin', 'epoch', 'seq', 'usage_month'] as const).map((c) => allocationColumns.index(c)) as [number, number, number, number];
  const key = (r: Row, vin: number, epoch: number, seq: number) => `${r[vin]}\u0000${r[epoch]}\u0000${r[seq]}`;
  const byRecord = new Map<string, Row[]>();
  for (const a of allocations.rows) {
    const k = key(a, aVin, aEpoch, aSeq);
    const list = byRecord.get(k) ?? [];
    list.push(a);
    byRecord.set(k, list);
  }
  return {
    usageColumns,
    allocationColumns,
    records: usage.rows.map((r) => ({ usage: r, allocations: byRecord.get(key(r, uVin, uEpoch, uSeq)) ?? [] })),
    months: [...new Set(allocations.rows.map((a) => a[aMonth]!.slice(0, 7)))],
  };
}

/** Copies of usage_records (hash-partitioned by VIN) and allocations (by month); LIKE … INCLUDING ALL brings keys, checks and indexes. */
async function createScratchTables(client: pg.Client, months: readonly string[]): Promise<void> {
  await client.query('DROP TABLE IF EXISTS bench_raw_usage_records, bench_raw_allocations');
  await client.query('CREATE TABLE bench_raw_usage_records (LIKE usage_records INCLUDING ALL) PARTITION BY HASH (vin)');
  for (let r = 0; r < 8; r++) await client.query(`CREATE TABLE bench_raw_usage_records_p${r} PARTITION OF bench_raw_usage_records FOR VALUES WITH (MODULUS 8, REMAINDER ${r})`);
  await client.query('CREATE TABLE bench_raw_allocations (LIKE allocations INCLUDING ALL) PARTITION BY RANGE (usage_month)');
  for (const month of months) {
    if (!/^\d{4}-\d{2}$/.test(month)) throw new Error(`not a month: ${month}`);
    const [y, m] = month.split('-').map(Number) as [number, number];
    const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
    await client.query(`CREATE TABLE bench_raw_allocations_${month.replace('-', '_')} PARTITION OF bench_raw_allocations FOR VALUES FROM ('${month}-01') TO ('${next}-01')`);
  }
}

async function load(client: pg.Client, method: BulkMethod, table: string, columns: Columns, rows: readonly Row[]): Promise<void> {
  if (method === 'copy') {
    const stream = client.query(copyFrom(`COPY ${table} (${columns.names.join(', ')}) FROM STDIN`));
    await pipeline(Readable.from([Buffer.from(rows.map(copyTextLine).join(''))]), stream);
    return;
  }
  const params = columns.names.map((_, c) => rows.map((r) => r[c] ?? null));
  const unnest = columns.types.map((type, i) => `$${i + 1}::${columns.arrays[i] ? 'text' : type}[]`).join(', ');
  const select = columns.arrays.includes(true) ? columns.types.map((type, i) => (columns.arrays[i] ? `u.c${i}::${type}` : `u.c${i}`)).join(', ') : '*';
  await client.query(`INSERT INTO ${table} (${columns.names.join(', ')}) SELECT ${select} FROM unnest(${unnest}) AS u(${columns.names.map((_, i) => `c${i}`).join(', ')})`, params);
}

/** COPY text format: tab-separated, \N for NULL, backslash escapes (PostgreSQL docs, COPY "Text Format"). */
export function copyTextLine(row: Row): string {
  return `${row.map((v) => (v === null ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r'))).join('\t')}\n`;
}

/** The last pass left exactly the sample in the scratch tables, or the figure measured something else. */
async function checkLoaded(client: pg.Client, records: readonly LedgerRecord[]): Promise<void> {
  const { rows } = await client.query<{ usage: string; allocations: string }>(
    'SELECT (SELECT count(*) FROM bench_raw_usage_records) AS usage, (SELECT count(*) FROM bench_raw_allocations) AS allocations',
  );
  const expected = { usage: records.length, allocations: records.reduce((n, r) => n + r.allocations.length, 0) };
  if (Number(rows[0]!.usage) !== expected.usage || Number(rows[0]!.allocations) !== expected.allocations) {
    throw new Error(`bulk load check: ${rows[0]!.usage}/${rows[0]!.allocations} rows loaded, ${expected.usage}/${expected.allocations} expected`);
  }
}
