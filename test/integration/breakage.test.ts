import t from 'tap';
import { browserLike, dataAttributes, signIn } from '../browser/web-fixture.js';
import { manualClock, startTestService, TEST_ADMIN_TOKEN } from '../helpers/service.js';

// Issue 13, pack breakage: packs expiring partly used, exact to the byte and the cent. Demo catalog:
// hotspot-10g (10,240 MiB, 30 days, 30.00 tax-inclusive), general-5g (5,120 MiB, 30 days, 20.00).

const clock = manualClock(Date.parse('2026-12-03T10:00:00+08:00'));
const svc = await startTestService(t, {}, clock);
const MIB = 1_048_576n;
const HOTSPOT = 10_240n * MIB;
const GENERAL = 5_120n * MIB;

/** cents = Σ price × unused / size, rounded half up once, computed here without src/shared/money. */
function proRataCents(priceCents: bigint, size: bigint, unused: readonly bigint[]): string {
  const numerator = priceCents * unused.reduce((a, b) => a + b, 0n);
  let cents = numerator / size;
  if ((numerator % size) * 2n >= size) cents += 1n;
  return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
}

let seq = 0;
async function hotspot(car: { vin: string; deviceSecret: string }, start: string, bytes: bigint) {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    const record = { seq: ++seq, start, end: start, up: 0, down: Number(bytes), host: 'www.example.com', port: 443, iface: 'hotspot' };
    await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: seq, records: [record] }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

async function buy(vin: string, pack: string, purchasedAt: string) {
  const response = await svc.request('POST', `/v1/vehicles/${vin}/packs`, { body: { pack, purchasedAt } });
  if (response.status !== 201 && response.status !== 200) throw new Error(`pack: ${response.status} ${JSON.stringify(response.body)}`);
}

const a = await svc.registerVehicle(701);
const b = await svc.registerVehicle(702);
await buy(a.vin, 'hotspot-10g', '2026-10-20T00:00:00+08:00'); // expires 2026-11-19
await buy(a.vin, 'hotspot-10g', '2026-10-25T00:00:00+08:00'); // expires 2026-11-24
await buy(b.vin, 'general-5g', '2026-10-01T00:00:00+08:00'); // expires 2026-10-31, unused
await buy(b.vin, 'general-5g', '2026-11-05T00:00:00+08:00'); // expires 2026-12-05: not yet
const USED_1 = (1n << 30n) + 12_345n;
const USED_2 = 7_000_000n;

t.test('breakage of November: two hotspot packs expired partly used', async (t) => {
  await hotspot(a, '2026-10-21T08:00:00+08:00', USED_1); // the earliest-expiring pack first (DESIGN 4.2)
  await hotspot(a, '2026-11-20T08:00:00+08:00', USED_2); // the first has expired: the second pays
  const response = await svc.request('GET', '/v1/breakage?month=2026-11');
  t.equal(response.status, 200, JSON.stringify(response.body));
  const unused = [HOTSPOT - USED_1, HOTSPOT - USED_2];
  t.same(response.body, {
    month: '2026-11',
    currency: 'CNY',
    packs: [
      {
        pack: 'general-5g',
        price: '20.00',
        sizeBytes: Number(GENERAL),
        sold: { packs: 1, bytes: Number(GENERAL), revenue: '20.00' },
        expired: { packs: 0, bytesSold: 0, bytesUsed: 0, bytesUnused: 0, unusedRevenue: '0.00' },
      },
      {
        pack: 'hotspot-10g',
        price: '30.00',
        sizeBytes: Number(HOTSPOT),
        sold: { packs: 0, bytes: 0, revenue: '0.00' },
        expired: { packs: 2, bytesSold: Number(2n * HOTSPOT), bytesUsed: Number(USED_1 + USED_2), bytesUnused: Number(unused[0]! + unused[1]!), unusedRevenue: proRataCents(3000n, HOTSPOT, unused) },
      },
    ],
    totals: { soldRevenue: '20.00', unusedRevenue: proRataCents(3000n, HOTSPOT, unused), bytesUnused: Number(unused[0]! + unused[1]!) },
  });
  t.equal(proRataCents(3000n, HOTSPOT, unused), '56.98', 'the figure by hand: 30.00 × 20,394,082,311 / 10,737,418,240');
});

t.test('October: the packs sold, and an unused pack that expired whole', async (t) => {
  const response = await svc.request('GET', '/v1/breakage?month=2026-10');
  t.match(response.body.packs, [
    { pack: 'general-5g', sold: { packs: 1, revenue: '20.00' }, expired: { packs: 1, bytesUsed: 0, bytesUnused: Number(GENERAL), unusedRevenue: '20.00' } },
    { pack: 'hotspot-10g', sold: { packs: 2, bytes: Number(2n * HOTSPOT), revenue: '60.00' }, expired: { packs: 0 } },
  ]);
  const csv = await svc.service.app.inject({ method: 'GET', url: '/v1/breakage.csv?month=2026-10', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  t.equal(csv.statusCode, 200);
  t.equal(csv.body.split('\n')[1], `general-5g,20.00,${GENERAL},1,${GENERAL},20.00,1,${GENERAL},0,${GENERAL},20.00`);
});

t.test('bad input and callers', async (t) => {
  t.equal((await svc.request('GET', '/v1/breakage?month=2027-01')).status, 422, 'a month not yet started');
  t.equal((await svc.request('GET', '/v1/breakage?month=26-11')).status, 422);
  t.equal((await svc.request('GET', '/v1/breakage')).status, 422);
  t.equal((await svc.request('GET', '/v1/breakage?month=2026-11', { token: null })).status, 401);
  const key = await svc.request('POST', '/v1/sponsors/amap/keys');
  t.equal((await svc.request('GET', '/v1/breakage?month=2026-11', { token: key.body.key })).status, 403);
});

t.test('the operator page and its CSV', async (t) => {
  const web = browserLike(svc);
  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  const page = await web('GET', '/app/admin/breakage?month=2026-11', { cookie: admin });
  t.equal(page.statusCode, 200);
  t.same(dataAttributes(page.body, 'pack'), ['general-5g', 'hotspot-10g']);
  t.same(dataAttributes(page.body, 'unused-revenue'), ['0.00', '56.98']);
  const csv = await web('GET', '/app/admin/breakage.csv?month=2026-11', { cookie: admin });
  t.equal(csv.statusCode, 200);
  t.match(csv.body, /^pack,price,size_bytes/);
  const key = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key;
  t.equal((await web('GET', '/app/admin/breakage?month=2026-11', { cookie: await signIn(web, key) })).statusCode, 403);
});
