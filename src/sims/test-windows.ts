import type { Pool, PoolClient } from '../shared/db/pool.js';

/**
 * When was a vehicle's card in `test`? DESIGN 4.2: records whose start falls while the card was in `test`
 * are stored with payer `none` and never invoiced. The answer comes from the audit trail (every
 * transition is there), per VIN through vehicles.iccid: half-open intervals [fromMs, toMs), `toMs` null
 * while the test is still running. For ingest to mark `simTest` records.
 */

export interface TestWindow {
  fromMs: number;
  toMs: number | null;
}

export async function loadSimTestWindows(db: Pool | PoolClient, vins: readonly string[]): Promise<Map<string, TestWindow[]>> {
  const windows = new Map<string, TestWindow[]>();
  if (vins.length === 0) return windows;
  const { rows } = await db.query<{ vin: string; from_state: string | null; to_state: string; at: Date }>(
    `SELECT v.vin, e.from_state, e.to_state, e.at FROM vehicles v JOIN sim_events e ON e.iccid = v.iccid
      WHERE v.vin = ANY($1::text[]) AND (e.to_state = 'test' OR e.from_state = 'test') AND e.from_state IS DISTINCT FROM e.to_state
      ORDER BY v.vin, e.id`,
    [vins],
  );
  for (const row of rows) {
    const list = windows.get(row.vin) ?? [];
    if (row.to_state === 'test') list.push({ fromMs: row.at.getTime(), toMs: null });
    else if (list.length > 0 && list[list.length - 1]!.toMs === null) list[list.length - 1]!.toMs = row.at.getTime();
    windows.set(row.vin, list);
  }
  return windows;
}

/** Was the card in `test` at `startMs`? */
export function inTestAt(windows: readonly TestWindow[] | undefined, startMs: number): boolean {
  return (windows ?? []).some((w) => startMs >= w.fromMs && (w.toMs === null || startMs < w.toMs));
}
