import t from 'tap';
import mqtt from 'mqtt';
import { startTestService } from '../helpers/service.js';
import { makeVin } from '../helpers/fixtures.js';

/** DESIGN 3.0 at the broker boundary, with a real mqtt client against the embedded broker. */
const svc = await startTestService(t);
const car = await svc.registerVehicle();
const other = await svc.registerVehicle();

function connectError(options: mqtt.IClientOptions): Promise<number | undefined> {
  return mqtt.connectAsync(svc.mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options }).then(
    async (client) => {
      await client.endAsync();
      return 0;
    },
    (error: { code?: number }) => error.code,
  );
}

/** The SUBACK return code for one filter (mqtt.js turns 0x80 into an error carrying the packet). */
function subscribeCode(client: mqtt.MqttClient, filter: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    client.subscribe(filter, { qos: 1 }, (error, granted) => {
      const packet = (error as { packet?: { granted?: number[] } } | null)?.packet;
      resolve(error ? packet?.granted?.[0] : granted?.[0]?.qos);
    });
  });
}

function closed(client: mqtt.MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve();
    client.once('close', () => resolve());
  });
}

t.test('the right secret connects', async (t) => {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  t.ok(client.connected);
  await client.endAsync();
});

t.test('refusals at CONNECT', async (t) => {
  t.equal(await connectError({ clientId: car.vin, username: car.vin, password: 'wrong' }), 4, 'wrong secret: bad username or password');
  const unknown = makeVin(999_999);
  t.equal(await connectError({ clientId: unknown, username: unknown, password: car.deviceSecret }), 4, 'unknown VIN');
  t.equal(await connectError({ clientId: car.vin }), 4, 'no credentials');
  t.equal(await connectError({ clientId: other.vin, username: car.vin, password: car.deviceSecret }), 5, 'clientId ≠ username');
  t.equal(
    await connectError({ clientId: car.vin, username: car.vin, password: car.deviceSecret, will: { topic: `tbox/${car.vin}/usage`, payload: Buffer.from('x'), qos: 0, retain: false } }),
    5,
    'a Will message',
  );
  t.equal(await connectError({ clientId: car.vin, username: car.vin, password: car.deviceSecret, protocolVersion: 5 }), 1, 'MQTT 5 is not supported by the embedded broker');
});

t.test('subscriptions: only the device’s own ack, rules and control topics', async (t) => {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => client.endAsync());
  const allowed = [`tbox/${car.vin}/ack`, `tbox/${car.vin}/rules`, `tbox/${car.vin}/control/+`, `tbox/${car.vin}/control/#`, `tbox/${car.vin}/control/navigation`];
  const refused = [
    `tbox/${other.vin}/ack`,
    `tbox/${other.vin}/control/+`,
    '#',
    'tbox/#',
    'tbox/+/ack',
    `tbox/${car.vin}/#`,
    `tbox/${car.vin}/+`,
    `tbox/${car.vin}/usage`,
    `$share/billing/tbox/${car.vin}/ack`,
    '$share/g/tbox/+/usage',
    '$SYS/#',
  ];
  for (const filter of allowed) {
    t.equal(await subscribeCode(client, filter), 1, `granted ${filter}`);
  }
  for (const filter of refused) {
    t.equal(await subscribeCode(client, filter), 128, `refused ${filter}`);
  }
});

t.test('a forbidden publish closes the connection', async (t) => {
  for (const [topic, retain] of [
    [`tbox/${other.vin}/usage`, false],
    [`tbox/${car.vin}/ack`, false],
    [`tbox/${car.vin}/control/navigation`, false],
    ['$SYS/anything', false],
    [`tbox/${car.vin}/usage`, true],
  ] as const) {
    const client = await svc.connectDevice(car.vin, car.deviceSecret);
    const gone = closed(client);
    client.publish(topic, '{}', { qos: 1, retain });
    await gone;
    t.notOk(client.connected, `${topic}${retain ? ' (retained)' : ''} closed the connection`);
    await client.endAsync(true);
  }
});

t.test('a usage payload over 262,144 bytes closes the connection; the limit itself passes', async (t) => {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  await client.publishAsync(`tbox/${car.vin}/usage`, Buffer.alloc(262_144, 0x20), { qos: 1 });
  t.ok(client.connected, 'exactly 262,144 bytes is accepted by the broker');
  const gone = closed(client);
  client.publish(`tbox/${car.vin}/usage`, Buffer.alloc(262_145, 0x20), { qos: 1 });
  await gone;
  t.notOk(client.connected, 'one byte more closes it');
  await client.endAsync(true);

  const huge = await svc.connectDevice(car.vin, car.deviceSecret);
  const hugeGone = closed(huge);
  huge.publish(`tbox/${car.vin}/usage`, Buffer.alloc(10 * 1024 * 1024, 0x20), { qos: 0 });
  await hugeGone;
  t.notOk(huge.connected, 'a 10 MiB packet is refused at its header');
  await huge.endAsync(true);
});

t.test('a rotated secret stops working at once and the live session is closed', async (t) => {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  const gone = closed(client);
  const rotated = await svc.request('POST', `/v1/vehicles/${car.vin}/secret`);
  t.equal(rotated.status, 200);
  t.not(rotated.body.deviceSecret, car.deviceSecret);
  await gone;
  t.notOk(client.connected, 'live session closed');
  await client.endAsync(true);
  t.equal(await connectError({ clientId: car.vin, username: car.vin, password: car.deviceSecret }), 4, 'old secret refused (even though it was cached)');
  const fresh = await svc.connectDevice(car.vin, rotated.body.deviceSecret);
  t.ok(fresh.connected, 'new secret works');
  await fresh.endAsync();
});
