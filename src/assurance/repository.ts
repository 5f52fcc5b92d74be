import { z } from 'zod';
import { intArray, textArray } from '../shared/db/arrays.js';
import type { PoolClient, Pool } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import type { CarrierLine } from './carrier-csv.js';

/**
 * The only SQL on the carrier tables of migration 0014 (`carrier_usage_files`, `carrier_usage_lines`,
 * `carrier_usage_days`, `carrier_usage_corrections`). An import stages its lines in a temporary table of
 * its own transaction (`carrier_stage`, dropped at commit), checks them there, and applies them in the same
 * transaction; imports apply one at a time (a transaction-scoped advisory lock), so the audit of a replaced
 * figure never races another import.
 */

/** pg_advisory_xact_lock key of the apply step: "carrier1" as an int8. */
const APPLY_LOCK = 0x6361727269657231n;

export async function createStage(client: PoolClient): Promise<void> {
  await client.query(`CREATE TEMP TABLE carrier_stage (
      line integer NOT NULL, iccid text NOT NULL, usage_day date NOT NULL, bytes bigint NOT NULL,
      up bigint, down bigint, apn text, rg bigint) ON COMMIT DROP`);
}

export async function stageLines(client: PoolClient, lines: readonly CarrierLine[]): Promise<void> {
  if (lines.length === 0) return;
  await client.query(
    `INSERT INTO carrier_stage (line, iccid, usage_day, bytes, up, down, apn, rg)
     SELECT * FROM unnest($1::int[], $2::text[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[])`,
    [
      intArray(lines.map((l) => l.line)),
      textArray(lines.map((l) => l.iccid)),
      textArray(lines.map((l) => l.day)),
      intArray(lines.map((l) => l.bytes)),
      intArray(lines.map((l) => l.uplinkBytes)),
      intArray(lines.map((l) => l.downlinkBytes)),
      textArray(lines.map((l) => l.apn)),
      intArray(lines.map((l) => l.ratingGroup)),
    ],
  );
}

const LinesSchema = z.object({ line: z.number().int(), first: z.number().int().nullable(), total: z.coerce.number().int() });
export interface FlaggedLines {
  /** the first `limit` of them, by line number */
  lines: Array<{ line: number; first: number | null }>;
  total: number;
}

const DUPLICATES = `SELECT line, first FROM (
    SELECT line, first_value(line) OVER w AS first, row_number() OVER w AS n FROM carrier_stage
    WINDOW w AS (PARTITION BY iccid, usage_day, apn, rg ORDER BY line)) x WHERE n > 1`;

/** Staged lines repeating an earlier line's (card, day, apn, rating group), with the line they repeat. */
export async function duplicateStagedLines(client: PoolClient, limit: number): Promise<FlaggedLines> {
  const { rows } = await client.query(`SELECT line, first, count(*) OVER () AS total FROM (${DUPLICATES}) d ORDER BY line LIMIT $1`, [limit]);
  const parsed = parseRows(LinesSchema, rows, 'duplicate carrier lines');
  return { lines: parsed.map(({ line, first }) => ({ line, first })), total: parsed[0]?.total ?? 0 };
}

const CHANGED = `SELECT s.line, NULL::int AS first FROM carrier_stage s JOIN carrier_usage_lines l ON l.file_row = $1 AND l.line = s.line
   WHERE (l.iccid, l.usage_day, l.bytes) IS DISTINCT FROM (s.iccid, s.usage_day, s.bytes)
      OR l.uplink_bytes IS DISTINCT FROM s.up OR l.downlink_bytes IS DISTINCT FROM s.down
      OR l.apn IS DISTINCT FROM s.apn OR l.rating_group IS DISTINCT FROM s.rg`;

/** Staged lines that an earlier delivery of the same file id applied with other content. */
export async function changedStagedLines(client: PoolClient, fileRow: string, limit: number): Promise<FlaggedLines> {
  const { rows } = await client.query(`SELECT line, first, count(*) OVER () AS total FROM (${CHANGED}) c ORDER BY line LIMIT $2`, [fileRow, limit]);
  const parsed = parseRows(LinesSchema, rows, 'changed carrier lines');
  return { lines: parsed.map(({ line, first }) => ({ line, first })), total: parsed[0]?.total ?? 0 };
}

/** Drops the flagged lines from the stage (?partial=true applies the rest). */
export async function unstageFlagged(client: PoolClient, fileRow: string): Promise<void> {
  await client.query(`DELETE FROM carrier_stage WHERE line IN (SELECT line FROM (${DUPLICATES}) d)`);
  await client.query(`DELETE FROM carrier_stage WHERE line IN (SELECT line FROM (${CHANGED}) c)`, [fileRow]);
}

export async function stagedCount(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM carrier_stage');
  return Number(rows[0]?.n ?? 0);
}

const FileRowSchema = z.object({ id: z.string(), sha256: z.instanceof(Buffer), created: z.boolean() });

/**
 * The file's row, created when its id is new; locked until the transaction ends, so a second delivery of the
 * same id waits for the first. Takes the apply lock first (one import applies at a time).
 */
export async function lockFile(client: PoolClient, file: { fileId: string; sha256: Buffer; lines: number; at: Date; by: string }): Promise<z.output<typeof FileRowSchema>> {
  await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [APPLY_LOCK.toString()]);
  const inserted = await client.query(
    `INSERT INTO carrier_usage_files (file_id, sha256, lines, imported_at, imported_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (file_id) DO NOTHING RETURNING id::text, sha256, true AS created`,
    [file.fileId, file.sha256, file.lines, file.at, file.by],
  );
  const row = parseFirstRow(FileRowSchema, inserted.rows, 'carrier file')
    ?? parseFirstRow(FileRowSchema, (await client.query('SELECT id::text, sha256, false AS created FROM carrier_usage_files WHERE file_id = $1 FOR UPDATE', [file.fileId])).rows, 'carrier file');
  if (!row) throw new Error(`carrier file ${file.fileId} vanished under its lock`);
  return row;
}

const ApplySchema = z.object({ applied: z.coerce.number().int(), days: z.coerce.number().int(), corrections: z.coerce.number().int() });

/**
 * Applies the staged lines not yet applied for this file: they are stored, and each (card, day) they touch
 * gets as its figure the sum of this file's lines for it. A figure another file had set is replaced and the
 * replacement audited (old bytes, new bytes, both files, when).
 */
export async function applyStaged(client: PoolClient, fileRow: string, at: Date): Promise<z.output<typeof ApplySchema>> {
  await client.query('CREATE TEMP TABLE carrier_touched (iccid text, usage_day date, PRIMARY KEY (iccid, usage_day)) ON COMMIT DROP');
  const { rows: inserted } = await client.query(
    `WITH ins AS (
       INSERT INTO carrier_usage_lines (file_row, line, iccid, usage_day, bytes, uplink_bytes, downlink_bytes, apn, rating_group)
       SELECT $1, line, iccid, usage_day, bytes, up, down, apn, rg FROM carrier_stage
       ON CONFLICT (file_row, line) DO NOTHING
       RETURNING iccid, usage_day),
     touched AS (INSERT INTO carrier_touched SELECT DISTINCT iccid, usage_day FROM ins)
     SELECT count(*) AS applied FROM ins`,
    [fileRow],
  );
  const { rows } = await client.query(
    `WITH sums AS (
       SELECT l.iccid, l.usage_day, sum(l.bytes) AS bytes,
              CASE WHEN bool_and(l.uplink_bytes IS NOT NULL) THEN sum(l.uplink_bytes) END AS up,
              CASE WHEN bool_and(l.downlink_bytes IS NOT NULL) THEN sum(l.downlink_bytes) END AS down
         FROM carrier_touched t JOIN carrier_usage_lines l ON l.file_row = $1 AND l.iccid = t.iccid AND l.usage_day = t.usage_day
        GROUP BY l.iccid, l.usage_day),
     audit AS (
       INSERT INTO carrier_usage_corrections (iccid, usage_day, old_bytes, new_bytes, old_file_row, new_file_row, corrected_at)
       SELECT d.iccid, d.usage_day, d.bytes, s.bytes, d.file_row, $1, $2
         FROM sums s JOIN carrier_usage_days d ON d.iccid = s.iccid AND d.usage_day = s.usage_day
        WHERE d.file_row <> $1
       RETURNING 1),
     upsert AS (
       INSERT INTO carrier_usage_days (iccid, usage_day, bytes, uplink_bytes, downlink_bytes, file_row, updated_at)
       SELECT iccid, usage_day, bytes, up, down, $1, $2 FROM sums
       ON CONFLICT (iccid, usage_day) DO UPDATE
         SET bytes = EXCLUDED.bytes, uplink_bytes = EXCLUDED.uplink_bytes, downlink_bytes = EXCLUDED.downlink_bytes,
             file_row = EXCLUDED.file_row, updated_at = EXCLUDED.updated_at
       RETURNING 1)
     SELECT $3::bigint AS applied, (SELECT count(*) FROM upsert) AS days, (SELECT count(*) FROM audit) AS corrections`,
    [fileRow, at, String(inserted[0]?.applied ?? 0)],
  );
  const result = parseFirstRow(ApplySchema, rows, 'apply carrier lines');
  if (!result) throw new Error('apply carrier lines returned no row');
  return result;
}

const CarrierDaySchema = z.object({ iccid: z.string(), day: z.string(), bytes: z.string().transform(BigInt) });
export type CarrierDay = z.output<typeof CarrierDaySchema>;

/** The carrier's figures in force for the days [fromDay, toDay) (carrier timezone). */
export async function carrierDays(db: Pool | PoolClient, fromDay: string, toDay: string): Promise<CarrierDay[]> {
  const { rows } = await db.query(
    `SELECT iccid, to_char(usage_day, 'YYYY-MM-DD') AS day, bytes::text AS bytes FROM carrier_usage_days
      WHERE usage_day >= $1::date AND usage_day < $2::date ORDER BY iccid, usage_day`,
    [fromDay, toDay],
  );
  return parseRows(CarrierDaySchema, rows, 'carrier days');
}

/** The first month (carrier timezone) with a carrier figure, or null. */
export async function firstCarrierMonth(db: Pool | PoolClient): Promise<string | null> {
  const { rows } = await db.query<{ month: string | null }>(`SELECT to_char(min(usage_day), 'YYYY-MM') AS month FROM carrier_usage_days`);
  return rows[0]?.month ?? null;
}

const CorrectionSchema = z.object({
  iccid: z.string(),
  day: z.string(),
  oldBytes: z.string(),
  newBytes: z.string(),
  oldFileId: z.string(),
  newFileId: z.string(),
  correctedAt: z.date(),
});
export type Correction = z.output<typeof CorrectionSchema>;

/** The audit of replaced figures for the days [fromDay, toDay), oldest first. */
export async function corrections(db: Pool | PoolClient, fromDay: string, toDay: string): Promise<Correction[]> {
  const { rows } = await db.query(
    `SELECT c.iccid, to_char(c.usage_day, 'YYYY-MM-DD') AS day, c.old_bytes::text AS "oldBytes", c.new_bytes::text AS "newBytes",
            o.file_id AS "oldFileId", n.file_id AS "newFileId", c.corrected_at AS "correctedAt"
       FROM carrier_usage_corrections c
       JOIN carrier_usage_files o ON o.id = c.old_file_row JOIN carrier_usage_files n ON n.id = c.new_file_row
      WHERE c.usage_day >= $1::date AND c.usage_day < $2::date ORDER BY c.id`,
    [fromDay, toDay],
  );
  return parseRows(CorrectionSchema, rows, 'carrier corrections');
}
