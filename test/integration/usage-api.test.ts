import t from 'tap';
import { manualClock, startTestService } from '../helpers/service.js';

// DESIGN 5 GET /v1/sponsors/{id}/usage against the demo catalog (sponsors/): navigation → amap at 4.00
// (3,072 MiB per vehicle-month, then overage), music → qqmusic at 5.00 (models A7/A9), telemetry →
// oem-acme at 2.50, anything else → overage to oem-acme at 8.00. Billing timezone Asia/Shanghai.

const GIB = 1n << 30n;
const NAV_CAP = 3072n * (1n << 20n);

const clock = manualClock(Date.parse('2026-11-20T12:00:00+08:00'));
const svc = await startTestService(t, {}, clock);

/** Expected amount, computed here without src/shared/money: cents = bytes × price / 2^30, halves up. */
function expectedAmount(bytes: bigint, price: string): string {
  const [whole, fraction = ''] = price.split('.');
  const tenThousandths = BigInt(whole! + fraction.padEnd(4, '0'));
  const numerator = bytes * tenThousandths;
  const denominator = GIB * 100n;
  let cents = numerator / denominator;
  if ((numerator % denominator) * 2n >= denominator) cents += 1n;
  return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
}

type Kind = 'sponsored' | 'overage';
/** What a record must produce: its allocations by payer, stated from the catalog, not from the service. */
interface Sent {
  vin: string;
  month: string;
  day: string;
  app: string;
  parts: Array<{ payer: string; kind: Kind; price: string; bytes: bigint }>;
}
const sent: Sent[] = [];

const HOSTS: Record<string, string> = { navigation: 'tile.amap.com', music: 'c.y.qq.com', telemetry: 'telemetry.acme-motor.cn', general: 'example.org' };
let seq = 0;

/** Publishes one message of records for a vehicle over MQTT; PUBACK is held until the commit. */
async function publish(car: { vin: string; deviceSecret: string }, records: Array<{ app: string; start: string; up: bigint; down: bigint }>) {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    const body = records.map((r) => {
      const startMs = Date.parse(r.start);
      return { seq: ++seq, start: r.start, end: new Date(startMs + 60_000).toISOString(), up: Number(r.up), down: Number(r.down), host: HOSTS[r.app], port: 443 };
    });
    await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: seq, records: body }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

// Eight A7 vehicles so that groupBy=vehicle spans several pages.
const cars = [];
for (let i = 0; i < 8; i++) cars.push(await svc.registerVehicle(undefined, { model: 'A7' }));

for (const [i, car] of cars.entries()) {
  const nav = BigInt(1_000_003 * (i + 1) + 17);
  const music = BigInt(2_684_354 + i); // about one cent each at 5.00
  const telemetry = BigInt(123_457 * (i + 3));
  const general = BigInt(98_765 * (i + 1));
  // 23:59 on the 3rd and 00:30 on the 4th in Shanghai: two billing days (the latter is 16:30Z on the 3rd).
  const records = [
    { app: 'navigation', start: '2026-11-03T23:59:00+08:00', up: 1_000n, down: nav - 1_000n },
    { app: 'music', start: '2026-11-03T16:30:00Z', up: 0n, down: music },
    { app: 'telemetry', start: '2026-11-05T10:00:00+08:00', up: telemetry, down: 0n },
    { app: 'general', start: '2026-11-05T10:00:00+08:00', up: general / 2n, down: general - general / 2n },
  ];
  sent.push(
    { vin: car.vin, month: '2026-11', day: '2026-11-03', app: 'navigation', parts: [{ payer: 'amap', kind: 'sponsored', price: '4.00', bytes: nav }] },
    { vin: car.vin, month: '2026-11', day: '2026-11-04', app: 'music', parts: [{ payer: 'qqmusic', kind: 'sponsored', price: '5.00', bytes: music }] },
    { vin: car.vin, month: '2026-11', day: '2026-11-05', app: 'telemetry', parts: [{ payer: 'oem-acme', kind: 'sponsored', price: '2.50', bytes: telemetry }] },
    { vin: car.vin, month: '2026-11', day: '2026-11-05', app: 'general', parts: [{ payer: 'oem-acme', kind: 'overage', price: '8.00', bytes: general }] },
  );
  if (i === 0) {
    // 3.5 GiB of navigation after the small record: amap's cap runs out, the rest is oem-acme's overage.
    const big = 3n * GIB + GIB / 2n;
    const covered = NAV_CAP - nav;
    records.push({ app: 'navigation', start: '2026-11-10T08:00:00+08:00', up: 12_345n, down: big - 12_345n });
    sent.push({
      vin: car.vin,
      month: '2026-11',
      day: '2026-11-10',
      app: 'navigation',
      parts: [
        { payer: 'amap', kind: 'sponsored', price: '4.00', bytes: covered },
        { payer: 'oem-acme', kind: 'overage', price: '8.00', bytes: big - covered },
      ],
    });
    // The last minutes of October in Shanghai (15:50Z on the 31st) belong to October.
    records.push({ app: 'navigation', start: '2026-10-31T23:50:00+08:00', up: 0n, down: 777_777n });
    sent.push({ vin: car.vin, month: '2026-10', day: '2026-10-31', app: 'navigation', parts: [{ payer: 'amap', kind: 'sponsored', price: '4.00', bytes: 777_777n }] });
  }
  if (i === 1) {
    // 2.25 GiB more, still under the cap: amap's November navigation line passes 2^32 bytes.
    const large = 2n * GIB + GIB / 4n;
    records.push({ app: 'navigation', start: '2026-11-10T09:00:00+08:00', up: large / 2n, down: large - large / 2n });
    sent.push({ vin: car.vin, month: '2026-11', day: '2026-11-10', app: 'navigation', parts: [{ payer: 'amap', kind: 'sponsored', price: '4.00', bytes: large }] });
  }
  await publish(car, records);
}

// Rounding applies to a line's summed bytes, not per record: three records of 1,000,000 bytes at 4.00 are
// 0.37 cents each (0.00 apiece) but 1.12 cents together (0.01). A separate vehicle keeps them on one line.
const rounding = await svc.registerVehicle(undefined, { model: 'S1' });
await publish(
  rounding,
  [1, 2, 3].map((h) => ({ app: 'navigation', start: `2026-11-1${h}T0${h}:00:00+08:00`, up: 0n, down: 1_000_000n })),
);
for (const h of [1, 2, 3]) {
  sent.push({ vin: rounding.vin, month: '2026-11', day: `2026-11-1${h}`, app: 'navigation', parts: [{ payer: 'amap', kind: 'sponsored', price: '4.00', bytes: 1_000_000n }] });
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The lines the contract predicts for a sponsor and month, keyed as groupBy asks, amounts per line. */
function expectedLines(sponsor: string, month: string, groupBy: 'app' | 'day' | 'vehicle') {
  const sums = new Map<string, { head: Record<string, string>; app: string; kind: Kind; price: string; bytes: bigint }>();
  for (const record of sent.filter((r) => r.month === month)) {
    for (const part of record.parts.filter((p) => p.payer === sponsor)) {
      const head: Record<string, string> = groupBy === 'day' ? { day: record.day } : groupBy === 'vehicle' ? { vin: record.vin } : {};
      const key = JSON.stringify([Object.values(head), record.app, part.kind, part.price]);
      const line = sums.get(key) ?? { head, app: record.app, kind: part.kind, price: part.price, bytes: 0n };
      line.bytes += part.bytes;
      sums.set(key, line);
    }
  }
  return [...sums.values()]
    .sort((a, b) => compare(Object.values(a.head).join(), Object.values(b.head).join()) || compare(a.app, b.app) || compare(a.kind, b.kind) || compare(a.price, b.price))
    .map((l) => ({ ...l.head, app: l.app, kind: l.kind, bytes: Number(l.bytes), pricePerGiB: l.price, amount: expectedAmount(l.bytes, l.price) }));
}

function expectedTotals(sponsor: string, month: string) {
  const lines = expectedLines(sponsor, month, 'app');
  const cents = lines.reduce((sum, l) => sum + BigInt(l.amount.replace('.', '')), 0n);
  return { totalBytes: lines.reduce((sum, l) => sum + l.bytes, 0), totalAmount: `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}` };
}

const usage = (sponsor: string, query: string, token?: string | null) => svc.request('GET', `/v1/sponsors/${sponsor}/usage?${query}`, token === undefined ? {} : { token });

async function allVehiclePages(sponsor: string, month: string, limit: number) {
  const pages: any[] = [];
  let cursor: string | null = null;
  do {
    const response = await usage(sponsor, `month=${month}&groupBy=vehicle&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    if (response.status !== 200) throw new Error(`page ${pages.length}: ${response.status} ${JSON.stringify(response.body)}`);
    pages.push(response.body);
    cursor = response.body.nextCursor;
    if (pages.length > 100) throw new Error('pagination does not end');
  } while (cursor !== null);
  return pages;
}

t.test('groupBy=app (the default): exact bytes, per-line amounts and totals', async (t) => {
  for (const sponsor of ['amap', 'qqmusic', 'oem-acme']) {
    const response = await usage(sponsor, 'month=2026-11');
    t.equal(response.status, 200, sponsor);
    t.same(response.body, { sponsor, month: '2026-11', currency: 'CNY', lines: expectedLines(sponsor, '2026-11', 'app'), ...expectedTotals(sponsor, '2026-11') }, sponsor);
    t.notOk('nextCursor' in response.body, 'no cursor outside groupBy=vehicle');
  }
  const explicit = await usage('amap', 'month=2026-11&groupBy=app');
  t.same(explicit.body, (await usage('amap', 'month=2026-11')).body, 'groupBy=app is the default');
  const oem = await usage('oem-acme', 'month=2026-11');
  t.same(
    oem.body.lines.map((l: any) => [l.app, l.kind, l.pricePerGiB]),
    [
      ['general', 'overage', '8.00'],
      ['navigation', 'overage', '8.00'],
      ['telemetry', 'sponsored', '2.50'],
    ],
    'lines sorted by app, kind, price; prices as the catalog wrote them',
  );
  // amap's November line covers the capped record too: bytes beyond 2^32 are exact.
  const amap = await usage('amap', 'month=2026-11');
  t.ok(amap.body.lines[0].bytes > 2 ** 32, 'a line beyond 32 bits');
  t.ok(amap.body.totalBytes > 2 ** 32, 'totals beyond 32 bits');
  t.equal(typeof amap.body.lines[0].bytes, 'number', 'bytes are JSON integers');
});

t.test('amounts are rounded on the line’s summed bytes, not per record', async (t) => {
  const response = await usage('amap', 'month=2026-11&groupBy=vehicle&limit=1000');
  const line = response.body.lines.find((l: any) => l.vin === rounding.vin);
  t.same(line, { vin: rounding.vin, app: 'navigation', kind: 'sponsored', bytes: 3_000_000, pricePerGiB: '4.00', amount: '0.01' });
  t.equal(expectedAmount(1_000_000n, '4.00'), '0.00', 'one record alone rounds to nothing');
});

t.test('months are billing-timezone months and kept apart', async (t) => {
  const october = await usage('amap', 'month=2026-10');
  t.equal(october.status, 200);
  t.same(october.body.lines, [{ app: 'navigation', kind: 'sponsored', bytes: 777_777, pricePerGiB: '4.00', amount: expectedAmount(777_777n, '4.00') }]);
  t.same(october.body.totalBytes, 777_777);
  const empty = await usage('ximalaya', 'month=2026-11');
  t.same(empty.body, { sponsor: 'ximalaya', month: '2026-11', currency: 'CNY', lines: [], totalBytes: 0, totalAmount: '0.00' }, 'a sponsor without usage');
  const past = await usage('amap', 'month=2025-01');
  t.same(past.body.lines, [], 'a month long past');
});

t.test('groupBy=day: days in the billing timezone; totals stay the per-app ones', async (t) => {
  for (const sponsor of ['amap', 'qqmusic', 'oem-acme']) {
    const response = await usage(sponsor, 'month=2026-11&groupBy=day');
    t.equal(response.status, 200);
    t.same(response.body, { sponsor, month: '2026-11', currency: 'CNY', lines: expectedLines(sponsor, '2026-11', 'day'), ...expectedTotals(sponsor, '2026-11') }, sponsor);
  }
  const music = await usage('qqmusic', 'month=2026-11&groupBy=day');
  t.same(new Set(music.body.lines.map((l: any) => l.day)), new Set(['2026-11-04']), '16:30Z on the 3rd is the 4th in Shanghai');
  const october = await usage('amap', 'month=2026-10&groupBy=day');
  t.same(october.body.lines.map((l: any) => l.day), ['2026-10-31'], '23:50 on 31 October stays in October');
});

t.test('groupBy=vehicle: keyset pages with no gaps or repeats', async (t) => {
  for (const [sponsor, limit] of [['oem-acme', 2], ['oem-acme', 3], ['amap', 4], ['qqmusic', 1000]] as const) {
    const expected = expectedLines(sponsor, '2026-11', 'vehicle');
    const pages = await allVehiclePages(sponsor, '2026-11', limit);
    t.equal(pages.length, Math.max(1, Math.ceil(expected.length / limit)), `${sponsor} limit ${limit}: page count`);
    for (const page of pages) {
      t.ok(page.lines.length <= limit, 'a page holds at most limit lines');
      t.same({ totalBytes: page.totalBytes, totalAmount: page.totalAmount }, expectedTotals(sponsor, '2026-11'), 'totals on every page');
    }
    t.equal(pages.at(-1).nextCursor, null, 'the last page says so');
    t.same(pages.flatMap((p) => p.lines), expected, `${sponsor} limit ${limit}: every line once, in order`);
  }
  const oem = expectedLines('oem-acme', '2026-11', 'vehicle');
  t.ok(oem.length >= 17, 'oem-acme has several lines per vehicle, so pages split vehicles');
  const defaultLimit = await usage('oem-acme', 'month=2026-11&groupBy=vehicle');
  t.equal(defaultLimit.body.lines.length, oem.length, 'default limit (100) holds them all');
  t.equal(defaultLimit.body.nextCursor, null);
  const exact = await usage('amap', `month=2026-11&groupBy=vehicle&limit=${expectedLines('amap', '2026-11', 'vehicle').length}`);
  t.equal(exact.body.nextCursor, null, 'a page that ends exactly at the last line has no next cursor');
});

t.test('who may ask', async (t) => {
  const key = await svc.request('POST', '/v1/sponsors/amap/keys');
  t.equal(key.status, 201);
  const amapKey = key.body.key as string;
  const own = await usage('amap', 'month=2026-11', amapKey);
  t.equal(own.status, 200, 'a sponsor reads its own usage');
  t.same(own.body, (await usage('amap', 'month=2026-11')).body, 'the same as the admin sees');
  const pages = await usage('amap', 'month=2026-11&groupBy=vehicle&limit=2', amapKey);
  t.equal(pages.status, 200);
  const next = await usage('amap', `month=2026-11&groupBy=vehicle&limit=2&cursor=${pages.body.nextCursor}`, amapKey);
  t.equal(next.status, 200, 'a sponsor pages with its own cursor');

  const other = await usage('qqmusic', 'month=2026-11', amapKey);
  t.equal(other.status, 403, 'another sponsor’s path is 403');
  t.equal(other.body.error.code, 'FORBIDDEN');
  const unknownForSponsor = await usage('nobody', 'month=2026-11', amapKey);
  t.equal(unknownForSponsor.status, 403, 'a sponsor learns nothing about other ids');

  const anonymous = await usage('amap', 'month=2026-11', null);
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'UNAUTHORIZED');
  t.equal((await usage('amap', 'month=2026-11', 'sk_0123456789abcdef_' + 'A'.repeat(43))).status, 401, 'an unknown key is 401');

  const unknown = await usage('nobody', 'month=2026-11');
  t.equal(unknown.status, 404, 'an unknown sponsor is 404 for the admin');
  t.equal(unknown.body.error.code, 'NOT_FOUND');
});

t.test('422 names the field', async (t) => {
  const cursor = (await usage('oem-acme', 'month=2026-11&groupBy=vehicle&limit=1')).body.nextCursor as string;
  const octoberCursor = (await usage('amap', 'month=2026-10&groupBy=vehicle&limit=1')).body.nextCursor;
  t.equal(octoberCursor, null, 'one line in October');
  const cases: Array<[string, string, string]> = [
    ['month missing', 'groupBy=app', 'month'],
    ['month not YYYY-MM', 'month=2026-1', 'month'],
    ['month 13', 'month=2026-13', 'month'],
    ['month as text', 'month=november', 'month'],
    ['month not yet started', 'month=2026-12', 'month'],
    ['month far ahead', 'month=2031-01', 'month'],
    ['unknown groupBy', 'month=2026-11&groupBy=week', 'groupBy'],
    ['limit 0', 'month=2026-11&groupBy=vehicle&limit=0', 'limit'],
    ['limit 1001', 'month=2026-11&groupBy=vehicle&limit=1001', 'limit'],
    ['limit not an integer', 'month=2026-11&groupBy=vehicle&limit=1.5', 'limit'],
    ['limit in exponent form', 'month=2026-11&groupBy=vehicle&limit=1e2', 'limit'],
    ['cursor not base64url', 'month=2026-11&groupBy=vehicle&cursor=not%20a%20cursor', 'cursor'],
    ['cursor tampered', `month=2026-11&groupBy=vehicle&cursor=${cursor.slice(0, -2)}`, 'cursor'],
    ['cursor of another shape', `month=2026-11&groupBy=vehicle&cursor=${Buffer.from('{"v":1,"id":"5"}').toString('base64url')}`, 'cursor'],
    ['cursor of another month', `month=2026-10&groupBy=vehicle&cursor=${cursor}`, 'cursor'],
    ['cursor with groupBy=app', `month=2026-11&cursor=${cursor}`, 'cursor'],
  ];
  for (const [name, query, field] of cases) {
    const response = await usage('oem-acme', query);
    t.equal(response.status, 422, `${name}: 422`);
    t.equal(response.body.error?.code, 'INVALID_INPUT', `${name}: code`);
    t.equal(response.body.error?.field, field, `${name}: field ${field}`);
  }
  const otherSponsor = await usage('amap', `month=2026-11&groupBy=vehicle&cursor=${cursor}`);
  t.equal(otherSponsor.status, 422, 'a cursor of another sponsor');
  t.equal((await usage('oem-acme', `month=2026-11&groupBy=vehicle&cursor=${cursor}`)).status, 200, 'the untampered cursor works');
});

t.test('the current month is read from the clock at each request', async (t) => {
  t.equal((await usage('amap', 'month=2026-12')).status, 422, 'December has not started');
  clock.set(Date.parse('2026-11-30T23:59:59.999+08:00'));
  t.equal((await usage('amap', 'month=2026-12')).status, 422, 'not a millisecond early');
  clock.set(Date.parse('2026-12-01T00:00:00+08:00'));
  const december = await usage('amap', 'month=2026-12');
  t.equal(december.status, 200, 'December starts at 00:00 in Shanghai (16:00Z on 30 November)');
  t.same(december.body.lines, []);
  clock.set(Date.parse('2026-11-20T12:00:00+08:00'));
});

t.test('the route is in the OpenAPI document', async (t) => {
  const docs = await svc.request('GET', '/docs/json', { token: null });
  t.equal(docs.status, 200);
  t.ok(docs.body.paths['/v1/sponsors/{id}/usage'], 'documented');
});
