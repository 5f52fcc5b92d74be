import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { startTestService } from '../helpers/service.js';

/** DESIGN 3.3: funding re-evaluated when a pack is bought or expires and at each billing-month start. */
const clock = manualClock(Date.parse('2026-11-20T12:00:00+08:00'));
const svc = await startTestService(t, {}, clock);
const car = await svc.registerVehicle(1, { model: 'S1' });
const GiB = 1_073_741_824;

const controls = async () => {
  const { body } = await svc.request('GET', `/v1/vehicles/${car.vin}`);
  return Object.fromEntries((body.controls as Array<{ app: string; action: string; reasons: string[]; rev: number }>).map((c) => [c.app, c]));
};

t.test('a month start lifts FUNDS_EXHAUSTED; a pack purchase lifts it; a pack expiry brings it back', async (t) => {
  t.equal(await svc.service.jobs.fundingSweep(), 0, 'the first run only sets the watermark');
  const device = await svc.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => device.endAsync());
  // FM is sponsored up to 1,024 MiB a month: one byte more exhausts it.
  const record = { seq: 1, start: '2026-11-20T11:00:00+08:00', end: '2026-11-20T11:30:00+08:00', up: 0, down: GiB + 1, host: 'a.xmcdn.com' };
  await device.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records: [record] }), { qos: 1 });
  let state = await controls();
  t.match(state.fm, { action: 'block', reasons: ['FUNDS_EXHAUSTED'], rev: 1 });
  t.match(state['wifi-hotspot'], { action: 'block', rev: 1 }, 'no pack covers the hotspot');
  t.notOk(state.telemetry, 'telemetry is not blockable');

  clock.set(Date.parse('2026-11-30T23:59:59+08:00'));
  await svc.service.jobs.fundingSweep();
  t.equal((await controls()).fm?.rev, 1, 'still November: nothing changes');

  clock.set(Date.parse('2026-12-01T00:00:05+08:00'));
  t.ok((await svc.service.jobs.fundingSweep()) >= 1);
  state = await controls();
  t.match(state.fm, { action: 'allow', reasons: [], rev: 2 }, 'a new month, a new cap');
  t.match(state['wifi-hotspot'], { action: 'block', rev: 1 }, 'unchanged state keeps its rev');

  const bought = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'hotspot-10g', purchasedAt: '2026-12-01T00:00:00+08:00', externalOrderId: 'order-1' } });
  t.equal(bought.status, 201);
  t.equal(bought.body.expiresAt, '2026-12-30T16:00:00.000Z', 'purchasedAt + 30 × 86,400 s');
  t.match((await controls())['wifi-hotspot'], { action: 'allow', rev: 2 }, 'a pack lifts the block at once');

  clock.set(Date.parse('2026-12-31T00:00:01+08:00'));
  t.ok((await svc.service.jobs.fundingSweep()) >= 1);
  t.match((await controls())['wifi-hotspot'], { action: 'block', reasons: ['FUNDS_EXHAUSTED'], rev: 3 }, 'the expired pack blocks again');
});

t.test('pack purchases are idempotent per externalOrderId', async (t) => {
  const body = { pack: 'hotspot-10g', purchasedAt: '2026-12-31T08:00:00+08:00', externalOrderId: 'order-2' };
  const first = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body });
  const again = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body });
  t.equal(first.status, 201);
  t.equal(again.status, 200);
  t.same(again.body, first.body, 'the same instance');
  const clash = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { ...body, pack: 'general-5g' } });
  t.equal(clash.status, 409);
  t.equal(clash.body.error.code, 'IDEMPOTENCY_CONFLICT');
  const unknownPack = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'nope' } });
  t.equal(unknownPack.status, 422);
  t.equal(unknownPack.body.error.field, 'pack');
  const { body: vehicle } = await svc.request('GET', `/v1/vehicles/${car.vin}`);
  t.equal(vehicle.packs.length, 2, 'one instance per order');
  t.equal(vehicle.packs[1].balanceBytes, 10240 * 1_048_576);
});
