/**
 * Which commit minutes the exporter may take next. Pure: instants are epoch ms, nothing reads a clock.
 *
 * The watermark is a minute boundary W meaning "every allocation committed before W is in the time
 * series". A minute of commit time is exported only once it is closed and `safetyLagMs` old: an
 * allocation's `committed_at` is the ingest worker's clock when its batch transaction began, so a row
 * becomes visible a little after that instant (transaction time, lock waits, clock skew between workers).
 */

export const MINUTE_MS = 60_000;

export interface ExportWindow {
  /** inclusive, a minute boundary (the watermark it starts from) */
  fromMs: number;
  /** exclusive, a minute boundary (the watermark once the window is written) */
  toMs: number;
}

/** The start of the UTC minute holding `ms` (a minute is the same instant range in every zone we bill in). */
export function floorToMinute(ms: number): number {
  if (!Number.isSafeInteger(ms)) throw new RangeError(`not an integral epoch ms: ${ms}`);
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

/** The watermark can move up to here at `nowMs`: the last minute boundary at least `safetyLagMs` ago. */
export function exportableUntil(nowMs: number, safetyLagMs: number): number {
  if (!Number.isSafeInteger(safetyLagMs) || safetyLagMs < 0) throw new RangeError(`safetyLagMs must be a non-negative integer, got ${safetyLagMs}`);
  return floorToMinute(nowMs - safetyLagMs);
}

/**
 * The next window after `watermarkMs`, at most `maxWindowMs` long (so a backfill after a long outage
 * advances the watermark step by step), or null when nothing closed is left.
 */
export function nextWindow(watermarkMs: number, untilMs: number, maxWindowMs: number): ExportWindow | null {
  if (!Number.isSafeInteger(maxWindowMs) || maxWindowMs < MINUTE_MS || maxWindowMs % MINUTE_MS !== 0) {
    throw new RangeError(`maxWindowMs must be a whole number of minutes, got ${maxWindowMs}`);
  }
  const fromMs = floorToMinute(watermarkMs);
  const until = floorToMinute(untilMs);
  if (fromMs >= until) return null;
  return { fromMs, toMs: Math.min(until, fromMs + maxWindowMs) };
}
