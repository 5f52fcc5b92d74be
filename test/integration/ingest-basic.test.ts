import t from 'tap';
import { startTestService } from '../helpers/service.js';

const svc = await startTestService(t);
const car = await svc.registerVehicle();

function record(seq: number, extra: Record<string, unknown> = {}) {
  return { seq, start: '2026-11-03T08:15:00.000+08:00', end: '2026-11-03T08:16:00.000+08:00', up: 1024, down: 52000, host: 'tile.amap.com', port: 443, ...extra };
}

t.test('a usage message is committed, then acked', async (t) => {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => client.endAsync());
  await client.subscribeAsync(`tbox/${car.vin}/ack`, { qos: 1 });
  const acks: any[] = [];
  client.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString())));
  await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records: [record(1), record(2, { up: -1 }), record(1)] }), { qos: 1 });
  // PUBACK is held until the commit, so the ledger has the record now.
  const { rows } = await svc.service.pool.query('SELECT app, rule_id FROM usage_records WHERE vin = $1', [car.vin]);
  t.same(rows, [{ app: 'navigation', rule_id: 'navigation/suffix/*.amap.com' }]);
  while (acks.length === 0) await new Promise((r) => setTimeout(r, 10));
  t.match(acks[0], { v: 1, batch: 1, accepted: 1, duplicates: 1, rejected: [{ index: 1, seq: 2, code: 'INVALID_RECORD', retryable: false }] });
  const alloc = await svc.service.pool.query('SELECT payer, kind, bytes FROM allocations WHERE vin = $1', [car.vin]);
  t.same(alloc.rows, [{ payer: 'amap', kind: 'sponsored', bytes: '53024' }]);
});
