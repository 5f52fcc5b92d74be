import fc from 'fast-check';
import t from 'tap';
import { extendService } from '../../src/sims/lifecycle.js';
import { decideTransition, SIM_EVENTS, SIM_STATES, type SimEvent, type SimState } from '../../src/sims/state-machine.js';

// DESIGN 6's transition table, exactly: every (state, event) pair is either the table's target or a
// refusal naming the current state.

const TABLE: Record<string, SimState> = {
  'inventory/startTest': 'test',
  'test/endTest': 'inventory',
  'inventory/order': 'sold',
  'sold/refund': 'inventory',
  'sold/activate': 'active',
  'active/suspend': 'suspended',
  'active/expire': 'suspended',
  'suspended/resume': 'active',
  'suspended/recharge': 'active',
  'inventory/retire': 'retired',
  'test/retire': 'retired',
  'sold/retire': 'retired',
  'active/retire': 'retired',
  'suspended/retire': 'retired',
};

const NOW = Date.parse('2026-06-01T00:00:00+08:00');
const facts = { nowMs: NOW, serviceUntilMs: NOW - 1, responsibleSubjectVerified: true };

t.test('every state × event', async (t) => {
  for (const state of SIM_STATES) {
    for (const event of SIM_EVENTS) {
      // facts that satisfy every guard of the pair, so only the table decides
      const f = event === 'resume' || event === 'recharge' ? { ...facts, serviceUntilMs: NOW + 1 } : facts;
      const decision = decideTransition(state, event, f);
      const expected = TABLE[`${state}/${event}`];
      if (expected) {
        t.same(decision, { ok: true, from: state, to: expected }, `${state} —${event}→ ${expected}`);
      } else {
        t.equal(decision.ok, false, `${state} —${event}→ refused`);
        if (!decision.ok) {
          t.equal(decision.code, 'INVALID_STATE');
          t.match(decision.message, new RegExp(`^the SIM is ${state};`), 'names the current state');
        }
      }
    }
  }
});

t.test('guards', async (t) => {
  t.match(decideTransition('sold', 'activate', { ...facts, responsibleSubjectVerified: false }), { ok: false, code: 'REALNAME_REQUIRED' });
  t.match(decideTransition('suspended', 'resume', { ...facts, serviceUntilMs: NOW }), { ok: false, code: 'SERVICE_EXPIRED' }, 'serviceUntil must be > now');
  t.match(decideTransition('suspended', 'resume', { ...facts, serviceUntilMs: null }), { ok: true }, 'no term: no limit');
  t.match(decideTransition('suspended', 'recharge', { ...facts, serviceUntilMs: NOW + 1 }), { ok: true, to: 'active' });
  t.match(decideTransition('active', 'expire', { ...facts, serviceUntilMs: NOW + 1 }), { ok: false, code: 'SERVICE_NOT_EXPIRED' });
  t.match(decideTransition('active', 'expire', { ...facts, serviceUntilMs: NOW }), { ok: true, to: 'suspended' }, 'serviceUntil = now has passed');
  t.match(decideTransition('active', 'suspend', { ...facts, serviceUntilMs: NOW + 1 }), { ok: true }, 'a manual suspension needs no expiry');
});

t.test('retired is final; every other state can retire', async () => {
  fc.assert(
    fc.property(fc.constantFrom(...SIM_STATES), fc.constantFrom(...SIM_EVENTS), (state: SimState, event: SimEvent) => {
      const decision = decideTransition('retired', event, facts);
      const retire = decideTransition(state, 'retire', facts);
      return !decision.ok && (state === 'retired' ? !retire.ok : retire.ok && retire.to === 'retired');
    }),
  );
});

t.test('terms: max(serviceUntil, activation, now) + months, calendar months in the billing timezone', async (t) => {
  const tz = 'Asia/Shanghai';
  const at = (text: string) => Date.parse(text);
  const iso = (ms: number) => new Date(ms).toISOString();
  t.equal(iso(extendService(null, at('2026-01-31T10:00:00+08:00'), at('2026-01-31T10:00:00+08:00'), 1, tz)), iso(at('2026-02-28T10:00:00+08:00')), 'day clamped to the month end');
  t.equal(iso(extendService(null, at('2028-01-31T10:00:00+08:00'), at('2028-01-31T10:00:00+08:00'), 1, tz)), iso(at('2028-02-29T10:00:00+08:00')), 'leap year');
  t.equal(iso(extendService(at('2027-03-15T10:00:00+08:00'), at('2026-03-15T10:00:00+08:00'), at('2026-09-01T00:00:00+08:00'), 12, tz)), iso(at('2028-03-15T10:00:00+08:00')), 'an early renewal extends from serviceUntil');
  t.equal(iso(extendService(at('2026-03-15T10:00:00+08:00'), at('2025-03-15T10:00:00+08:00'), at('2026-05-02T08:00:00+08:00'), 12, tz)), iso(at('2027-05-02T08:00:00+08:00')), 'a lapsed card extends from now');
  t.equal(iso(extendService(null, at('2026-08-31T23:30:00+08:00'), at('2026-08-31T23:30:00+08:00'), 6, tz)), iso(at('2027-02-28T23:30:00+08:00')), 'the local date decides, not UTC');
});
