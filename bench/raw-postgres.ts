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

const USAGE_COLUMNS = ['vin', 'epoch', 'seq', 'start_at', 'end_at', 'up', 'down', 'host', 'ip', 'port', 'proto', 'iface', 'pkg', 'app', 'rule_id', 'catalog_version', 'batch', 'received_at'] as const;
const USAGE_TYPES = ['text', 'text', 'bigint', 'timestamptz', 'timestamptz', 'bigint', 'bigint', 'text', 'text', 'int', 'text', 'text', 'text', 'text', 'text', 'text', 'bigint', 'timestamptz'];
const ALLOCATION_COLUMNS = ['usage_month', 'vin', 'epoch', 'seq', 'part', 'start_at', 'usage_day', 'app', 'payer', 'kind', 'sponsorship_id', 'pack_instance_id', 'bytes', 'price_per_gib', 'rule_id', 'catalog_version', 'committed_at', 'invoice_id'] as const;
const ALLOCATION_TYPES = ['date', 'text', 'text', 'bigint', 'smallint', 'timestamptz', 'date', 'text', 'text', 'text', 'text', 'bigint', 'bigint', 'numeric', 'text', 'text', 'timestamptz', 'bigint'];

type Row = Array<string | null>;
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
    const { records, months } = await readLedgerSample(client, options.sampleRecords);
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
          await load(client, method, 'bench_raw_usage_records', USAGE_COLUMNS, USAGE_TYPES, chunk.map((r) => r.usage));
          if (allocationChunk.length > 0) await load(client, method, 'bench_raw_allocations', ALLOCATION_COLUMNS, ALLOCATION_TYPES, allocationChunk);
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

/** Every column as text: exact values, re-read by PostgreSQL's own input functions on the way in. */
async function readLedgerSample(client: pg.Client, limit: number): Promise<{ records: LedgerRecord[]; months: string[] }> {
  const usage = await client.query<Record<string, string | null>>({
    text: `SELECT ${USAGE_COLUMNS.map((c) => `${c}::text`).join(', ')} FROM usage_records LIMIT $1`,
    values: [limit],
  });
  if (usage.rows.length === 0) throw new Error('the ledger is empty: run an end-to-end phase first');
  const allocations = await client.query<Record<string, string | null>>({
    text: `SELECT ${ALLOCATION_COLUMNS.map((c) => `a.${c}::text`).join(', ')}
             FROM allocations a JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(vin, epoch, seq)
               ON a.vin = k.vin AND a.epoch = k.epoch AND a.seq = k.seq`,
    values: [usage.rows.map((r) => r.vin), usage.rows.map((r) => r.epoch), usage.rows.map((r) => r.seq)],
  });
  const key = (r: Record<string, string | null>) => `${r.vin}\u0000${r.epoch}\u0000${r.seq}`;
  const byRecord = new Map<string, Row[]>();
  for (const a of allocations.rows) {
    const list = byRecord.get(key(a)) ?? [];
    list.push(ALLOCATION_COLUMNS.map((c) => a[c] ?? null));
    byRecord.set(key(a), list);
  }
  return {
    records: usage.rows.map((r) => ({ usage: USAGE_COLUMNS.map((c) => r[c] ?? null), allocations: byRecord.get(key(r)) ?? [] })),
    months: [...new Set(allocations.rows.map((a) => a.usage_month!.slice(0, 7)))],
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

async function load(client: pg.Client, method: BulkMethod, table: string, columns: readonly string[], types: readonly string[], rows: readonly Row[]): Promise<void> {
  if (method === 'copy') {
    const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
    await pipeline(Readable.from([Buffer.from(rows.map(copyTextLine).join(''))]), stream);
    return;
  }
  const params = columns.map((_, c) => rows.map((r) => r[c] ?? null));
  const unnest = types.map((type, i) => `$${i + 1}::${type}[]`).join(', ');
  await client.query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${unnest})`, params);
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
