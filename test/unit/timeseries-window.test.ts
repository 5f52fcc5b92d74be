import t from 'tap';
import fc from 'fast-check';
import { exportableUntil, floorToMinute, MINUTE_MS, nextWindow } from '../../src/timeseries/windows.js';

const at = (h: number, m: number, s = 0, ms = 0) => Date.UTC(2026, 10, 24, h, m, s, ms);

t.test('floorToMinute', async (t) => {
  t.equal(floorToMinute(at(1, 2, 59, 999)), at(1, 2));
  t.equal(floorToMinute(at(1, 2)), at(1, 2));
  t.equal(floorToMinute(-1), -MINUTE_MS, 'before 1970 too');
  t.throws(() => floorToMinute(1.5), RangeError);
});

t.test('exportableUntil: the last minute boundary at least the safety lag ago', async (t) => {
  const table: Array<[now: number, lag: number, until: number]> = [
    [at(10, 5, 0), 60_000, at(10, 4)],
    [at(10, 5, 59, 999), 60_000, at(10, 4)],
    [at(10, 5, 30), 0, at(10, 5)],
    [at(10, 5, 30), 120_000, at(10, 3)],
  ];
  for (const [now, lag, until] of table) t.equal(exportableUntil(now, lag), until, `${new Date(now).toISOString()} lag ${lag}`);
  t.throws(() => exportableUntil(at(10, 5), -1), RangeError);
});

t.test('nextWindow', async (t) => {
  t.same(nextWindow(at(10, 0), at(10, 4), 10 * MINUTE_MS), { fromMs: at(10, 0), toMs: at(10, 4) }, 'everything closed');
  t.same(nextWindow(at(10, 0), at(12, 0), 10 * MINUTE_MS), { fromMs: at(10, 0), toMs: at(10, 10) }, 'a backfill in bounded steps');
  t.equal(nextWindow(at(10, 4), at(10, 4), 10 * MINUTE_MS), null, 'caught up');
  t.equal(nextWindow(at(10, 5), at(10, 4), 10 * MINUTE_MS), null, 'a watermark ahead of the clock (another instance, a clock step back) waits');
  t.throws(() => nextWindow(at(10, 0), at(10, 4), 90_000), RangeError, 'windows are whole minutes');
});

t.test('property: successive windows tile commit time without gap or overlap and never pass the bound', async () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 1, max: 30 }), (start, span, maxMinutes) => {
      const watermark = start * MINUTE_MS;
      const until = watermark + span * MINUTE_MS;
      let current = watermark;
      for (let window = nextWindow(current, until, maxMinutes * MINUTE_MS); window; window = nextWindow(current, until, maxMinutes * MINUTE_MS)) {
        if (window.fromMs !== current || window.toMs <= window.fromMs || window.toMs > until) return false;
        if (window.toMs - window.fromMs > maxMinutes * MINUTE_MS || window.toMs % MINUTE_MS !== 0) return false;
        current = window.toMs;
      }
      return current === until;
    }),
  );
});
