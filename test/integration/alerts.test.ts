import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/ingest-scenario.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Issue 14, usage alerts: rules of qqmusic on its capped music sponsorship (1 GiB per vehicle and month,
 * 5.00 per GiB), pushed by real MQTT usage past 80 % and 100 % of the cap and past a month-to-date amount;
 * each threshold fires once, evaluated after the batches (not by the sweep), and is delivered signed to a
 * real HTTP receiver; a new month resolves them all; a raised cap (catalog reload) resolves the cap rules.
 * Time is the test clock; the sweep and the deliverer run when the test calls them.
 */

const MIB = 1_048_576;
const clock = manualClock(Date.parse('2026-11-15T12:00:00+08:00'));
const databaseUrl = await createTestDatabase(t);
const catalogDir = await mkdtemp(path.join(tmpdir(), 'alerts-catalog-'));
t.teardown(() => rm(catalogDir, { recursive: true, force: true }));
await cp(path.join(PROJECT_ROOT, 'sponsors'), catalogDir, { recursive: true });
// The same PII key across the restart: the endpoint's secret stays readable.
const env = { PII_KEY: randomBytes(32).toString('base64'), WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_INTERVAL_MS: '3600000', DATABASE_URL: databaseUrl, CATALOG_DIR: catalogDir };
let svc: TestService = await startTestService(t, env, clock);

// ---- the receiver ------------------------------------------------------------------------------------------

const hook = await startWebhookReceiver(t, clock);
const receiverUrl = `${hook.url}/qq`;
/** What reached the receiver, parsed, in arrival order; each verified against the endpoint's secret. */
const received = () => hook.at('/qq').map((r) => ({ id: r.id, verified: r.verified, event: hook.parsed(r) }));

/** Runs the deliverer until nothing is due (one delivery per endpoint and pass). */
const deliverAll = async () => {
  while ((await svc.service.jobs.deliverWebhooks()) > 0);
};
const evaluations = () => svc.logs.filter((l) => l.msg === 'alerts evaluated after a batch').length;

const endpoint = await svc.request('POST', '/v1/sponsors/qqmusic/webhooks', { body: { url: receiverUrl, eventTypes: ['alert.triggered', 'alert.resolved'] } });
if (endpoint.status !== 201) throw new Error(`endpoint: ${endpoint.status}`);
hook.secrets.set('/qq', endpoint.body.secret as string);

const rule = async (body: Record<string, unknown>) => {
  const created = await svc.request('POST', '/v1/sponsors/qqmusic/alerts', { body });
  if (created.status !== 201) throw new Error(`rule: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id as string;
};
const share80 = await rule({ kind: 'cap_share', sponsorshipId: 'qqmusic-acme-2026', percent: 80 });
const share100 = await rule({ kind: 'cap_share', sponsorshipId: 'qqmusic-acme-2026', percent: 100 });
const amount = await rule({ kind: 'mtd_amount', amount: '4.00' });
const atCap = await rule({ kind: 'vehicles_at_cap', sponsorshipId: 'qqmusic-acme-2026', count: 1 });
const names = new Map([
  [share80, 'share80'],
  [share100, 'share100'],
  [amount, 'amount'],
  [atCap, 'atCap'],
]);
const alerts = async () => {
  const list = await svc.request('GET', '/v1/sponsors/qqmusic/alerts');
  if (list.status !== 200) throw new Error(`list: ${list.status}`);
  return Object.fromEntries((list.body.alerts as Array<Record<string, any>>).map((a) => [names.get(a.id), a])) as Record<string, any>;
};

const car = await svc.registerVehicle(1, { model: 'A7' });
let device: MqttClient = await svc.connectDevice(car.vin, car.deviceSecret);
let batch = 0;
/**
 * One message of music usage; resolves once its batch's alert evaluation ran (the ingest hook, not the
 * sweep) — or, for a batch that bills nothing a rule watches (`evaluated: false`), once it is acked.
 */
const play = async (mib: number, start: string, evaluated = true) => {
  const before = evaluations();
  batch++;
  await device.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch, records: [{ seq: batch, start, end: start, up: 0, down: mib * MIB, host: 'u.y.qq.com' }] }), { qos: 1 });
  if (evaluated) await waitFor(() => evaluations() > before, `the alert evaluation of batch ${batch}`);
};
const byType = (type: string) => received().filter((r) => r.event.type === type).map((r) => [names.get(r.event.data.alertId), r.event.data.period, r.event.data.value]);

t.test('alerts crossing as usage commits: each threshold once, signed', async (t) => {
  const november = '2026-11-15T11:00:00+08:00';
  await play(700, november);
  t.same(
    Object.values(await alerts()).map((a) => a.state),
    ['ok', 'ok', 'ok', 'ok'],
    '700 MiB of 1024: 68 %, 3.42 owed: nothing yet',
  );
  await play(150, november);
  let now = await alerts();
  t.equal(now.share80.state, 'triggered', '850 MiB: 83 % of the cap');
  t.equal(now.share80.triggeredValue, '83.00');
  t.equal(now.share80.period, '2026-11');
  t.equal(now.amount.state, 'triggered', '850 MiB × 5.00 / 1024 = 4.15 ≥ 4.00');
  t.equal(now.amount.triggeredValue, '4.15');
  t.equal(now.share100.state, 'ok');
  t.equal(now.atCap.state, 'ok');
  await play(10, november);
  await play(200, november);
  now = await alerts();
  t.equal(now.share100.state, 'triggered', 'the cap is reached (the rest went to overage)');
  t.equal(now.share100.triggeredValue, '100.00');
  t.equal(now.atCap.state, 'triggered');
  t.equal(now.atCap.triggeredValue, '1');
  // At the cap, more music is overage paid by the automaker: no sponsorship or payer a rule watches, so
  // the batch costs the alerts nothing; the sweep confirms nothing was missed.
  await play(10, november, false);
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, 'the sweep finds nothing more to do');

  await deliverAll();
  t.ok(received().length > 0 && received().every((r) => r.verified), 'every delivery verified by the receiver');
  t.same(
    byType('alert.triggered').sort(),
    [
      ['amount', '2026-11', '4.15'],
      ['atCap', '2026-11', '1'],
      ['share100', '2026-11', '100.00'],
      ['share80', '2026-11', '83.00'],
    ],
    'exactly one alert.triggered per threshold, not repeated by later batches',
  );
  t.same(byType('alert.resolved'), []);
  const first = received().find((r) => names.get(r.event.data.alertId) === 'share80')!;
  t.match(first.event.data, { kind: 'cap_share', threshold: '80%', sponsorshipId: 'qqmusic-acme-2026', triggeredAt: '2026-11-15T12:00:00.000+08:00' });
  t.equal(first.id, first.event.id, 'webhook-id is the event id');
});

t.test('alerts resolving at month start', async (t) => {
  clock.set(Date.parse('2026-11-30T23:59:59+08:00'));
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, 'still November');
  clock.set(Date.parse('2026-12-01T00:00:05+08:00'));
  t.equal(await svc.service.jobs.evaluateAlerts(), 4, 'a new billing month ends all four');
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, 'resolved once');
  const now = await alerts();
  for (const name of ['share80', 'share100', 'amount', 'atCap']) {
    t.equal(now[name].state, 'resolved', name);
    t.equal(now[name].resolvedAt, '2026-12-01T00:00:05.000+08:00');
  }
  const before = received().length;
  await deliverAll();
  t.ok(received().slice(before).every((r) => r.verified));
  t.same(byType('alert.resolved').map(([name, period]) => [name, period]).sort(), [
    ['amount', '2026-11'],
    ['atCap', '2026-11'],
    ['share100', '2026-11'],
    ['share80', '2026-11'],
  ]);
});

t.test('a raised cap (catalog reload) resolves the cap alerts of the month', async (t) => {
  const december = '2026-12-01T00:00:01+08:00';
  await play(900, december);
  const now = await alerts();
  t.equal(now.share80.state, 'triggered', 'December: 87 % of the cap');
  t.equal(now.share80.period, '2026-12');
  t.equal(now.amount.state, 'triggered', '900 MiB owe 4.39');
  t.equal(now.share100.state, 'resolved', 'still November’s state');

  // Reload: the same database, the catalog with a cap of 2048 MiB.
  await device.endAsync();
  await svc.service.stop();
  const file = path.join(catalogDir, '30-sponsorships.yaml');
  const yaml = await readFile(file, 'utf8');
  const raised = yaml.replace(/(id: qqmusic-acme-2026[\s\S]*?capMiBPerVehicleMonth: )1024/, '$12048');
  t.not(raised, yaml, 'the cap changed');
  await writeFile(file, raised);
  svc = await startTestService(t, env, clock);
  device = await svc.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => device.endAsync());

  // The sweep also runs once when the service starts: whichever run comes first resolves, once.
  await svc.service.jobs.evaluateAlerts();
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, 'nothing left to change');
  const after = await alerts();
  t.equal(after.share80.state, 'resolved');
  t.equal(after.share80.resolvedValue, '43.94');
  t.equal(after.amount.state, 'triggered', 'the amount owed did not change');
  await deliverAll();
  t.same(byType('alert.resolved').filter(([, period]) => period === '2026-12'), [['share80', '2026-12', '43.94']]);
  t.same(byType('alert.triggered').filter(([, period]) => period === '2026-12').map(([name]) => name).sort(), ['amount', 'share80']);
  t.ok(received().every((r) => r.verified));

  await play(1000, december);
  t.equal((await alerts()).share80.state, 'resolved', 'once per period: the month’s 80 % does not fire again after its resolution');
});
