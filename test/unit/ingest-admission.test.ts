import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { allocateRecord, capKey, type FundingState } from '../../src/allocate/index.js';
import { loadCatalog } from '../../src/catalog/index.js';
import { compileRuntime } from '../../src/catalog/runtime.js';
import { admit, splitInserted, Verdicts, type PreparedMessage } from '../../src/ingest/admission.js';
import { parseUsageMessage } from '../../src/ingest/parse-usage.js';
import { planAllocations } from '../../src/ingest/planning.js';
import { recordKey } from '../../src/ledger/records.js';
import type { VehicleForIngest } from '../../src/vehicles/fleet-repository.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

// The pure steps of a batch (src/ingest/admission.ts, planning.ts), without a database.
const runtime = compileRuntime(await loadCatalog(path.join(PROJECT_ROOT, 'sponsors')));
const VIN = 'LSVAU2180N2183294';
const OTHER = 'LFV2A21K6N4000001';
const RECEIVED = Date.parse('2026-11-03T09:00:00+08:00');
const ACTIVATED = Date.parse('2026-01-15T10:00:00+08:00');
const vehicles = new Map<string, VehicleForIngest>([
  [VIN, { vin: VIN, automaker: runtime.catalog.sponsors.find((s) => s.kind === 'automaker')?.id ?? 'oem', model: 'x1', activatedAtMs: ACTIVATED }],
  [OTHER, { vin: OTHER, automaker: 'unknown-oem', model: 'x1', activatedAtMs: null }],
]);

interface Rec {
  seq: number;
  startMs?: number;
  up?: number;
  host?: string;
}

const FIRST_START = Date.parse('2026-11-03T08:15:00+08:00');
const BEFORE_ACTIVATION = Date.parse('2025-11-03T08:15:00+08:00');
const stamp = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');

function message(vin: string, records: Rec[], raw?: string): PreparedMessage {
  const text =
    raw ??
    JSON.stringify({
      v: 1,
      batch: 7,
      epoch: '0',
      records: records.map((r) => ({
        seq: r.seq,
        start: stamp(r.startMs ?? FIRST_START),
        end: stamp((r.startMs ?? FIRST_START) + 60_000),
        up: r.up ?? 1024,
        down: 2048,
        host: r.host ?? 'tile.amap.com',
        iface: 'tbox',
      })),
    });
  const payload = Buffer.from(text);
  return { vin, topic: `tbox/${vin}/usage`, payload, receivedAtMs: RECEIVED, parsed: parseUsageMessage(payload) };
}

t.test('admission: time checks before repeats, duplicates and conflicts within a message, whole-message rejections', async (t) => {
  const messages = [
    message(VIN, [
      { seq: 1 },
      { seq: 2, startMs: BEFORE_ACTIVATION }, // before activation: rejected, does not claim seq 2
      { seq: 2 },
      { seq: 1 }, // the same content again: a duplicate
      { seq: 3 },
      { seq: 3, up: 9 }, // other content: SEQ_CONFLICT
    ]),
    message(OTHER, [{ seq: 1 }]), // not activated
    message(VIN, [], '{"v":1,'),
  ];
  const verdicts = new Verdicts(messages);
  const candidates = admit(messages, vehicles, runtime, 42, verdicts);
  t.same(
    candidates.map((c) => [c.message, c.index, c.record.seq, c.ledger.catalogVersionId]),
    [
      [0, 0, 1, 42],
      [0, 2, 2, 42],
      [0, 4, 3, 42],
    ],
  );
  t.ok(candidates.every((c) => c.ledger.app === candidates[0]!.ledger.app && c.ledger.app !== ''), 'classified');
  t.same(
    verdicts.outcomes[0]!.rejected.map((r) => [r.index, r.code]),
    [
      [1, 'BEFORE_ACTIVATION'],
      [5, 'SEQ_CONFLICT'],
    ],
  );
  t.equal(verdicts.outcomes[0]!.duplicates, 1);
  t.same(verdicts.outcomes[1]!.rejected.map((r) => r.code), ['BEFORE_ACTIVATION']);
  t.same(
    verdicts.dead.map((d) => [d.vin, d.code, d.recordIndex]),
    [
      [VIN, 'BEFORE_ACTIVATION', 1],
      [VIN, 'SEQ_CONFLICT', 5],
      [OTHER, 'BEFORE_ACTIVATION', 0],
      [VIN, 'INVALID_PAYLOAD', null],
    ],
    'one dead letter per rejection, the whole-message one without a record index',
  );
  t.ok(verdicts.dead.every((d, i) => d.payload === messages[[0, 0, 1, 2][i]!]!.payload), 'dead letters share the message payload, not copies');
});

t.test('admission: every record of a message is a candidate, a duplicate or a rejection, exactly once', async (t) => {
  const recordArb = fc.record({ seq: fc.integer({ min: 0, max: 6 }), up: fc.integer({ min: 0, max: 3 }), early: fc.boolean() });
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 12 }), (records) => {
      const messages = [message(VIN, records.map((r) => ({ seq: r.seq, up: r.up, ...(r.early ? { startMs: BEFORE_ACTIVATION } : {}) })))];
      const verdicts = new Verdicts(messages);
      const candidates = admit(messages, vehicles, runtime, 1, verdicts);
      const outcome = verdicts.outcomes[0]!;
      t.equal(candidates.length + outcome.duplicates + outcome.rejected.length, records.length);
      t.equal(new Set(candidates.map((c) => c.record.seq)).size, candidates.length, 'one candidate per seq');
    }),
  );
});

t.test('after the insert: the first kept version is fresh, a later one in the batch is compared with it, the rest with the stored one', async (t) => {
  const messages = [message(VIN, [{ seq: 1 }, { seq: 2 }]), message(VIN, [{ seq: 1 }, { seq: 2, up: 5 }, { seq: 3 }])];
  const verdicts = new Verdicts(messages);
  const candidates = admit(messages, vehicles, runtime, 1, verdicts);
  const inserted = new Set([recordKey(VIN, '0', 1), recordKey(VIN, '0', 2)]);
  const { fresh, earlier } = splitInserted(candidates, inserted, verdicts);
  t.same(fresh.map((c) => [c.message, c.record.seq]), [[0, 1], [0, 2]]);
  t.same(earlier.map((c) => [c.message, c.record.seq]), [[1, 3]], 'seq 3 was not inserted: stored by an earlier batch');
  t.same(verdicts.outcomes.map((o) => [o.accepted, o.duplicates, o.rejected.map((r) => r.code)]), [
    [2, 0, []],
    [0, 1, ['SEQ_CONFLICT']],
  ]);
});

t.test('planning equals allocating each vehicle serially, and the deltas are exactly the counters that changed', async (t) => {
  const apps = [...new Set(runtime.catalog.sponsorships.map((s) => s.app))];
  const hosts = new Map<string, string>();
  for (const app of runtime.catalog.apps) {
    const host = app.hosts.find((h) => !h.includes('*'));
    if (host && apps.includes(app.id)) hosts.set(app.id, host);
  }
  const hostList = [...hosts.values(), 'example.org'];
  const kinds: string[] = [];
  fc.assert(
    fc.property(
      fc.array(fc.record({ host: fc.constantFrom(...hostList), mib: fc.integer({ min: 0, max: 400 }) }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 0, max: 500 }),
      (flows, packMiB) => {
        const messages = [message(VIN, flows.map((f, i) => ({ seq: i, host: f.host, up: f.mib * 1_048_576, startMs: FIRST_START + i * 60_000 })))];
        const verdicts = new Verdicts(messages);
        const candidates = admit(messages, vehicles, runtime, 1, verdicts);
        const billable = candidates.filter((c) => c.record.up + c.record.down > 0n);
        const packId = runtime.catalog.packs.find((p) => p.apps.includes('*'))!.id;
        const initial = new Map<string, FundingState>([
          [VIN, { capUsedBytes: new Map(), packs: [{ id: 'p1', packId, purchasedAtMs: ACTIVATED, expiresAtMs: RECEIVED + 86_400_000, balanceBytes: BigInt(packMiB) * 1_048_576n, createdSeq: 1 }] }],
        ]);
        const plan = planAllocations(runtime, vehicles, billable, initial, new Map());
        let state = initial.get(VIN)!;
        const expected: Array<[number, string, bigint]> = [];
        for (const c of billable) {
          const result = allocateRecord(runtime.funding, { vin: VIN, automaker: vehicles.get(VIN)!.automaker, model: 'x1', activatedAt: ACTIVATED }, { app: c.ledger.app, startMs: c.record.startMs, bytes: c.record.up + c.record.down, simTest: false }, state);
          state = result.state;
          for (const a of result.allocations) expected.push([c.record.seq, a.payer, a.bytes]);
        }
        t.same(plan.rows.map((r) => [r.seq, r.payer, r.bytes]), expected);
        kinds.push(...plan.rows.map((r) => r.kind));
        t.same(plan.state.get(VIN), state);
        for (const c of billable) {
          const sum = plan.rows.filter((r) => r.seq === c.record.seq).reduce((s, r) => s + r.bytes, 0n);
          t.equal(sum, c.record.up + c.record.down, 'every byte allocated once');
        }
        t.same(
          plan.caps.map((d) => [capKey(d.sponsorshipId, d.month), d.bytes]),
          [...state.capUsedBytes].filter(([, bytes]) => bytes > 0n),
          'a cap delta for each counter that moved',
        );
        const balance = state.packs[0]!.balanceBytes;
        t.same(plan.packs, balance === BigInt(packMiB) * 1_048_576n ? [] : [{ id: 'p1', balanceBytes: balance }]);
      },
    ),
    { numRuns: 50 },
  );
  t.same([...new Set(kinds)].sort(), ['overage', 'pack', 'sponsored'], 'the runs reached every kind of payer');
});
