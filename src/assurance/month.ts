import { invalid } from '../shared/errors.js';
import { formatInstant, nextMonth, startOfMonth } from '../shared/time.js';

/** A month that has started at `nowMs` as its instants [from, to) in `timezone`; 422 on `month` otherwise. */
export function startedMonth(month: string, timezone: string, nowMs: number): { from: Date; to: Date } {
  const from = startOfMonth(month, timezone);
  if (from > nowMs) throw invalid('month', `${month} has not started yet (it starts ${formatInstant(from, timezone)})`);
  return { from: new Date(from), to: new Date(startOfMonth(nextMonth(month), timezone)) };
}
