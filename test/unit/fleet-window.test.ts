import t from 'tap';
import fc from 'fast-check';
import { createRng, PROTOCOL_WINDOW, UnackedWindow, type UsageMessage } from '../../simulators/fleet/index.js';

const message = (batch: number): UsageMessage => ({ batch, epoch: 'e', records: [{ seq: batch, startMs: 0, endMs: 1, up: 1, down: 1, iface: 'tbox', app: 'general' }] });
const window = (seed = 'w', overrides: Partial<typeof PROTOCOL_WINDOW> = {}) => new UnackedWindow({ ...PROTOCOL_WINDOW, ...overrides, rng: createRng(seed) });

t.test('DESIGN 3.2 defaults: 16 unacked, 60 s, backoff to 10 min, ±20 %', async (t) => {
  t.same({ ...PROTOCOL_WINDOW }, { maxUnacked: 16, ackTimeoutMs: 60_000, maxBackoffMs: 600_000, jitter: 0.2 });
});

t.test('at most 16 messages are unacknowledged; an ack frees a slot', async (t) => {
  const w = window();
  for (let b = 1; b <= 16; b++) w.sent(message(b), '', 0);
  t.notOk(w.hasRoom());
  t.throws(() => w.sent(message(17), '', 0), /window full/);
  t.ok(w.acked(5));
  t.ok(w.hasRoom());
  w.sent(message(17), '', 0);
  t.equal(w.size, 16);
  t.equal(w.acked(5), undefined, 'a second ack of the same batch is a late ack');
  t.throws(() => w.sent(message(17), '', 0), /window full/);
});

t.test('a batch is unique among unacknowledged messages (DESIGN 3.1)', async (t) => {
  const w = window();
  w.sent(message(1), '', 0);
  t.throws(() => w.sent(message(1), '', 0), /already unacknowledged/);
});

t.test('resent after the timeout, each wait twice the last, capped at 10 min, each within ±20 %', async (t) => {
  fc.assert(
    fc.property(fc.string(), (seed) => {
      const w = window(seed);
      w.sent(message(1), '', 0);
      const waits: number[] = [];
      let last = 0;
      for (let i = 0; i < 8; i++) {
        const at = w.nextDueMs()!;
        if (w.due(at - 1).length !== 0) return false; // never early
        const due = w.due(at);
        if (due.length !== 1 || due[0]!.sends !== i + 2) return false;
        waits.push(at - last);
        last = at;
      }
      const nominal = [60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000, 600_000];
      return waits.every((wait, i) => wait >= nominal[i]! * 0.8 && wait <= nominal[i]! * 1.2);
    }),
  );
  t.pass('held for 100 random seeds');
});

t.test('the jitter spreads a fleet: waits are not all the same', async (t) => {
  const waits = new Set<number>();
  for (let v = 0; v < 50; v++) {
    const w = window(`vehicle-${v}`);
    w.sent(message(1), '', 0);
    waits.add(w.nextDueMs()!);
  }
  t.ok(waits.size > 40);
});

t.test('after a reconnect every unacked message is resent at once, in batch order, and waits start again', async (t) => {
  const w = window();
  w.sent(message(3), '', 0);
  w.sent(message(1), '', 0);
  w.sent(message(2), '', 10);
  w.due(w.nextDueMs()!); // one backoff step for some
  w.due(w.nextDueMs()!);
  const resent = w.resendAll(1_000_000);
  t.same(resent.map((e) => e.message.batch), [1, 2, 3]);
  for (const e of resent) {
    t.equal(e.waits, 0);
    t.ok(e.resendAtMs >= 1_000_000 + 48_000 && e.resendAtMs <= 1_000_000 + 72_000);
  }
  t.equal(resent[0]!.firstSentMs, 0, 'latency still counts from the first send');
});

t.test('options are checked', async (t) => {
  t.throws(() => window('x', { maxUnacked: 0 }), /maxUnacked/);
  t.throws(() => window('x', { ackTimeoutMs: 10, maxBackoffMs: 5 }), /ackTimeoutMs/);
  t.throws(() => window('x', { jitter: 1 }), /jitter/);
});
