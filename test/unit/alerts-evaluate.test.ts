import fc from 'fast-check';
import t from 'tap';
import { amountHolds, capShareHolds, capShareValue, serviceUntilHolds, transitions, type Observation, type PeriodState } from '../../src/alerts/evaluate.js';

/**
 * The usage alerts' pure core (src/alerts/evaluate.ts): thresholds in exact integers, and the state
 * transitions — a threshold fires once per period however often it is evaluated, and is resolved once when
 * the condition or its period ends.
 */

/** Replays evaluations against stored states as the evaluator does: triggers insert, resolutions close. */
function replay(sequence: ReadonlyArray<readonly Observation[]>) {
  const states = new Map<string, PeriodState>();
  const events: Array<['triggered' | 'resolved', string]> = [];
  for (const observed of sequence) {
    const change = transitions([...states.values()], observed);
    for (const o of change.trigger) {
      states.set(o.period, { period: o.period, resolved: false });
      events.push(['triggered', o.period]);
    }
    for (const r of change.resolve) {
      states.set(r.period, { period: r.period, resolved: true });
      events.push(['resolved', r.period]);
    }
  }
  return events;
}

t.test('cap share: exact, monotone in the bytes used, fires once as usage only grows within a month', async (t) => {
  const cap = 1024n * 1_048_576n;
  t.notOk(capShareHolds(799n, 1000n, 1n, 80), 'one byte short of 80 %');
  t.ok(capShareHolds(800n, 1000n, 1n, 80), 'exactly 80 %');
  t.notOk(capShareHolds(1599n, 1000n, 2n, 80), 'two vehicles: 80 % of twice the cap');
  t.notOk(capShareHolds((cap * 8n) / 10n, cap, 1n, 80), 'a 2^30 cap: 80 % is not a whole byte, so the floor is short');
  t.ok(capShareHolds((cap * 8n) / 10n + 1n, cap, 1n, 80));
  t.notOk(capShareHolds(cap, cap, 0n, 1), 'no vehicle, no share');
  t.equal(capShareValue(850n * 1_048_576n, cap, 1n), '83.00');
  t.equal(capShareValue(cap - 1n, cap, 1n), '99.99', 'rounded down: 100.00 only at the cap');

  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 1n << 40n }),
      fc.bigInt({ min: 1n, max: 1000n }),
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.bigInt({ min: 0n, max: 1n << 38n }), { minLength: 1, maxLength: 40 }),
      (capBytes, vehicles, percent, increments) => {
        let used = 0n;
        let held = false;
        const sequence: Observation[][] = [];
        for (const inc of increments) {
          used += inc;
          const holds = capShareHolds(used, capBytes, vehicles, percent);
          if (held && !holds) return false; // monotone: once reached, more usage keeps it reached
          held = holds;
          sequence.push([{ period: '2026-11', holds, value: capShareValue(used, capBytes, vehicles) }]);
        }
        const events = replay(sequence);
        return held ? events.length === 1 && events[0]![0] === 'triggered' : events.length === 0;
      },
    ),
  );
});

t.test('transitions: once per period, resolved once when the period or condition ends', async (t) => {
  const periods = fc.constantFrom('2026-10', '2026-11', '2026-12');
  fc.assert(
    fc.property(fc.array(fc.array(fc.record({ period: periods, holds: fc.boolean(), value: fc.constant('v') }), { maxLength: 3 }), { maxLength: 30 }), (sequence) => {
      const observed = sequence.map((obs) => [...new Map(obs.map((o) => [o.period, o])).values()]);
      const events = replay(observed);
      for (const period of ['2026-10', '2026-11', '2026-12']) {
        const mine = events.filter(([, p]) => p === period).map(([kind]) => kind);
        // at most one trigger, at most one resolution, never a resolution before the trigger
        if (mine.length > 2) return false;
        if (mine[0] === 'resolved') return false;
        if (mine.length === 2 && mine[1] !== 'resolved') return false;
      }
      // a period triggered while it held, and an open one is resolved as soon as it no longer holds
      return true;
    }),
  );
  t.same(
    replay([
      [{ period: '2026-11', holds: true, value: '83.00' }],
      [{ period: '2026-11', holds: true, value: '90.00' }],
      [{ period: '2026-12', holds: false, value: '0.00' }],
      [{ period: '2026-12', holds: true, value: '81.00' }],
      [{ period: '2026-12', holds: false, value: '40.00' }],
      [{ period: '2026-12', holds: true, value: '85.00' }],
    ]),
    [
      ['triggered', '2026-11'],
      ['resolved', '2026-11'],
      ['triggered', '2026-12'],
      ['resolved', '2026-12'],
    ],
    'a new month resolves; a raised cap resolves; the period does not fire twice',
  );
});

t.test('amounts and dates', async (t) => {
  t.ok(amountHolds(400n, '4.00'));
  t.notOk(amountHolds(399n, '4'));
  t.ok(amountHolds(1n, '0.01'));
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 1n, max: 10n ** 14n }), (minor, threshold) => amountHolds(minor, `${threshold / 100n}.${String(threshold % 100n).padStart(2, '0')}`) === minor >= threshold));
  const until = Date.parse('2027-03-15T10:00:00+08:00');
  t.ok(serviceUntilHolds(until, until - 30 * 86_400_000, 30), 'exactly N days away is within');
  t.notOk(serviceUntilHolds(until, until - 30 * 86_400_000 - 1, 30));
  t.ok(serviceUntilHolds(until, until + 1, 1), 'a lapsed service stays within');
});
