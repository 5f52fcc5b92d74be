import t from 'tap';
import fc from 'fast-check';
import { createBackpressureGate, type GateTicket } from '../../src/ingest/backpressure.js';

/** Issue 11: the ingest gate on pending payload bytes, with hysteresis (closes above high, opens at half). */

t.test('closes above the high water, reopens at the low water, not in between', async (t) => {
  const changes: Array<[boolean, number]> = [];
  const gate = createBackpressureGate({ maxPendingBytes: 100, onChange: (open, g) => changes.push([open, g.pendingBytes]) });
  t.equal(gate.lowWaterBytes, 50, 'low water at half by default');
  const tickets: GateTicket[] = [];
  const admitted: number[] = [];
  for (let i = 0; i < 4; i++) tickets.push(gate.enter(30, () => admitted.push(i)));
  t.same(admitted, [0, 1, 2, 3], 'admitted at once while open: the fourth takes it to 120');
  t.equal(gate.pendingBytes, 120);
  t.equal(gate.open, false, 'above 100: closed');
  const late = gate.enter(10, () => admitted.push(4));
  t.equal(late.admitted, false, 'a message offered while closed waits');
  t.equal(gate.waiting, 1);
  tickets[0]!.release();
  t.equal(gate.pendingBytes, 90);
  t.equal(gate.open, false, '90 is below the high water but above the low: still closed (hysteresis)');
  tickets[1]!.release();
  t.equal(gate.pendingBytes, 60 + 0, 'still above 50');
  t.equal(gate.open, false);
  tickets[2]!.release();
  t.same(admitted, [0, 1, 2, 3, 4], 'at 30 it reopened and admitted the waiting message');
  t.equal(gate.pendingBytes, 40);
  t.equal(gate.open, true);
  t.same(changes, [[false, 120], [true, 30]]);
  t.equal(gate.closures, 1);
  tickets[2]!.release();
  t.equal(gate.pendingBytes, 40, 'a second release changes nothing');
});

t.test('a waiting message can be withdrawn (its connection closed) and is never admitted', async (t) => {
  const gate = createBackpressureGate({ maxPendingBytes: 10 });
  const first = gate.enter(11, () => undefined);
  let admitted = false;
  const withdrawn = gate.enter(5, () => (admitted = true));
  const after: string[] = [];
  gate.enter(5, () => after.push('third'));
  withdrawn.release();
  t.equal(gate.waiting, 1);
  first.release();
  t.equal(admitted, false);
  t.same(after, ['third'], 'the line goes on past it');
  t.equal(gate.pendingBytes, 5);
});

t.test('a message larger than the whole bound is still admitted when the gate is open', async (t) => {
  const gate = createBackpressureGate({ maxPendingBytes: 10 });
  let admitted = false;
  const big = gate.enter(1_000, () => (admitted = true));
  t.ok(admitted);
  t.equal(gate.open, false);
  big.release();
  t.equal(gate.open, true);
  t.equal(gate.pendingBytes, 0);
});

t.test('callbacks may enter and release synchronously; order is kept', async (t) => {
  const gate = createBackpressureGate({ maxPendingBytes: 10 });
  const order: string[] = [];
  const blocker = gate.enter(20, () => order.push('blocker'));
  gate.enter(1, (ticket) => {
    order.push('a');
    gate.enter(1, () => order.push('c')); // offered from inside a callback: after b, which was offered first
    ticket.release();
  });
  gate.enter(1, () => order.push('b'));
  blocker.release();
  t.same(order, ['blocker', 'a', 'b', 'c']);
});

t.test('bad bounds and sizes are refused', async (t) => {
  t.throws(() => createBackpressureGate({ maxPendingBytes: 0 }), RangeError);
  t.throws(() => createBackpressureGate({ maxPendingBytes: 1.5 }), RangeError);
  t.throws(() => createBackpressureGate({ maxPendingBytes: 10, lowWaterBytes: 11 }), RangeError);
  const gate = createBackpressureGate({ maxPendingBytes: 10 });
  t.throws(() => gate.enter(-1, () => undefined), RangeError);
  t.throws(() => gate.enter(Number.NaN, () => undefined), RangeError);
});

/**
 * The model: every ticket is offered, admitted (by the gate), released. Random interleavings of offers,
 * releases of admitted tickets and withdrawals of waiting ones, with every invariant checked at each step.
 */
type Step = { kind: 'enter'; bytes: number } | { kind: 'release'; pick: number } | { kind: 'withdraw'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('enter' as const), bytes: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), pick: fc.nat() }) },
);

t.test('property: pending never negative, bounded by high water + one message, hysteresis, FIFO, liveness', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000 }), fc.array(step, { maxLength: 300 }), (high, steps) => {
      const events: Array<{ open: boolean; pending: number }> = [];
      const gate = createBackpressureGate({ maxPendingBytes: high, onChange: (open, g) => events.push({ open, pending: g.pendingBytes }) });
      const low = gate.lowWaterBytes;
      const offered: number[] = [];
      const admittedOrder: number[] = [];
      const tickets: GateTicket[] = [];
      const held = new Set<number>(); // admitted, not released
      const waiting = new Set<number>();
      let maxBytes = 0;
      const check = () => {
        const sum = [...held].reduce((n, i) => n + tickets[i]!.bytes, 0);
        if (gate.pendingBytes !== sum) throw new Error(`pending ${gate.pendingBytes} ≠ held ${sum}`);
        if (gate.pendingBytes < 0) throw new Error('pending negative');
        if (gate.pendingBytes > high + maxBytes) throw new Error(`pending ${gate.pendingBytes} > ${high} + ${maxBytes}`);
        if (gate.waiting !== waiting.size) throw new Error(`waiting ${gate.waiting} ≠ ${waiting.size}`);
        if (gate.open && gate.waiting > 0) throw new Error('open with messages waiting');
        if (!gate.open && gate.pendingBytes <= low) throw new Error('closed at or below the low water');
      };
      for (const s of steps) {
        if (s.kind === 'enter') {
          const id = tickets.length;
          maxBytes = Math.max(maxBytes, s.bytes);
          offered.push(id);
          waiting.add(id);
          tickets.push(
            gate.enter(s.bytes, (ticket) => {
              if (ticket !== tickets[id] && tickets[id] !== undefined) throw new Error('wrong ticket');
              waiting.delete(id);
              held.add(id);
              admittedOrder.push(id);
            }),
          );
        } else if (s.kind === 'release' && held.size > 0) {
          const id = [...held][s.pick % held.size]!;
          held.delete(id);
          tickets[id]!.release();
          tickets[id]!.release(); // idempotent
        } else if (s.kind === 'withdraw' && waiting.size > 0) {
          const id = [...waiting][s.pick % waiting.size]!;
          waiting.delete(id);
          offered.splice(offered.indexOf(id), 1);
          tickets[id]!.release();
        }
        check();
      }
      // State changes alternate, each on its side of the hysteresis band.
      events.forEach((e, i) => {
        if (e.open === (i % 2 === 0)) throw new Error(`change ${i} is not an alternation`);
        if (!e.open && !(e.pending > high)) throw new Error(`closed at ${e.pending}, not above ${high}`);
        if (e.open && !(e.pending <= low)) throw new Error(`opened at ${e.pending}, above ${low}`);
      });
      // Liveness: once everything admitted is released, every waiting message is admitted in turn.
      while (held.size > 0) {
        const id = [...held][0]!;
        held.delete(id);
        tickets[id]!.release();
        check();
      }
      if (waiting.size > 0) throw new Error(`${waiting.size} never admitted`);
      // FIFO: admitted in the order offered (withdrawn ones left out).
      if (admittedOrder.join() !== offered.join()) throw new Error(`order ${admittedOrder.join()} ≠ ${offered.join()}`);
    }),
    { numRuns: 500 },
  );
  t.pass('held for 500 random interleavings');
});
