import t from 'tap';
import { browserLike, dataAttributes, signIn } from '../browser/web-fixture.js';
import { manualClock, startTestService, TEST_ADMIN_TOKEN } from '../helpers/service.js';

// Issue 13, zero-rating abuse signals: each with its evidence, never billed; the operator sees them all, a
// sponsor only those touching its apps (demo catalog: navigation → amap, 203.0.113.0/24; music → qqmusic,
// package com.tencent.qqmusiccar).

const clock = manualClock(Date.parse('2026-12-03T10:00:00+08:00'));
const svc = await startTestService(t, {}, clock);
let seq = 0;

async function send(car: { vin: string; deviceSecret: string }, records: Array<Record<string, unknown>>) {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    const body = records.map((r) => ({ seq: ++seq, port: 443, up: 0, ...r, end: r.start }));
    await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: seq, records: body }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

const spoof = await svc.registerVehicle(601);
const tether = await svc.registerVehicle(602);
const heavy = await svc.registerVehicle(609);
const fleet = await Promise.all([603, 604, 605, 606, 607, 608].map((n) => svc.registerVehicle(n)));
await send(spoof, [
  { start: '2026-11-10T09:00:00+08:00', down: 5_000, host: 'tile.amap.com', ip: '8.8.8.8' },
  { start: '2026-11-10T09:01:00+08:00', down: 7_000, host: 'tile.amap.com', ip: '203.0.113.7' },
]);
await send(tether, [
  { start: '2026-11-10T10:00:00+08:00', down: 9_000, host: 'c.y.qq.com', pkg: 'com.android.chrome' },
  { start: '2026-11-10T10:01:00+08:00', down: 9_000, host: 'c.y.qq.com', pkg: 'com.tencent.qqmusiccar' },
]);
for (const car of fleet) await send(car, [{ start: '2026-11-11T08:00:00+08:00', down: 10_000_000, host: 'restapi.amap.com' }]);
await send(heavy, [{ start: '2026-11-11T08:00:00+08:00', down: 2_000_000_000, host: 'restapi.amap.com' }]);

t.test('the operator sees every signal with its evidence', async (t) => {
  const response = await svc.request('GET', '/v1/abuse-signals?month=2026-11');
  t.equal(response.status, 200, JSON.stringify(response.body));
  t.same(response.body.signals, [
    { kind: 'ip_outside_app_ranges', vin: spoof.vin, app: 'navigation', sponsors: ['amap'], day: '2026-11-10', bytes: 5_000, records: 1, evidence: { ips: ['8.8.8.8'], hosts: ['tile.amap.com'], appCidrs: ['203.0.113.0/24', '2001:db8:10::/48'] } },
    { kind: 'hotspot_on_sponsored_host', vin: tether.vin, app: 'music', sponsors: ['qqmusic'], day: '2026-11-10', bytes: 9_000, records: 1, evidence: { packages: ['com.android.chrome'], hosts: ['c.y.qq.com'], appPackages: ['com.tencent.qqmusiccar'] } },
    { kind: 'volume_outlier', vin: heavy.vin, app: 'navigation', sponsors: ['amap'], day: '2026-11-11', bytes: 2_000_000_000, records: 1, evidence: { fleetMedianBytes: 10_000_000, vehicleDays: 8, factor: 10, timesMedian: 200 } },
  ]);
  const invoices = await svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11');
  t.equal(invoices.status, 200);
  t.equal(invoices.body.totalBytes, 5_000 + 7_000 + 6 * 10_000_000 + 2_000_000_000, 'signals change nothing billed: every byte is still the sponsor’s');
});

t.test('a sponsor sees only the signals of its apps', async (t) => {
  const amap = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key;
  const qq = (await svc.request('POST', '/v1/sponsors/qqmusic/keys')).body.key;
  const xm = (await svc.request('POST', '/v1/sponsors/ximalaya/keys')).body.key;
  const of = async (sponsor: string, token: string) => (await svc.request('GET', `/v1/sponsors/${sponsor}/abuse-signals?month=2026-11`, { token })).body.signals.map((s: { kind: string; vin: string }) => `${s.kind} ${s.vin}`);
  t.same(await of('amap', amap), [`ip_outside_app_ranges ${spoof.vin}`, `volume_outlier ${heavy.vin}`]);
  t.same(await of('qqmusic', qq), [`hotspot_on_sponsored_host ${tether.vin}`]);
  t.same(await of('ximalaya', xm), []);
  t.equal((await svc.request('GET', '/v1/sponsors/qqmusic/abuse-signals?month=2026-11', { token: amap })).status, 403, 'another sponsor’s path');
  t.equal((await svc.request('GET', '/v1/abuse-signals?month=2026-11', { token: amap })).status, 403, 'the operator report is the admin’s');
  t.equal((await svc.request('GET', '/v1/sponsors/nobody/abuse-signals?month=2026-11')).status, 404);
  t.equal((await svc.request('GET', '/v1/abuse-signals?month=2026-1')).status, 422);
  t.equal((await svc.request('GET', '/v1/abuse-signals?month=2027-01')).status, 422);
  t.equal((await svc.request('GET', '/v1/abuse-signals?month=2026-11', { token: null })).status, 401);
});

t.test('the pages: the operator sees all, a sponsor its own', async (t) => {
  const web = browserLike(svc);
  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  const all = await web('GET', '/app/admin/abuse-signals?month=2026-11', { cookie: admin });
  t.equal(all.statusCode, 200);
  t.same(dataAttributes(all.body, 'kind'), ['ip_outside_app_ranges', 'hotspot_on_sponsored_host', 'volume_outlier']);
  const amap = await signIn(web, (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key);
  const own = await web('GET', '/app/sponsors/amap/abuse-signals?month=2026-11', { cookie: amap });
  t.equal(own.statusCode, 200);
  t.same(dataAttributes(own.body, 'vin'), [spoof.vin, heavy.vin]);
  t.notMatch(own.body, tether.vin, 'nothing of another sponsor’s app');
  t.equal((await web('GET', '/app/sponsors/qqmusic/abuse-signals?month=2026-11', { cookie: amap })).statusCode, 403);
  t.equal((await web('GET', '/app/admin/abuse-signals?month=2026-11', { cookie: amap })).statusCode, 403);
  t.equal((await web('GET', '/app/sponsors/nobody/abuse-signals?month=2026-11', { cookie: admin })).statusCode, 404);
  t.equal((await web('GET', '/app/sponsors/amap/abuse-signals?month=nope', { cookie: amap })).statusCode, 422);
});
