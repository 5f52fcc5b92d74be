import { iso, type UsageRecord } from './usage-record.js';

/** Receipt-time checks of a record (DESIGN 3.1): against the clock, the vehicle's activation and maxLateDays. Pure. */

/** DESIGN 3.1: `end ≤ now + 5 min`. */
export const MAX_CLOCK_AHEAD_MS = 300_000;
const MS_PER_DAY = 86_400_000;


export type TimeRejectionCode = 'CLOCK_AHEAD' | 'BEFORE_ACTIVATION' | 'TOO_OLD';

export interface TimeRejection {
  code: TimeRejectionCode;
  message: string;
  retryable: boolean;
}

export interface RecordTimeContext {
  /** the server's receipt time, epoch ms (injected: this module reads no clock) */
  nowMs: number;
  /** the vehicle's activation, epoch ms; null when not activated (every record is rejected) */
  activatedAtMs: number | null;
  /** catalog `billing.maxLateDays`; null = no limit (T-Boxes go offline for months) */
  maxLateDays: number | null;
}


/**
 * The time checks of DESIGN 3.1 against the receipt time, or null when the record passes. The final
 * verdicts come first — BEFORE_ACTIVATION, then TOO_OLD, then CLOCK_AHEAD — because a record that fails
 * one of them can never be accepted: answering the retryable CLOCK_AHEAD would make the T-Box keep and
 * resend it after a time sync only to have it dropped then.
 */
export function checkRecordTime(
  record: Pick<UsageRecord, 'startMs' | 'endMs'>,
  context: RecordTimeContext,
): TimeRejection | null {
  const { nowMs, activatedAtMs, maxLateDays } = context;
  if (activatedAtMs === null) {
    return { code: 'BEFORE_ACTIVATION', message: 'start: the vehicle is not activated', retryable: false };
  }
  if (record.startMs < activatedAtMs) {
    const message = `start: ${iso(record.startMs)} is before the vehicle's activation at ${iso(activatedAtMs)}`;
    return { code: 'BEFORE_ACTIVATION', message, retryable: false };
  }
  if (maxLateDays !== null && record.startMs < nowMs - maxLateDays * MS_PER_DAY) {
    const message = `start: ${iso(record.startMs)} is more than ${maxLateDays} days before receipt at ${iso(nowMs)}`;
    return { code: 'TOO_OLD', message, retryable: false };
  }
  if (record.endMs > nowMs + MAX_CLOCK_AHEAD_MS) {
    const message = `end: ${iso(record.endMs)} is more than 5 min after receipt at ${iso(nowMs)}`;
    return { code: 'CLOCK_AHEAD', message, retryable: true };
  }
  return null;
}
