import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { fleetVin } from '../simulators/fleet/index.js';

/**
 * The exactly-once floor (issue 11): the least any exactly-once ledger must write per record, measured on
 * the bench's own PostgreSQL in the same run as the end-to-end figure. A record's identity is (vin, epoch,
 * seq); exactly-once needs at least that key, unique and durable before the ack, plus what is billed
 * (bytes). So: a scratch table of those four columns (usage_records' types) whose only index is the primary
 * key, `INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING`, one statement (its own transaction) per 2,000
 * rows, `synchronous_commit` on, one connection. Beside it, the same narrow rows by COPY (fresh keys, so
 * nothing conflicts and COPY needs no ON CONFLICT), and the INSERT floor on 4 connections at once, each with
 * its own vehicles.
 *
 * Keys are shaped like the bench's load: `vehicles` VINs per connection, messages of 50 consecutive seqs of
 * one vehicle, round-robin over the vehicles, so index inserts land all over the btree as the service's do.
 */
export type FloorMethod = 'insert' | 'copy' | 'insert-parallel';

export interface FloorSettings {
  /** untimed, before each measurement */
  warmupMs: number;
  /** each method runs this long */
  durationMs: number;
  /** rows per statement (= per transaction) */
  chunkRecords: number;
}

export const FLOOR_PARALLEL_CONNECTIONS = 4;

export function floorSettings(mode: 'quick' | 'full'): FloorSettings {
  return mode === 'quick' ? { warmupMs: 1_000, durationMs: 4_000, chunkRecords: 2_000 } : { warmupMs: 2_000, durationMs: 10_000, chunkRecords: 2_000 };
}

export interface FloorRun {
  method: FloorMethod;
  label: string;
  connections: number;
  records: number;
  transactions: number;
  /** wall seconds of the measured window (per connection, for the parallel run the longest) */
  seconds: number;
  recordsPerSecond: number;
}

export interface FloorResult {
  settings: FloorSettings & { vehiclesPerConnection: number; recordsPerMessage: number };
  table: string;
  server: { version: string; fsync: string; synchronousCommit: string; walSyncMethod: string };
  insert: FloorRun;
  copy: FloorRun;
  parallel: FloorRun;
}

const TABLE = 'bench_floor';
// The types of usage_records.vin/epoch/seq (migrations/0002_ledger.sql) and of its byte counts (up, down).
const COLUMNS = 'vin text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL, bytes bigint NOT NULL, PRIMARY KEY (vin, epoch, seq)';
const INSERT = `INSERT INTO ${TABLE} (vin, epoch, seq, bytes) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) ON CONFLICT DO NOTHING`;
const COPY = `COPY ${TABLE} (vin, epoch, seq, bytes) FROM STDIN`;
const LABELS: Record<FloorMethod, string> = {
  insert: 'INSERT … unnest … ON CONFLICT DO NOTHING, 1 connection',
  copy: 'COPY … FROM STDIN (text), 1 connection',
  'insert-parallel': `INSERT … unnest … ON CONFLICT DO NOTHING, ${FLOOR_PARALLEL_CONNECTIONS} connections`,
};
// One fleet letter per connection (VIN characters, no I/O/Q): distinct VINs per connection.
const FLEETS = 'FGHJKLMN';
const RECORDS_PER_MESSAGE = 50;

export async function measureExactlyOnceFloor(options: { url: string; vehicles: number } & FloorSettings): Promise<FloorResult> {
  const connect = async () => {
    const client = new pg.Client({ connectionString: options.url });
    await client.connect();
    // The server default, said explicitly: a DATABASE_URL server set to off would measure something else.
    await client.query('SET synchronous_commit = on');
    return client;
  };
  const clients = [await connect()];
  try {
    for (let c = 1; c < FLOOR_PARALLEL_CONNECTIONS; c++) clients.push(await connect());
    const main = clients[0]!;
    const show = async (name: string) => (await main.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;
    const server = { version: await show('server_version'), fsync: await show('fsync'), synchronousCommit: await show('synchronous_commit'), walSyncMethod: await show('wal_sync_method') };

    const run = async (method: FloorMethod, connections: readonly pg.Client[]): Promise<FloorRun> => {
      await main.query(`DROP TABLE IF EXISTS ${TABLE}`);
      await main.query(`CREATE TABLE ${TABLE} (${COLUMNS})`);
      const send = method === 'copy' ? sendCopy : sendInsert;
      const started = performance.now();
      const measureFrom = started + options.warmupMs;
      const until = measureFrom + options.durationMs;
      const perConnection = await Promise.all(connections.map((client, c) => drive(client, new KeyStream(c, options.vehicles), send, options.chunkRecords, measureFrom, until)));
      // Every row that was sent is in the table: nothing conflicted, nothing was lost.
      const sent = perConnection.reduce((n, r) => n + r.sent, 0);
      const { rows } = await main.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`);
      if (Number(rows[0]!.n) !== sent) throw new Error(`exactly-once floor (${method}): ${rows[0]!.n} rows in the table, ${sent} sent`);
      const records = perConnection.reduce((n, r) => n + r.records, 0);
      return {
        method,
        label: LABELS[method],
        connections: connections.length,
        records,
        transactions: perConnection.reduce((n, r) => n + r.transactions, 0),
        seconds: Math.max(...perConnection.map((r) => r.seconds)),
        // Each connection over its own window (they start and end within one transaction of each other).
        recordsPerSecond: perConnection.reduce((x, r) => x + r.records / r.seconds, 0),
      };
    };

    const insert = await run('insert', [main]);
    const copy = await run('copy', [main]);
    const parallel = await run('insert-parallel', clients);
    await main.query(`DROP TABLE IF EXISTS ${TABLE}`);
    return {
      settings: { warmupMs: options.warmupMs, durationMs: options.durationMs, chunkRecords: options.chunkRecords, vehiclesPerConnection: options.vehicles, recordsPerMessage: RECORDS_PER_MESSAGE },
      table: `${TABLE} (${COLUMNS})`,
      server,
      insert,
      copy,
      parallel,
    };
  } finally {
    await clients[0]!.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

interface Chunk {
  vins: string[];
  epochs: string[];
  seqs: number[];
  bytes: number[];
}

/** Fresh keys for one connection: messages of 50 consecutive seqs, round-robin over its vehicles. */
class KeyStream {
  private readonly vins: string[];
  private readonly epochs: string[];
  private readonly nextSeq: number[];
  private message = 0;

  constructor(connection: number, vehicles: number) {
    const fleet = FLEETS[connection];
    if (fleet === undefined) throw new RangeError(`at most ${FLEETS.length} connections`);
    this.vins = Array.from({ length: vehicles }, (_, i) => fleetVin(fleet, i));
    // Like the load generator's epochs: 'b' and a base-36 number, about 7 characters.
    this.epochs = Array.from({ length: vehicles }, (_, i) => `b${(Math.imul(connection * vehicles + i + 1, 0x9e3779b9) >>> 0).toString(36)}`);
    this.nextSeq = new Array<number>(vehicles).fill(0);
  }

  next(n: number): Chunk {
    const chunk: Chunk = { vins: [], epochs: [], seqs: [], bytes: [] };
    while (chunk.vins.length < n) {
      const v = this.message++ % this.vins.length;
      for (let k = 0; k < RECORDS_PER_MESSAGE && chunk.vins.length < n; k++) {
        const seq = this.nextSeq[v]!++;
        chunk.vins.push(this.vins[v]!);
        chunk.epochs.push(this.epochs[v]!);
        chunk.seqs.push(seq);
        chunk.bytes.push(1 + ((seq * 7_919 + v * 104_729) % 2_000_000));
      }
    }
    return chunk;
  }
}

/**
 * Statements back to back on one connection: those started before `measureFrom` are the warm-up; the
 * measured window runs from the first transaction started after it to the end of the last one started
 * before `until`.
 */
async function drive(client: pg.Client, keys: KeyStream, send: (client: pg.Client, chunk: Chunk) => Promise<void>, chunkRecords: number, measureFrom: number, until: number) {
  let sent = 0;
  let records = 0;
  let transactions = 0;
  let windowStart: number | null = null;
  let last = performance.now();
  while (last < until) {
    const chunk = keys.next(chunkRecords);
    const started = performance.now();
    await send(client, chunk);
    last = performance.now();
    sent += chunk.vins.length;
    if (started >= measureFrom) {
      windowStart ??= started;
      records += chunk.vins.length;
      transactions++;
    }
  }
  if (windowStart === null || transactions === 0) throw new Error('exactly-once floor: no transaction in the measured window');
  return { sent, records, transactions, seconds: (last - windowStart) / 1000 };
}

/** Keys and numbers only ([A-Za-z0-9]): array literals and COPY lines need no quoting or escaping. */
const literal = (values: readonly (string | number)[]) => `{${values.join(',')}}`;

async function sendInsert(client: pg.Client, chunk: Chunk): Promise<void> {
  const result = await client.query(INSERT, [literal(chunk.vins), literal(chunk.epochs), literal(chunk.seqs), literal(chunk.bytes)]);
  if (result.rowCount !== chunk.vins.length) throw new Error(`exactly-once floor: ${result.rowCount} of ${chunk.vins.length} rows inserted (keys were meant to be fresh)`);
}

async function sendCopy(client: pg.Client, chunk: Chunk): Promise<void> {
  let text = '';
  for (let i = 0; i < chunk.vins.length; i++) text += `${chunk.vins[i]}\t${chunk.epochs[i]}\t${chunk.seqs[i]}\t${chunk.bytes[i]}\n`;
  await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom(COPY)));
}

/** The fields run.ts merges into results.raw. */
export function floorFigures(floor: FloorResult) {
  const run = (r: FloorRun) => ({ ...r, recordsPerSecond: Math.round(r.recordsPerSecond), seconds: Math.round(r.seconds * 100) / 100 });
  return {
    pgFloorRecordsPerSecond: Math.round(floor.insert.recordsPerSecond),
    pgFloorCopyRecordsPerSecond: Math.round(floor.copy.recordsPerSecond),
    pgFloorParallel4RecordsPerSecond: Math.round(floor.parallel.recordsPerSecond),
    pgFloor: { table: floor.table, server: floor.server, settings: floor.settings, insert: run(floor.insert), copy: run(floor.copy), parallel: run(floor.parallel) },
  };
}

export function floorLogLines(floor: FloorResult): string[] {
  return [floor.insert, floor.copy, floor.parallel].map((r) => `  ${Math.round(r.recordsPerSecond).toLocaleString('en-US')} records/s (${r.transactions} transactions in ${r.seconds.toFixed(1)} s) — ${r.label}`);
}
