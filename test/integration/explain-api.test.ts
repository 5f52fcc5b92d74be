import t from 'tap';
import { createApiKeyStore } from '../../src/api/api-keys.js';
import { systemClock } from '../../src/shared/clock.js';
import { manualClock, startTestService } from '../helpers/service.js';

// DESIGN 5 GET /v1/vehicles/{vin}/usage/{seq}/explain against the demo catalog: navigation → amap at 4.00
// up to 3,072 MiB per vehicle-month, then overage to oem-acme at 8.00. Billing timezone Asia/Shanghai.

const GIB = 1n << 30n;
const NAV_CAP = 3072n * (1n << 20n);

const clock = manualClock(Date.parse('2026-11-20T12:00:00+08:00'));
const svc = await startTestService(t, {}, clock);
const car = await svc.registerVehicle(undefined, { model: 'A7' });
const catalogVersion = svc.service.catalogVersion;

async function publish(epoch: string, records: unknown[]) {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, epoch, records }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

const big = 3n * GIB + 5n; // beyond the cap: amap's share plus oem-acme's overage
await publish('0', [
  // 00:15Z is 08:15 in Shanghai; the reply shows the billing timezone's offset.
  { seq: 10, start: '2026-11-03T00:15:00Z', end: '2026-11-03T00:16:00.250Z', up: 1024, down: Number(big - 1024n), host: 'tile.amap.com', ip: '203.0.113.7', port: 443, proto: 'tcp', pkg: 'com.autonavi.amapauto' },
  { seq: 11, start: '2026-11-03T08:20:00+08:00', end: '2026-11-03T08:21:00+08:00', up: 0, down: 0, host: 'c.y.qq.com' },
  { seq: 12, start: '2026-11-03T08:20:00+08:00', end: '2026-11-03T08:21:00+08:00', up: 10, down: 20, ip: '100.64.0.9' },
]);
await publish('boot-2', [{ seq: 10, start: '2026-11-04T09:00:00+08:00', end: '2026-11-04T09:00:30+08:00', up: 5, down: 6, host: 'telemetry.acme-motor.cn', iface: 'tbox' }]);

const explain = (path: string, token?: string | null) => svc.request('GET', `/v1/vehicles/${path}`, token === undefined ? {} : { token });
const key = async (sponsor: string) => (await svc.request('POST', `/v1/sponsors/${sponsor}/keys`)).body.key as string;
const amapKey = await key('amap');
const oemKey = await key('oem-acme');
const qqKey = await key('qqmusic');

t.test('the admin sees the record, its rule and every allocation', async (t) => {
  const response = await explain(`${car.vin}/usage/10/explain`);
  t.equal(response.status, 200);
  t.same(response.body, {
    vin: car.vin,
    epoch: '0',
    seq: 10,
    record: {
      start: '2026-11-03T08:15:00.000+08:00',
      end: '2026-11-03T08:16:00.250+08:00',
      up: 1024,
      down: Number(big - 1024n),
      host: 'tile.amap.com',
      ip: '203.0.113.7',
      port: 443,
      proto: 'tcp',
      iface: 'tbox',
      pkg: 'com.autonavi.amapauto',
    },
    app: 'navigation',
    ruleId: 'navigation/suffix/*.amap.com',
    catalogVersion,
    receivedAt: '2026-11-20T12:00:00.000+08:00',
    allocations: [
      { payer: 'amap', kind: 'sponsored', sponsorship: 'amap-nav-acme', packInstance: null, bytes: Number(NAV_CAP), overage: false, pricePerGiB: '4.00', usageMonth: '2026-11' },
      { payer: 'oem-acme', kind: 'overage', sponsorship: null, packInstance: null, bytes: Number(big - NAV_CAP), overage: true, pricePerGiB: '8.00', usageMonth: '2026-11' },
    ],
  });
  const explicit = await explain(`${car.vin}/usage/10/explain?epoch=0`);
  t.same(explicit.body, response.body, 'epoch defaults to "0"');
});

t.test('a sponsor sees its own allocations; the others only as "other"', async (t) => {
  const admin = (await explain(`${car.vin}/usage/10/explain`)).body;
  const amap = await explain(`${car.vin}/usage/10/explain`, amapKey);
  t.equal(amap.status, 200);
  t.same(amap.body, { ...admin, allocations: [admin.allocations[0], { payer: 'other', bytes: Number(big - NAV_CAP) }] });
  const oem = await explain(`${car.vin}/usage/10/explain`, oemKey);
  t.equal(oem.status, 200);
  t.same(oem.body.allocations, [{ payer: 'other', bytes: Number(NAV_CAP) }, admin.allocations[1]]);
  t.same(Object.keys(oem.body.allocations[0]).sort(), ['bytes', 'payer'], 'nothing else of another payer');
});

t.test('404 where the caller has no share, so existence does not leak', async (t) => {
  const noShare = await explain(`${car.vin}/usage/10/explain`, qqKey);
  const unknown = await explain(`${car.vin}/usage/999/explain`, qqKey);
  t.equal(noShare.status, 404, 'a sponsor without an allocation on the record');
  t.equal(unknown.status, 404, 'an unknown record');
  t.equal(noShare.body.error.code, 'NOT_FOUND');
  t.equal(noShare.body.error.message.replace('/10', '/N'), unknown.body.error.message.replace('/999', '/N'), 'the same message either way');
  t.equal((await explain(`${car.vin}/usage/999/explain`)).status, 404, 'an unknown record for the admin');
  t.equal((await explain(`${car.vin}/usage/10/explain?epoch=never`)).status, 404, 'an unknown epoch');
  const otherVin = await svc.registerVehicle();
  t.equal((await explain(`${otherVin.vin}/usage/10/explain`)).status, 404, 'another vehicle’s seq');
});

t.test('a zero-byte record is explainable but has no allocation', async (t) => {
  const admin = await explain(`${car.vin}/usage/11/explain`);
  t.equal(admin.status, 200);
  t.match(admin.body, { seq: 11, app: 'music', ruleId: 'music/suffix/*.y.qq.com', record: { up: 0, down: 0, ip: null, port: null, proto: null, pkg: null } });
  t.same(admin.body.allocations, []);
  t.equal((await explain(`${car.vin}/usage/11/explain`, qqKey)).status, 404, 'no sponsor has a share in it');
});

t.test('epochs are separate key spaces; overage-only and sponsored-only records', async (t) => {
  const booted = await explain(`${car.vin}/usage/10/explain?epoch=boot-2`);
  t.equal(booted.status, 200);
  t.match(booted.body, { epoch: 'boot-2', seq: 10, app: 'telemetry', ruleId: 'telemetry/host/telemetry.acme-motor.cn' });
  t.same(booted.body.allocations, [{ payer: 'oem-acme', kind: 'sponsored', sponsorship: 'acme-telemetry', packInstance: null, bytes: 11, overage: false, pricePerGiB: '2.50', usageMonth: '2026-11' }]);
  t.equal((await explain(`${car.vin}/usage/10/explain?epoch=boot-2`, amapKey)).status, 404, 'amap has no share in the telemetry record');
  const general = await explain(`${car.vin}/usage/12/explain`, oemKey);
  t.equal(general.status, 200);
  t.equal(general.body.app, 'general');
  t.equal(general.body.ruleId, 'general/default/*');
  t.same(general.body.allocations, [{ payer: 'oem-acme', kind: 'overage', sponsorship: null, packInstance: null, bytes: 30, overage: true, pricePerGiB: '8.00', usageMonth: '2026-11' }]);
});

t.test('who may ask', async (t) => {
  const anonymous = await explain(`${car.vin}/usage/10/explain`, null);
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'UNAUTHORIZED');
  const merchant = await createApiKeyStore(svc.service.pool, systemClock).create('merchant', 'shop-1');
  const asMerchant = await explain(`${car.vin}/usage/10/explain`, merchant.key);
  t.equal(asMerchant.status, 403, 'merchant keys have no share in usage');
  t.equal(asMerchant.body.error.code, 'FORBIDDEN');
  t.equal((await explain(`${car.vin}/usage/999/explain`, merchant.key)).status, 403, 'not even 404 for a merchant');
});

t.test('422 names the field', async (t) => {
  const badVin = car.vin.slice(0, 8) + (car.vin[8] === '0' ? '1' : '0') + car.vin.slice(9);
  const cases: Array<[string, string, string]> = [
    ['VIN check digit', `${badVin}/usage/10/explain`, 'vin'],
    ['VIN too short', 'LSVAU218/usage/10/explain', 'vin'],
    ['negative seq', `${car.vin}/usage/-1/explain`, 'seq'],
    ['fractional seq', `${car.vin}/usage/1.5/explain`, 'seq'],
    ['seq beyond 2^53', `${car.vin}/usage/9007199254740992/explain`, 'seq'],
    ['seq as text', `${car.vin}/usage/ten/explain`, 'seq'],
    ['epoch with a bad character', `${car.vin}/usage/10/explain?epoch=boot_2`, 'epoch'],
    ['epoch too long', `${car.vin}/usage/10/explain?epoch=${'a'.repeat(37)}`, 'epoch'],
    ['empty epoch', `${car.vin}/usage/10/explain?epoch=`, 'epoch'],
  ];
  for (const [name, path, field] of cases) {
    const response = await explain(path);
    t.equal(response.status, 422, `${name}: 422`);
    t.equal(response.body.error?.field, field, `${name}: field ${field}`);
  }
  t.equal((await explain(`${car.vin}/usage/9007199254740991/explain`)).status, 404, '2^53 − 1 is a valid seq');
});
