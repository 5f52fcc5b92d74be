import path from 'node:path';
import t from 'tap';
import { formatTimestamp, loadCatalogTraffic, manualTimers, mqttTransport, StateStore, Vehicle, type Flow, type Transport } from '../../simulators/fleet/index.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { waitFor } from '../helpers/fleet.js';
import { startTestService } from '../helpers/service.js';

/**
 * Issue 14, "T-Boxes that obey the platform": a simulated T-Box (simulators/fleet, real MQTT on one
 * connection) against the whole service (real broker, real PostgreSQL). Its unrecognised traffic (`general`)
 * has no sponsorship and, before a pack, no pack: it goes to overage and the platform blocks it
 * (FUNDS_EXHAUSTED, DESIGN 3.3). The unit refuses the app's new flows from the next report on; after a pack
 * purchase the control becomes `allow` with a higher rev and the next report carries the app again.
 *
 * Time is counted in reports (one per simulated minute, on the simulator's manual clock), never in
 * milliseconds: after each report the test waits — however long this machine takes — for the ack and for
 * the unit to have applied the control the commit produced, then moves the clock one report on.
 */
const svc = await startTestService(t, { LOG_LEVEL: 'warn' });
const { vin, deviceSecret } = await svc.registerVehicle();
const traffic = await loadCatalogTraffic(path.join(PROJECT_ROOT, 'sponsors'));

const MINUTE = 60_000;
const REPORTS = 8;
const GENERAL_HOST = 'api.weather-example.cn';
const TELEMETRY_HOST = 'telemetry.acme-motor.cn';
// Every simulated minute: a telemetry report (blockable: false) and one unrecognised flow of 1 MB.
const minuteFlows = (w: number): Flow[] => [
  { startMs: w + 1_000, endMs: w + 2_000, up: 1_200, down: 300, host: TELEMETRY_HOST, port: 443, proto: 'tcp', iface: 'tbox', app: 'telemetry' },
  { startMs: w + 3_000, endMs: w + 9_000, up: 24_000, down: 976_000, host: GENERAL_HOST, port: 443, proto: 'tcp', iface: 'tbox', app: 'general' },
];

// The simulated hour ends before the real clock (DESIGN 3.1: no records from the future).
const realNow = Date.now();
const timers = manualTimers(realNow);
const time = { startMs: realNow - 2 * REPORTS * MINUTE, realStartMs: realNow, speed: 1 };

/** The real MQTT transport, recording each usage message the unit publishes (its records, in order). */
const published: Array<{ batch: number; records: Array<{ seq: number; host?: string }> }> = [];
const real = mqttTransport({ url: svc.mqttUrl });
const transport: Transport = {
  async connect(identity, subscriptions, events) {
    const connection = await real.connect(identity, subscriptions, events);
    return {
      publish(topic, payload, qos) {
        published.push(JSON.parse(payload));
        connection.publish(topic, payload, qos);
      },
      close: () => connection.close(),
      drop: () => connection.drop(),
    };
  },
};

const vehicle = new Vehicle({
  identity: { vin, secret: deviceSecret },
  traffic,
  trafficSource: { nextMinute: minuteFlows },
  seed: 'obey',
  store: await StateStore.open(null),
  transport,
  timers,
  time,
  minutes: REPORTS,
  // The clock jumps a whole report at a time, faster than any ack can come back: no resend inside a jump.
  window: { ackTimeoutMs: 3_600_000, maxBackoffMs: 3_600_000 },
});
t.teardown(() => vehicle.stop());

async function serverControl(app: string): Promise<{ action: string; rev: number } | undefined> {
  const response = await svc.request('GET', `/v1/vehicles/${vin}`);
  return (response.body.controls as Array<{ app: string; action: string; rev: number }>).find((c) => c.app === app);
}

/** The unit has applied the platform's current control of `app` (retained on connect, or pushed after a commit). */
async function deviceInSync(app: string): Promise<{ action: string; rev: number } | undefined> {
  const expected = await serverControl(app);
  if (expected) await waitFor(() => (vehicle.control(app)?.rev ?? 0) >= expected.rev, `the unit to apply ${app} rev ${expected.rev}`);
  return expected;
}

/** One report interval: the clock moves one simulated minute, the report goes out and is acked; its hosts. */
async function nextReport(): Promise<string[]> {
  const from = published.length;
  const before = vehicle.minutesDone;
  timers.advance(MINUTE);
  if (vehicle.minutesDone !== before + 1) throw new Error(`one simulated minute made ${vehicle.minutesDone - before} reports`);
  await waitFor(() => vehicle.unacked === 0 && vehicle.queued === 0, 'the report to be acknowledged');
  return published.slice(from).flatMap((m) => m.records.map((r) => r.host ?? '?'));
}

const generalSeqs = (reports: string[][], seqsOf: number[][]) => reports.flatMap((hosts, i) => hosts.flatMap((h, j) => (h === GENERAL_HOST ? [seqsOf[i]![j]!] : [])));

t.test('overage of an unfunded app stops within one report after the block and resumes after a pack purchase', async (t) => {
  vehicle.start();
  await waitFor(() => vehicle.connected && vehicle.rulesVersion !== null, 'the unit to connect and receive its rules');
  t.equal(vehicle.rulesVersion, svc.service.catalogVersion, 'rules of the running catalog (DESIGN 3.4)');
  t.equal(await serverControl('general'), undefined, 'no control before any usage: allowed');

  const reports: string[][] = [];
  const seqs: number[][] = [];
  const report = async () => {
    const from = published.length;
    const hosts = await nextReport();
    reports.push(hosts);
    seqs.push(published.slice(from).flatMap((m) => m.records.map((r) => r.seq)));
    return hosts;
  };

  // Report 1: the unit knows no block yet, so the flow goes out; the platform bills it to overage and blocks.
  t.same(await report(), [TELEMETRY_HOST, GENERAL_HOST], 'report 1 carries the unfunded app');
  const block = await deviceInSync('general');
  t.equal(block?.action, 'block', 'general blocked after the commit (FUNDS_EXHAUSTED)');
  t.equal(vehicle.control('general')?.action, 'block');

  // Within one report interval: the very next report and those after it hold the app back.
  for (let i = 2; i <= 4; i++) t.same(await report(), [TELEMETRY_HOST], `report ${i}: telemetry only, general held back`);
  t.equal(vehicle.stats.recordsHeldBack, 3, 'one flow held back per report');
  t.equal(vehicle.stats.bytesHeldBack, 3_000_000n);
  t.same(vehicle.stats.bytesHeldBackByApp, new Map([['general', 3_000_000n]]));

  // The owner buys a pack for any traffic; funding is re-evaluated in the purchase's transaction.
  const purchase = await svc.request('POST', `/v1/vehicles/${vin}/packs`, { body: { pack: 'general-5g', purchasedAt: formatTimestamp(time.startMs) } });
  t.equal(purchase.status, 201);
  const allow = await deviceInSync('general');
  t.equal(allow?.action, 'allow', 'allowed again');
  t.ok(allow!.rev > block!.rev, `a higher rev (${block!.rev} → ${allow!.rev})`);

  for (let i = 5; i <= REPORTS; i++) t.same(await report(), [TELEMETRY_HOST, GENERAL_HOST], `report ${i}: the app's traffic resumed`);
  t.equal(vehicle.stats.recordsHeldBack, 3, 'nothing more held back');

  // The ledger: general bytes went to overage only in report 1, to the pack from report 5 on.
  const { rows } = await svc.service.pool.query<{ seq: string; kind: string }>(`SELECT seq::text, kind FROM allocations WHERE vin = $1 AND app = 'general' ORDER BY seq`, [vin]);
  const kinds = new Map(rows.map((r) => [Number(r.seq), r.kind]));
  const [first, ...later] = generalSeqs(reports, seqs);
  t.equal(kinds.get(first!), 'overage', 'report 1: overage');
  t.same(later.map((seq) => kinds.get(seq)), later.map(() => 'pack'), 'after the purchase: the pack pays');
  t.equal(rows.length, 1 + REPORTS - 4, 'no general record from the blocked reports ever reached the ledger');
});
