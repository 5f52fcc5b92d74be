import type { Pool, PoolClient } from '../shared/db/pool.js';

/**
 * When was a vehicle's card in `test`? DESIGN 4.2: records whose start falls while the card was in `test`
 * are stored with payer `none` and never invoiced. The answer comes from the audit trail (every
 * transition is there), per VIN through the vehicle's ICCID history (a SIM swap changes the card, not the
 * past: a test window counts only while that card was the vehicle's): half-open intervals [fromMs, toMs),
 * `toMs` null while the test is still running. For ingest to mark `simTest` records.
 */

export interface TestWindow {
  fromMs: number;
  toMs: number | null;
}

export async function loadSimTestWindows(db: Pool | PoolClient, vins: readonly string[]): Promise<Map<string, TestWindow[]>> {
  const windows = new Map<string, TestWindow[]>();
  if (vins.length === 0) return windows;
  const { rows } = await db.query<{ vin: string; binding: string; valid_from: Date | null; valid_to: Date | null; from_state: string | null; to_state: string; at: Date }>(
    `SELECT h.vin, h.id AS binding, h.valid_from, h.valid_to, e.from_state, e.to_state, e.at
       FROM vehicle_iccid_history h JOIN sim_events e ON e.iccid = h.iccid
      WHERE h.vin = ANY($1::text[]) AND (e.to_state = 'test' OR e.from_state = 'test') AND e.from_state IS DISTINCT FROM e.to_state
      ORDER BY h.vin, h.id, e.id`,
    [vins],
  );
  const perBinding = new Map<string, { vin: string; fromMs: number | null; toMs: number | null; list: TestWindow[] }>();
  for (const row of rows) {
    const binding = perBinding.get(row.binding) ?? { vin: row.vin, fromMs: row.valid_from?.getTime() ?? null, toMs: row.valid_to?.getTime() ?? null, list: [] };
    perBinding.set(row.binding, binding);
    const list = binding.list;
    if (row.to_state === 'test') list.push({ fromMs: row.at.getTime(), toMs: null });
    else if (list.length > 0 && list[list.length - 1]!.toMs === null) list[list.length - 1]!.toMs = row.at.getTime();
  }
  for (const binding of perBinding.values()) {
    // Clip each window to the time this card was the vehicle's.
    for (const w of binding.list) {
      const fromMs = binding.fromMs === null ? w.fromMs : Math.max(w.fromMs, binding.fromMs);
      const toMs = binding.toMs === null ? w.toMs : w.toMs === null ? binding.toMs : Math.min(w.toMs, binding.toMs);
      if (toMs !== null && toMs <= fromMs) continue;
      const list = windows.get(binding.vin) ?? [];
      list.push({ fromMs, toMs });
      windows.set(binding.vin, list);
    }
  }
  return windows;
}

/** Was the card in `test` at `startMs`? */
export function inTestAt(windows: readonly TestWindow[] | undefined, startMs: number): boolean {
  return (windows ?? []).some((w) => startMs >= w.fromMs && (w.toMs === null || startMs < w.toMs));
}
