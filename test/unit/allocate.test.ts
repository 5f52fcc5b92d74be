import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import fc from 'fast-check';
import {
  allocateRecord,
  AllocationError,
  capKey,
  compileFunding,
  fundsExhausted,
  PAYER_NONE,
  PAYER_OWNER,
  type Allocation,
  type AllocationKind,
  type FundingCatalog,
  type FundingState,
  type PackInstance,
  type SponsorshipInput,
  type UsageInput,
  type VehicleInput,
} from '../../src/allocate/index.js';
import { addCalendarYears, dateOnlyToInstant, monthOf, parseOffsetTimestamp } from '../../src/shared/time.js';

const MiB = 1_048_576n;
const TZ = 'Asia/Shanghai';
const DAY = 86_400_000;

/** An instant written in Shanghai time, for readable fixtures. */
function at(text: string): number {
  const ms = parseOffsetTimestamp(`${text}+08:00`);
  if (ms === null) throw new Error(`bad fixture time ${text}`);
  return ms;
}

const CATALOG: FundingCatalog = {
  sponsorships: [
    // listed out of waterfall order on purpose: compileFunding sorts
    { id: 'music-b', sponsor: 'kugou', app: 'music', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 50, pricePerGiB: '2.50', priority: 5 },
    { id: 'music-a', sponsor: 'qq-music', app: 'music', vehicles: { automaker: 'oem-acme', models: ['*'] }, capMiBPerVehicleMonth: 100, pricePerGiB: '3.00', priority: 10 },
    { id: 'nav', sponsor: 'amap', app: 'navigation', vehicles: { automaker: 'oem-acme', models: ['x1', 'x3'] }, pricePerGiB: '4.00', validFrom: '2026-01-01', validUntil: '2027-01-01' },
    { id: 'telemetry', sponsor: 'oem-acme', app: 'telemetry', vehicles: { automaker: 'oem-acme' }, pricePerGiB: '1.00', validYearsFromActivation: 10 },
    { id: 'video-zero', sponsor: 'iqiyi', app: 'video', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 0, pricePerGiB: '5.00' },
    // equal priority: sponsor id decides, then sponsorship id
    { id: 'fm-2', sponsor: 'b-radio', app: 'fm', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 1, pricePerGiB: '1.00' },
    { id: 'fm-9', sponsor: 'a-radio', app: 'fm', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 1, pricePerGiB: '1.00' },
    { id: 'fm-1', sponsor: 'a-radio', app: 'fm', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 1, pricePerGiB: '1.00' },
    // uncapped at high priority shadows the capped one below it
    { id: 'ota-oem', sponsor: 'oem-acme', app: 'ota', vehicles: { automaker: 'oem-acme' }, pricePerGiB: '0.50', priority: 1 },
    { id: 'ota-other', sponsor: 'zz-cdn', app: 'ota', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 10, pricePerGiB: '0.10' },
    { id: 'music-other-oem', sponsor: 'qq-music', app: 'music', vehicles: { automaker: 'oem-beta' }, pricePerGiB: '3.00' },
  ],
  packs: [
    { id: 'hotspot-10g', apps: ['wifi-hotspot'] },
    { id: 'general-1g', apps: ['*'] },
    { id: 'music-pack', apps: ['music', 'video'] },
  ],
  overage: { pricePerGiB: '8.00' },
  billing: { timezone: TZ },
};
const FUNDING = compileFunding(CATALOG);

const VEHICLE: VehicleInput = { vin: 'LSVAU2180N2183294', automaker: 'oem-acme', model: 'x1', activatedAt: at('2026-01-15T10:00:00.000') };
const T = at('2026-11-03T08:15:00.000');
const MONTH = '2026-11';

function pack(id: string, packId: string, purchased: string, expires: string, balanceMiB: bigint, createdSeq: number): PackInstance {
  return { id, packId, purchasedAtMs: at(purchased), expiresAtMs: at(expires), balanceBytes: balanceMiB * MiB, createdSeq };
}

function state(capUsed: Record<string, bigint> = {}, packs: PackInstance[] = []): FundingState {
  return { capUsedBytes: new Map(Object.entries(capUsed)), packs };
}

/** [kind, payer, sponsorship or pack instance id, bytes, price] */
type Row = [AllocationKind, string, string | null, bigint, string | null];

function rows(allocations: readonly Allocation[]): Row[] {
  return allocations.map((a) => [a.kind, a.payer, a.sponsorshipId ?? a.packInstanceId, a.bytes, a.pricePerGiB]);
}

interface Case {
  name: string;
  vehicle?: VehicleInput;
  record: UsageInput;
  state?: FundingState;
  expected: Row[];
  /** expected counters after the record */
  capUsed?: Record<string, bigint>;
  packBalances?: Record<string, bigint>;
}

const cases: Case[] = [
  {
    name: 'cap split across two sponsors by priority, rest to overage',
    record: { app: 'music', startMs: T, bytes: 170n * MiB },
    expected: [
      ['sponsored', 'qq-music', 'music-a', 100n * MiB, '3.00'],
      ['sponsored', 'kugou', 'music-b', 50n * MiB, '2.50'],
      ['overage', 'oem-acme', null, 20n * MiB, '8.00'],
    ],
    capUsed: { [capKey('music-a', MONTH)]: 100n * MiB, [capKey('music-b', MONTH)]: 50n * MiB },
  },
  {
    name: 'cap exhausted mid-record',
    record: { app: 'music', startMs: T, bytes: 30n * MiB },
    state: state({ [capKey('music-a', MONTH)]: 90n * MiB, [capKey('music-b', MONTH)]: 50n * MiB }),
    expected: [
      ['sponsored', 'qq-music', 'music-a', 10n * MiB, '3.00'],
      ['overage', 'oem-acme', null, 20n * MiB, '8.00'],
    ],
    capUsed: { [capKey('music-a', MONTH)]: 100n * MiB, [capKey('music-b', MONTH)]: 50n * MiB },
  },
  {
    name: 'a cap lowered below its use leaves no room',
    record: { app: 'music', startMs: T, bytes: 5n },
    state: state({ [capKey('music-a', MONTH)]: 500n * MiB }),
    expected: [['sponsored', 'kugou', 'music-b', 5n, '2.50']],
  },
  {
    name: 'equal priority: sponsor id, then sponsorship id (byte order)',
    record: { app: 'fm', startMs: T, bytes: 3n * MiB + 1n },
    expected: [
      ['sponsored', 'a-radio', 'fm-1', MiB, '1.00'],
      ['sponsored', 'a-radio', 'fm-9', MiB, '1.00'],
      ['sponsored', 'b-radio', 'fm-2', MiB, '1.00'],
      ['overage', 'oem-acme', null, 1n, '8.00'],
    ],
  },
  {
    name: 'an uncapped sponsorship takes everything',
    record: { app: 'ota', startMs: T, bytes: 5000n * MiB },
    expected: [['sponsored', 'oem-acme', 'ota-oem', 5000n * MiB, '0.50']],
    capUsed: { [capKey('ota-oem', MONTH)]: 5000n * MiB },
  },
  {
    name: 'a zero cap takes nothing; the pack covering the app follows',
    record: { app: 'video', startMs: T, bytes: 2n * MiB },
    state: state({}, [pack('p1', 'music-pack', '2026-11-01T00:00:00.000', '2026-12-01T00:00:00.000', 10n, 1)]),
    expected: [['pack', PAYER_OWNER, 'p1', 2n * MiB, null]],
    packBalances: { p1: 8n * MiB },
  },
  {
    name: 'pack used up mid-record, then overage',
    record: { app: 'wifi-hotspot', startMs: T, bytes: 8n * MiB },
    state: state({}, [pack('p1', 'hotspot-10g', '2026-10-20T12:00:00.000', '2026-11-19T12:00:00.000', 5n, 1)]),
    expected: [
      ['pack', PAYER_OWNER, 'p1', 5n * MiB, null],
      ['overage', 'oem-acme', null, 3n * MiB, '8.00'],
    ],
    packBalances: { p1: 0n },
  },
  {
    name: 'earliest expiry first, then earliest purchase, then creation order',
    record: { app: 'wifi-hotspot', startMs: T, bytes: 10n * MiB },
    state: state({}, [
      pack('late', 'general-1g', '2026-10-01T00:00:00.000', '2026-12-31T00:00:00.000', 4n, 1),
      pack('tie-b', 'hotspot-10g', '2026-10-05T00:00:00.000', '2026-11-30T00:00:00.000', 2n, 3),
      pack('tie-a', 'hotspot-10g', '2026-10-05T00:00:00.000', '2026-11-30T00:00:00.000', 2n, 2),
      pack('early-bought', 'hotspot-10g', '2026-10-01T00:00:00.000', '2026-11-30T00:00:00.000', 1n, 9),
      pack('soonest', 'hotspot-10g', '2026-10-10T00:00:00.000', '2026-11-10T00:00:00.000', 1n, 5),
    ]),
    expected: [
      ['pack', PAYER_OWNER, 'soonest', MiB, null],
      ['pack', PAYER_OWNER, 'early-bought', MiB, null],
      ['pack', PAYER_OWNER, 'tie-a', 2n * MiB, null],
      ['pack', PAYER_OWNER, 'tie-b', 2n * MiB, null],
      ['pack', PAYER_OWNER, 'late', 4n * MiB, null],
    ],
    packBalances: { soonest: 0n, 'early-bought': 0n, 'tie-a': 0n, 'tie-b': 0n, late: 0n },
  },
  {
    name: 'expired, not yet bought, empty and non-covering packs are ignored',
    record: { app: 'wifi-hotspot', startMs: T, bytes: 3n * MiB },
    state: state({}, [
      pack('expired-now', 'hotspot-10g', '2026-10-04T08:15:00.000', '2026-11-03T08:15:00.000', 5n, 1),
      pack('future', 'hotspot-10g', '2026-11-03T08:15:00.001', '2026-12-03T08:15:00.001', 5n, 2),
      pack('empty', 'hotspot-10g', '2026-11-01T00:00:00.000', '2026-11-05T00:00:00.000', 0n, 3),
      pack('music-only', 'music-pack', '2026-11-01T00:00:00.000', '2026-11-05T00:00:00.000', 5n, 4),
      pack('bought-now', 'hotspot-10g', '2026-11-03T08:15:00.000', '2026-12-03T08:15:00.000', 1n, 5),
    ]),
    expected: [
      ['pack', PAYER_OWNER, 'bought-now', MiB, null],
      ['overage', 'oem-acme', null, 2n * MiB, '8.00'],
    ],
    packBalances: { 'expired-now': 5n * MiB, future: 5n * MiB, empty: 0n, 'music-only': 5n * MiB, 'bought-now': 0n },
  },
  {
    name: 'sponsorships before packs',
    record: { app: 'music', startMs: T, bytes: 151n * MiB },
    state: state({}, [pack('g', 'general-1g', '2026-11-01T00:00:00.000', '2026-12-01T00:00:00.000', 1024n, 1)]),
    expected: [
      ['sponsored', 'qq-music', 'music-a', 100n * MiB, '3.00'],
      ['sponsored', 'kugou', 'music-b', 50n * MiB, '2.50'],
      ['pack', PAYER_OWNER, 'g', MiB, null],
    ],
    packBalances: { g: 1023n * MiB },
  },
  {
    name: 'model filter: x1 and x3 are covered',
    vehicle: { ...VEHICLE, model: 'x3' },
    record: { app: 'navigation', startMs: T, bytes: 1000n },
    expected: [['sponsored', 'amap', 'nav', 1000n, '4.00']],
  },
  {
    name: 'model filter: x2 is not covered',
    vehicle: { ...VEHICLE, model: 'x2' },
    record: { app: 'navigation', startMs: T, bytes: 1000n },
    expected: [['overage', 'oem-acme', null, 1000n, '8.00']],
  },
  {
    name: 'another automaker is not covered by oem-acme sponsorships',
    vehicle: { ...VEHICLE, automaker: 'oem-beta' },
    record: { app: 'ota', startMs: T, bytes: 1000n },
    expected: [['overage', 'oem-beta', null, 1000n, '8.00']],
  },
  {
    name: 'validUntil is exclusive: last millisecond of 2026 (Shanghai) is sponsored',
    record: { app: 'navigation', startMs: at('2026-12-31T23:59:59.999'), bytes: 1n },
    expected: [['sponsored', 'amap', 'nav', 1n, '4.00']],
  },
  {
    name: 'validUntil is exclusive: 2027-01-01 00:00 Shanghai is not',
    record: { app: 'navigation', startMs: at('2027-01-01T00:00:00.000'), bytes: 1n },
    expected: [['overage', 'oem-acme', null, 1n, '8.00']],
  },
  {
    name: 'validFrom is inclusive at 00:00 Shanghai',
    record: { app: 'navigation', startMs: at('2026-01-01T00:00:00.000'), bytes: 1n },
    expected: [['sponsored', 'amap', 'nav', 1n, '4.00']],
  },
  {
    name: 'before validFrom',
    record: { app: 'navigation', startMs: at('2025-12-31T23:59:59.999'), bytes: 1n },
    expected: [['overage', 'oem-acme', null, 1n, '8.00']],
  },
  {
    name: 'validYearsFromActivation: last millisecond of year 10',
    record: { app: 'telemetry', startMs: at('2036-01-15T09:59:59.999'), bytes: 7n },
    expected: [['sponsored', 'oem-acme', 'telemetry', 7n, '1.00']],
  },
  {
    name: 'validYearsFromActivation: exactly 10 years after activation',
    record: { app: 'telemetry', startMs: at('2036-01-15T10:00:00.000'), bytes: 7n },
    expected: [['overage', 'oem-acme', null, 7n, '8.00']],
  },
  {
    name: 'validYearsFromActivation: activated 29 Feb, ends 28 Feb 10 years on',
    vehicle: { ...VEHICLE, activatedAt: at('2024-02-29T10:00:00.000') },
    record: { app: 'telemetry', startMs: at('2034-02-28T09:59:59.999'), bytes: 7n },
    expected: [['sponsored', 'oem-acme', 'telemetry', 7n, '1.00']],
  },
  {
    name: 'validYearsFromActivation: activated 29 Feb, over at 28 Feb 10:00',
    vehicle: { ...VEHICLE, activatedAt: at('2024-02-29T10:00:00.000') },
    record: { app: 'telemetry', startMs: at('2034-02-28T10:00:00.000'), bytes: 7n },
    expected: [['overage', 'oem-acme', null, 7n, '8.00']],
  },
  {
    name: 'validYearsFromActivation: not before activation',
    record: { app: 'telemetry', startMs: VEHICLE.activatedAt - 1, bytes: 7n },
    expected: [['overage', 'oem-acme', null, 7n, '8.00']],
  },
  {
    name: 'month boundary: 23:59:59.999 Shanghai still counts against October',
    record: { app: 'music', startMs: at('2026-10-31T23:59:59.999'), bytes: 10n },
    state: state({ [capKey('music-a', '2026-10')]: 100n * MiB, [capKey('music-b', '2026-10')]: 50n * MiB }),
    expected: [['overage', 'oem-acme', null, 10n, '8.00']],
  },
  {
    name: 'month boundary: 00:00 Shanghai starts a fresh cap',
    record: { app: 'music', startMs: at('2026-11-01T00:00:00.000'), bytes: 10n },
    state: state({ [capKey('music-a', '2026-10')]: 100n * MiB, [capKey('music-b', '2026-10')]: 50n * MiB }),
    expected: [['sponsored', 'qq-music', 'music-a', 10n, '3.00']],
    capUsed: {
      [capKey('music-a', '2026-10')]: 100n * MiB,
      [capKey('music-b', '2026-10')]: 50n * MiB,
      [capKey('music-a', '2026-11')]: 10n,
    },
  },
  {
    name: 'zero bytes: no allocation',
    record: { app: 'music', startMs: T, bytes: 0n },
    expected: [],
    capUsed: {},
  },
  {
    name: 'SIM in test: everything to none, no counter touched',
    record: { app: 'music', startMs: T, bytes: 5n * MiB, simTest: true },
    state: state({}, [pack('g', 'general-1g', '2026-11-01T00:00:00.000', '2026-12-01T00:00:00.000', 1024n, 1)]),
    expected: [['test', PAYER_NONE, null, 5n * MiB, null]],
    capUsed: {},
    packBalances: { g: 1024n * MiB },
  },
  {
    name: 'unknown app: straight to overage',
    record: { app: 'general', startMs: T, bytes: 12345n },
    expected: [['overage', 'oem-acme', null, 12345n, '8.00']],
  },
];

t.test('allocateRecord: the waterfall of DESIGN 4.2', async (t) => {
  for (const c of cases) {
    const input = c.state ?? state();
    const snapshot = { capUsed: new Map(input.capUsedBytes), packs: input.packs.map((p) => ({ ...p })) };
    const result = allocateRecord(FUNDING, c.vehicle ?? VEHICLE, c.record, input);
    t.same(rows(result.allocations), c.expected, c.name);
    t.equal(result.month, monthOf(c.record.startMs, TZ), `${c.name}: month`);
    const total = result.allocations.reduce((sum, a) => sum + a.bytes, 0n);
    t.equal(total, c.record.bytes, `${c.name}: allocations sum to the record's bytes`);
    for (const a of result.allocations) t.equal(a.overage, a.kind === 'overage', `${c.name}: overage flag`);
    if (c.capUsed) t.same(Object.fromEntries(result.state.capUsedBytes), c.capUsed, `${c.name}: cap counters`);
    if (c.packBalances) {
      t.same(Object.fromEntries(result.state.packs.map((p) => [p.id, p.balanceBytes])), c.packBalances, `${c.name}: pack balances`);
    }
    t.same(input.capUsedBytes, snapshot.capUsed, `${c.name}: input caps untouched`);
    t.same(input.packs, snapshot.packs, `${c.name}: input packs untouched`);
  }
});

t.test('allocateRecord: unchanged state is returned as is', async (t) => {
  const input = state();
  t.equal(allocateRecord(FUNDING, VEHICLE, { app: 'music', startMs: T, bytes: 0n }, input).state, input);
  t.equal(allocateRecord(FUNDING, VEHICLE, { app: 'general', startMs: T, bytes: 9n }, input).state, input);
});

t.test('allocateRecord: a vehicle stream threads its state', async (t) => {
  let current = state();
  const seen: Row[][] = [];
  for (const bytes of [60n * MiB, 60n * MiB, 60n * MiB]) {
    const result = allocateRecord(FUNDING, VEHICLE, { app: 'music', startMs: T, bytes }, current);
    seen.push(rows(result.allocations));
    current = result.state;
  }
  t.same(seen, [
    [['sponsored', 'qq-music', 'music-a', 60n * MiB, '3.00']],
    [
      ['sponsored', 'qq-music', 'music-a', 40n * MiB, '3.00'],
      ['sponsored', 'kugou', 'music-b', 20n * MiB, '2.50'],
    ],
    [
      ['sponsored', 'kugou', 'music-b', 30n * MiB, '2.50'],
      ['overage', 'oem-acme', null, 30n * MiB, '8.00'],
    ],
  ]);
});

t.test('overage: list form by automaker; payer defaults to the automaker', async (t) => {
  const funding = compileFunding({
    ...CATALOG,
    overage: [
      { automaker: 'oem-acme', pricePerGiB: '8.00' },
      { automaker: 'oem-beta', payer: 'oem-acme', pricePerGiB: '6.5' },
    ],
  });
  const record = { app: 'general', startMs: T, bytes: 10n };
  t.same(rows(allocateRecord(funding, VEHICLE, record, state()).allocations), [['overage', 'oem-acme', null, 10n, '8.00']]);
  t.same(rows(allocateRecord(funding, { ...VEHICLE, automaker: 'oem-beta' }, record, state()).allocations), [
    ['overage', 'oem-acme', null, 10n, '6.5'],
  ]);
  t.throws(() => allocateRecord(funding, { ...VEHICLE, automaker: 'oem-gamma' }, record, state()), {
    code: 'NO_OVERAGE_PRICE',
  });
  const single = compileFunding({ ...CATALOG, overage: { payer: 'oem-acme', pricePerGiB: '9' } });
  t.same(rows(allocateRecord(single, { ...VEHICLE, automaker: 'oem-beta' }, record, state()).allocations), [
    ['overage', 'oem-acme', null, 10n, '9'],
  ]);
});

t.test('allocateRecord: inconsistent input is an AllocationError', async (t) => {
  const orphan = state({}, [pack('p', 'gone', '2026-11-01T00:00:00.000', '2026-12-01T00:00:00.000', 1n, 1)]);
  t.throws(() => allocateRecord(FUNDING, VEHICLE, { app: 'general', startMs: T, bytes: 1n }, orphan), { code: 'UNKNOWN_PACK' });
  t.throws(() => allocateRecord(FUNDING, VEHICLE, { app: 'general', startMs: T, bytes: -1n }, state()), AllocationError);
  t.throws(() => allocateRecord(FUNDING, VEHICLE, { app: 'general', startMs: 0.5, bytes: 1n }, state()), { code: 'INVALID_USAGE' });
});

t.test('compileFunding', async (t) => {
  const fm = FUNDING.sponsorships.get('fm')?.get('oem-acme')?.map((s) => s.id);
  t.same(fm, ['fm-1', 'fm-9', 'fm-2']);
  const music = FUNDING.sponsorships.get('music')?.get('oem-acme');
  t.same(music?.map((s) => [s.id, s.capBytes, s.priority]), [
    ['music-a', 100n * MiB, 10],
    ['music-b', 50n * MiB, 5],
  ]);
  const nav = FUNDING.sponsorships.get('navigation')?.get('oem-acme')?.[0];
  t.equal(nav?.validFromMs, at('2026-01-01T00:00:00.000'));
  t.equal(nav?.validUntilMs, at('2027-01-01T00:00:00.000'));
  t.same(nav?.models, new Set(['x1', 'x3']));
  t.equal(music?.[1]?.models, null, 'models default to every model');
  const withTimestamp = compileFunding({
    ...CATALOG,
    sponsorships: [{ ...CATALOG.sponsorships[0]!, validFrom: '2026-03-01T12:00:00Z' }],
  });
  t.equal(withTimestamp.sponsorships.get('music')?.get('oem-acme')?.[0]?.validFromMs, Date.UTC(2026, 2, 1, 12));
  const bad = (patch: Partial<SponsorshipInput>) => () =>
    compileFunding({ ...CATALOG, sponsorships: [{ ...CATALOG.sponsorships[0]!, ...patch }] });
  t.throws(bad({ validFrom: '2026-02-30' }), { code: 'INVALID_FUNDING_CATALOG' });
  t.throws(bad({ capMiBPerVehicleMonth: 1.5 }), { code: 'INVALID_FUNDING_CATALOG' });
  t.throws(bad({ pricePerGiB: '1.00001' }), { code: 'INVALID_FUNDING_CATALOG' });
  t.throws(bad({ pricePerGiB: '-1' }), { code: 'INVALID_FUNDING_CATALOG' });
  t.throws(() => compileFunding({ ...CATALOG, billing: { timezone: 'Nowhere/Land' } }), { code: 'INVALID_FUNDING_CATALOG' });
});

t.test('fundsExhausted (DESIGN 3.3)', async (t) => {
  const fullMusic = { [capKey('music-a', MONTH)]: 100n * MiB, [capKey('music-b', MONTH)]: 50n * MiB };
  const generalPack = pack('g', 'general-1g', '2026-11-01T00:00:00.000', '2026-12-01T00:00:00.000', 1n, 1);
  const table: Array<[string, string, number, FundingState, boolean, VehicleInput?]> = [
    ['capped sponsorship with room', 'music', T, state(), false],
    ['one cap full, the other has room', 'music', T, state({ [capKey('music-a', MONTH)]: 100n * MiB }), false],
    ['every cap full, no pack', 'music', T, state(fullMusic), true],
    ['every cap full, a covering pack with balance', 'music', T, state(fullMusic, [generalPack]), false],
    ['every cap full, the pack is empty', 'music', T, state(fullMusic, [{ ...generalPack, balanceBytes: 0n }]), true],
    ['every cap full, the pack expired', 'music', at('2026-12-01T00:00:00.000'), state({ [capKey('music-a', '2026-12')]: 100n * MiB, [capKey('music-b', '2026-12')]: 50n * MiB }, [generalPack]), true],
    ['caps full last month, a new month has room', 'music', at('2026-12-01T00:00:00.000'), state(fullMusic), false],
    ['uncapped valid sponsorship', 'ota', T, state({ [capKey('ota-oem', MONTH)]: 10n ** 15n }), false],
    ['zero cap only', 'video', T, state(), true],
    ['sponsorship not yet valid', 'navigation', at('2025-12-31T23:59:59.999'), state(), true],
    ['sponsorship valid', 'navigation', at('2026-01-01T00:00:00.000'), state(), false],
    ['model not covered', 'navigation', T, state(), true, { ...VEHICLE, model: 'x2' }],
    ['hotspot without pack: overage does not count', 'wifi-hotspot', T, state(), true],
    ['hotspot with a pack', 'wifi-hotspot', T, state({}, [generalPack]), false],
  ];
  for (const [name, app, now, s, expected, vehicle] of table) {
    t.equal(fundsExhausted(FUNDING, vehicle ?? VEHICLE, app, now, s), expected, name);
  }
});

// ---- properties over random catalogs and record streams ----

const APPS = ['a', 'b', 'wifi-hotspot'] as const;
const AUTOMAKERS = ['oem-x', 'oem-y'] as const;
const MODELS = ['m1', 'm2'] as const;
const DATES = ['2025-12-01', '2026-01-01', '2026-02-15', '2026-03-01', '2026-06-30'] as const;
const WINDOW_START = dateOnlyToInstant('2025-11-01', TZ);
const WINDOW_END = dateOnlyToInstant('2026-08-01', TZ);
const PACK_PRODUCTS = [
  { id: 'pa', apps: ['a'] },
  { id: 'pall', apps: ['*'] },
  { id: 'ph', apps: ['wifi-hotspot', 'b'] },
];

const sponsorshipArb = (index: number) =>
  fc.record({
    id: fc.constant(`sp-${index}`),
    sponsor: fc.constantFrom('s1', 's2', 's3'),
    app: fc.constantFrom(...APPS),
    vehicles: fc.record({
      automaker: fc.constantFrom(...AUTOMAKERS),
      models: fc.constantFrom<readonly string[]>(['*'], ['m1'], ['m2'], ['m1', 'm2']),
    }),
    capMiBPerVehicleMonth: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    pricePerGiB: fc.constantFrom('1.00', '0.5', '2.1234'),
    validFrom: fc.option(fc.constantFrom(...DATES), { nil: undefined }),
    validUntil: fc.option(fc.constantFrom(...DATES), { nil: undefined }),
    validYearsFromActivation: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
    priority: fc.integer({ min: 0, max: 2 }),
  });

const catalogArb: fc.Arbitrary<FundingCatalog> = fc
  .tuple(
    fc.integer({ min: 0, max: 7 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => sponsorshipArb(i)))),
    fc.oneof(
      fc.record({ payer: fc.option(fc.constant('oem-x'), { nil: undefined }), pricePerGiB: fc.constant('8.00') }),
      fc.constant([
        { automaker: 'oem-x', pricePerGiB: '8.00' },
        { automaker: 'oem-y', payer: 'oem-x', pricePerGiB: '7.00' },
      ]),
    ),
  )
  .map(([sponsorships, overage]) => ({ sponsorships, packs: PACK_PRODUCTS, overage, billing: { timezone: TZ } }));

const timeArb = fc.integer({ min: WINDOW_START, max: WINDOW_END });
const vehicleArb: fc.Arbitrary<VehicleInput> = fc.record({
  vin: fc.constant('LSVAU2180N2183294'),
  automaker: fc.constantFrom(...AUTOMAKERS),
  model: fc.constantFrom(...MODELS),
  // activation anniversaries fall inside the window for validYearsFromActivation 1
  activatedAt: fc.integer({ min: WINDOW_START - 365 * DAY, max: WINDOW_START + 60 * DAY }),
});
const packsArb: fc.Arbitrary<PackInstance[]> = fc
  .array(
    fc.record({
      packId: fc.constantFrom(...PACK_PRODUCTS.map((p) => p.id)),
      purchasedAtMs: timeArb,
      validDays: fc.integer({ min: 1, max: 90 }),
      balanceBytes: fc.bigInt({ min: 0n, max: 3n * MiB }),
      createdSeq: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 5 },
  )
  .map((list) =>
    list.map(({ validDays, ...p }, i) => ({ ...p, id: `pk-${i}`, expiresAtMs: p.purchasedAtMs + validDays * DAY })),
  );
const recordArb: fc.Arbitrary<UsageInput> = fc.record({
  app: fc.constantFrom(...APPS, 'general'),
  startMs: timeArb,
  bytes: fc.oneof(fc.bigInt({ min: 0n, max: 3n * MiB }), fc.constantFrom(0n, 1n, MiB, 2n * MiB)),
  simTest: fc.constantFrom(false, false, false, false, true),
});
const recordsArb = fc.array(recordArb, { minLength: 1, maxLength: 25 });

/** An independent statement of "covers V and is valid at t" (DESIGN 4, 4.2 step 1). */
function oracleCovers(s: SponsorshipInput, v: VehicleInput, app: string, t: number): boolean {
  const models = s.vehicles.models ?? ['*'];
  if (s.app !== app || s.vehicles.automaker !== v.automaker) return false;
  if (!models.includes('*') && !models.includes(v.model)) return false;
  if (s.validFrom !== undefined && t < dateOnlyToInstant(s.validFrom, TZ)) return false;
  if (s.validUntil !== undefined && t >= dateOnlyToInstant(s.validUntil, TZ)) return false;
  const years = s.validYearsFromActivation;
  return years === undefined || (v.activatedAt <= t && t < addCalendarYears(v.activatedAt, years, TZ));
}

function oracleOrder(a: SponsorshipInput, b: SponsorshipInput): number {
  const byPriority = (b.priority ?? 0) - (a.priority ?? 0);
  if (byPriority !== 0) return byPriority;
  return Buffer.compare(Buffer.from(`${a.sponsor}\u0000${a.id}`), Buffer.from(`${b.sponsor}\u0000${b.id}`));
}

function oraclePackCovers(p: PackInstance, app: string, t: number): boolean {
  const apps = PACK_PRODUCTS.find((product) => product.id === p.packId)?.apps ?? [];
  return (apps.includes('*') || apps.includes(app)) && p.purchasedAtMs <= t && t < p.expiresAtMs;
}

function run(catalog: FundingCatalog, vehicle: VehicleInput, packs: PackInstance[], records: UsageInput[]) {
  const funding = compileFunding(catalog);
  let current: FundingState = state({}, packs);
  return records.map((record) => {
    const before = current;
    const exhausted = fundsExhausted(funding, vehicle, record.app, record.startMs, before);
    const result = allocateRecord(funding, vehicle, record, before);
    current = result.state;
    return { record, before, exhausted, result };
  });
}

t.test('property: the waterfall invariants hold for random catalogs and streams', async (t) => {
  fc.assert(
    fc.property(catalogArb, vehicleArb, packsArb, recordsArb, (catalog, vehicle, packs, records) => {
      const caps = new Map(catalog.sponsorships.map((s) => [s.id, s]));
      const initialBalance = new Map(packs.map((p) => [p.id, p.balanceBytes]));
      // independent ledgers, rebuilt from the allocations alone
      const sponsoredBytes = new Map<string, bigint>();
      const packDebits = new Map<string, bigint>();

      for (const { record, before, exhausted, result } of run(catalog, vehicle, packs, records)) {
        const allocations = result.allocations;
        const sum = allocations.reduce((total, a) => total + a.bytes, 0n);
        if (sum !== record.bytes) throw new Error(`sum ${sum} ≠ ${record.bytes}`);
        if (record.bytes === 0n && allocations.length !== 0) throw new Error('zero bytes allocated');
        if (allocations.some((a) => a.bytes <= 0n)) throw new Error('empty allocation');
        if (result.month !== monthOf(record.startMs, TZ)) throw new Error('wrong month');

        if (record.simTest === true && record.bytes > 0n) {
          if (allocations.length !== 1 || allocations[0]?.payer !== PAYER_NONE) throw new Error('test record not to none');
          if (result.state !== before) throw new Error('test record changed state');
          continue;
        }
        if (record.bytes === 0n) continue;

        // ledgers and the returned state agree; nothing is exceeded
        for (const a of allocations) {
          if (a.kind === 'sponsored') {
            const key = capKey(a.sponsorshipId!, result.month);
            sponsoredBytes.set(key, (sponsoredBytes.get(key) ?? 0n) + a.bytes);
          } else if (a.kind === 'pack') {
            packDebits.set(a.packInstanceId!, (packDebits.get(a.packInstanceId!) ?? 0n) + a.bytes);
          }
        }
        for (const [key, used] of sponsoredBytes) {
          if (result.state.capUsedBytes.get(key) !== used) throw new Error(`counter ${key} disagrees`);
          const cap = caps.get(key.slice(8))?.capMiBPerVehicleMonth;
          if (cap !== undefined && used > BigInt(cap) * MiB) throw new Error(`cap ${key} exceeded`);
        }
        for (const p of result.state.packs) {
          const balance = initialBalance.get(p.id)! - (packDebits.get(p.id) ?? 0n);
          if (p.balanceBytes !== balance || balance < 0n) throw new Error(`pack ${p.id} balance wrong`);
        }

        // steps in order, and a lower step only when every higher one had no room
        const kinds = allocations.map((a) => a.kind);
        const rank = { sponsored: 0, pack: 1, overage: 2, test: 3 };
        if (kinds.some((k, i) => i > 0 && rank[k] < rank[kinds[i - 1]!])) throw new Error('steps out of order');
        if (kinds.filter((k) => k === 'overage').length > 1) throw new Error('two overage allocations');

        const covering = catalog.sponsorships.filter((s) => oracleCovers(s, vehicle, record.app, record.startMs)).sort(oracleOrder);
        const sponsored = allocations.filter((a) => a.kind === 'sponsored').map((a) => a.sponsorshipId);
        const coveringIds = covering.map((s) => s.id);
        const usedIds = coveringIds.filter((id) => sponsored.includes(id));
        if (sponsored.length !== usedIds.length || sponsored.some((id, i) => id !== usedIds[i])) {
          throw new Error(`sponsored ${sponsored} not in waterfall order of ${coveringIds}`);
        }
        const isFullAfter = (s: SponsorshipInput): boolean =>
          s.capMiBPerVehicleMonth !== undefined &&
          (result.state.capUsedBytes.get(capKey(s.id, result.month)) ?? 0n) >= BigInt(s.capMiBPerVehicleMonth) * MiB;
        // every covering sponsorship before the last one used is full after the record
        const lastUsed = coveringIds.indexOf(sponsored[sponsored.length - 1] ?? '');
        if (covering.slice(0, Math.max(lastUsed, 0)).some((s) => !isFullAfter(s))) throw new Error('skipped a sponsorship with room');
        const wentBelowSponsors = allocations.some((a) => a.kind !== 'sponsored');
        if (wentBelowSponsors && covering.some((s) => !isFullAfter(s))) throw new Error('pack/overage while a sponsor had room');

        const usable = before.packs
          .filter((p) => p.balanceBytes > 0n && oraclePackCovers(p, record.app, record.startMs))
          .sort((a, b) => a.expiresAtMs - b.expiresAtMs || a.purchasedAtMs - b.purchasedAtMs || a.createdSeq - b.createdSeq || (a.id < b.id ? -1 : 1));
        const usedPacks = allocations.filter((a) => a.kind === 'pack').map((a) => a.packInstanceId);
        const usableIds = usable.map((p) => p.id);
        if (usedPacks.some((id, i) => id !== usableIds[i])) throw new Error(`packs ${usedPacks} not in order of ${usableIds}`);
        const balanceAfter = (id: string) => result.state.packs.find((p) => p.id === id)!.balanceBytes;
        if (usedPacks.slice(0, -1).some((id) => balanceAfter(id!) !== 0n)) throw new Error('moved on from a pack with balance');
        if (kinds.includes('overage') && usableIds.some((id) => balanceAfter(id) !== 0n)) throw new Error('overage while a pack had balance');

        // FUNDS_EXHAUSTED before the record ⇔ the record went straight to overage
        if (exhausted !== (kinds[0] === 'overage')) throw new Error(`fundsExhausted ${exhausted} but allocated ${kinds}`);
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('invariants hold');
});

t.test('property: deterministic, and independent of catalog listing order', async (t) => {
  fc.assert(
    fc.property(catalogArb, vehicleArb, packsArb, recordsArb, fc.integer(), (catalog, vehicle, packs, records, seed) => {
      const first = run(catalog, vehicle, packs, records).map((r) => r.result);
      const second = run(catalog, vehicle, packs, records).map((r) => r.result);
      // a rotation of the sponsorship list and the pack list
      const rotate = <T>(list: readonly T[]): T[] => {
        const k = list.length === 0 ? 0 : Math.abs(seed) % list.length;
        return [...list.slice(k), ...list.slice(0, k)];
      };
      const shuffled = run({ ...catalog, sponsorships: rotate(catalog.sponsorships) }, vehicle, rotate(packs), records).map(
        (r) => r.result,
      );
      const view = (results: typeof first) =>
        results.map((r) => ({
          month: r.month,
          allocations: rows(r.allocations),
          caps: [...r.state.capUsedBytes].sort(),
          packs: [...r.state.packs].sort((a, b) => (a.id < b.id ? -1 : 1)),
        }));
      return isDeepStrictEqual(view(second), view(first)) && isDeepStrictEqual(view(shuffled), view(first));
    }),
    { numRuns: 100 },
  );
  t.pass('deterministic');
});
