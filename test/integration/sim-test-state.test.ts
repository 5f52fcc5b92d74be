import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { createMerchant, importSims, simIccid, startSimStack } from './sims-support.js';

/** DESIGN 4.2: records whose start falls while the card was in `test` are stored with payer `none`, never invoiced. */
const clock = manualClock(Date.parse('2026-11-10T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock });
const token = await createMerchant(svc, 'shop-a');
// Bound at production, then assigned to the merchant by the admin (src/sims/README.md).
const car = await svc.registerVehicle(1, { iccid: simIccid(900), model: 'A7' });
const [iccid] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [900]);

t.test('bytes of the test window go to payer none; the rest is billed as usual', async (t) => {
  t.equal((await svc.request('POST', `/v1/sims/${iccid}/test`, { token })).status, 200, 'the card enters test at 10:00');
  clock.set(Date.parse('2026-11-10T12:00:00+08:00'));
  t.equal((await svc.request('POST', `/v1/sims/${iccid}/test/end`, { token })).status, 200, 'and leaves it at 12:00');
  clock.set(Date.parse('2026-11-10T15:00:00+08:00'));
  const device = await svc.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => device.endAsync());
  const record = (seq: number, start: string) => ({ seq, start, end: start, up: 100, down: 1000, host: 'tile.amap.com' });
  const records = [record(1, '2026-11-10T09:59:59.999+08:00'), record(2, '2026-11-10T10:00:00.000+08:00'), record(3, '2026-11-10T11:59:59.999+08:00'), record(4, '2026-11-10T12:00:00.000+08:00')];
  await device.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records }), { qos: 1 });
  const { rows } = await svc.service.pool.query('SELECT seq::int, payer, kind, bytes::int FROM allocations WHERE vin = $1 ORDER BY seq', [car.vin]);
  t.same(rows, [
    { seq: 1, payer: 'amap', kind: 'sponsored', bytes: 1100 },
    { seq: 2, payer: 'none', kind: 'test', bytes: 1100 },
    { seq: 3, payer: 'none', kind: 'test', bytes: 1100 },
    { seq: 4, payer: 'amap', kind: 'sponsored', bytes: 1100 },
  ]);
  const usage = await svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11');
  t.equal(usage.body.totalBytes, 2200, 'test bytes are not in any sponsor line');
});
