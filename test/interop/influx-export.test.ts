import t from 'tap';
import type { MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/shared/logger.js';
import { createTimeseriesExporter } from '../../src/timeseries/index.js';
import { manualClock, startTestService } from '../helpers/service.js';
import { eventually, startVictoriaMetrics, type ExportedSeries } from '../helpers/victoria-metrics.js';

/**
 * DESIGN 2, 7 and issue 7 against a real server of the InfluxDB v2 write API (VictoriaMetrics): usage
 * published over MQTT, billed by the service, exported as one point per (vehicle, app, sponsor, kind) and
 * start minute, verified through VictoriaMetrics' query API. One timeline on a manual clock:
 * (a) the service's own exporter (INFLUX_* set) writes the ledger's sums;
 * (b) a rewrite lands on its own series and minute (InfluxDB overwrites), and a late record rewrites its
 *     old minute with the full sum;
 * (c) VictoriaMetrics stops, billing goes on, the watermark stays; it restarts and every missed minute
 *     is backfilled from the ledger.
 */

const MINUTE = 60_000;
// Any hour will do for billing; VictoriaMetrics only refuses samples from the future, so stay behind
// the machine's date (this is not an assertion about time).
const BASE = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
const M = (n: number, seconds = 0) => BASE + n * MINUTE + seconds * 1000;

const clock = manualClock(M(0));
const vm = await startVictoriaMetrics(t);
const svc = await startTestService(t, { INFLUX_URL: vm.url, INFLUX_TOKEN: 'test-token', INFLUX_ORG: 'tbox', INFLUX_BUCKET: 'usage' }, clock);
const pool = svc.service.pool;

// A second exporter on the same database and server, run by hand so each step is deterministic. The
// service's own exporter keeps ticking meanwhile; the watermark row makes them take turns, and every
// assertion below holds whichever of the two did the work. Tiny pages and one-minute windows make it
// take the paths a busy system takes: several write requests per window, several windows per run.
const probeRegistry = new Registry();
const probe = createTimeseriesExporter({
  pool,
  clock,
  logger: createLogger('silent'),
  registry: probeRegistry,
  url: vm.url,
  token: 'test-token',
  org: 'tbox',
  bucket: 'usage',
  pageRows: 2,
  maxWindowMs: MINUTE,
});
t.teardown(() => probe.stop());

interface Car {
  vin: string;
  client: MqttClient;
  acks: Map<number, { accepted: number; rejected: unknown[] }>;
  nextBatch: number;
}

async function addCar(): Promise<Car> {
  const { vin, deviceSecret } = await svc.registerVehicle();
  const client = await svc.connectDevice(vin, deviceSecret);
  t.teardown(() => client.endAsync());
  const car: Car = { vin, client, acks: new Map(), nextBatch: 1 };
  await client.subscribeAsync(`tbox/${vin}/ack`, { qos: 1 });
  client.on('message', (_topic, payload) => {
    const ack = JSON.parse(payload.toString());
    car.acks.set(ack.batch, ack);
  });
  return car;
}

type Usage = [seq: number, startMs: number, up: number, down: number, host: string];

/** Publishes one message and waits for its ack (sent after the ledger commit, DESIGN 3.2). */
async function publish(car: Car, usage: Usage[]): Promise<{ accepted: number; rejected: unknown[] }> {
  const batch = car.nextBatch++;
  const records = usage.map(([seq, startMs, up, down, host]) => ({ seq, start: new Date(startMs).toISOString(), end: new Date(startMs + 5_000).toISOString(), up, down, host, port: 443 }));
  await car.client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch, records }), { qos: 1 });
  return eventually(`the ack of batch ${batch}`, async () => car.acks.get(batch));
}

/** The ledger's bytes per (start minute, vin, app, payer, kind): what the points must say. */
async function ledgerPoints(vins: string[]): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ minute_ms: string; vin: string; app: string; payer: string; kind: string; bytes: string }>(
    `SELECT (extract(epoch FROM date_bin('1 minute', start_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')) * 1000)::bigint::text AS minute_ms,
            vin, app, payer, kind, sum(bytes)::text AS bytes
       FROM allocations WHERE vin = ANY($1) GROUP BY 1, 2, 3, 4, 5`,
    [vins],
  );
  return new Map(rows.map((r) => [`${r.minute_ms}|${r.vin}|${r.app}|${r.payer}|${r.kind}`, r.bytes]));
}

/** Every sample VictoriaMetrics holds for these vehicles, grouped by the ledgerPoints key (series + minute). */
async function storedSamples(vins: string[]): Promise<Map<string, number[]>> {
  const series: ExportedSeries[] = await vm.exportSeries(`usage_bytes{vin=~"${vins.join('|')}"}`);
  const samples = new Map<string, number[]>();
  for (const s of series) {
    s.timestamps.forEach((ts, i) => {
      const key = `${ts}|${s.metric.vin}|${s.metric.app}|${s.metric.sponsor}|${s.metric.kind}`;
      samples.set(key, [...(samples.get(key) ?? []), s.values[i]!]);
    });
  }
  return samples;
}

/**
 * A minute's value as InfluxDB would show it: the newest write of its series and timestamp, which is the
 * largest one (a minute's sum only grows: allocations are append-only and positive). Never a sum of samples.
 */
function pointValues(samples: Map<string, number[]>): Map<string, string> {
  return new Map([...samples].map(([key, values]) => [key, String(Math.max(...values))]));
}

/** The keys whose values differ, as `key: stored → ledger`; empty when the maps are equal. */
function differences(stored: Map<string, string>, expected: Map<string, string>): string[] {
  const keys = new Set([...stored.keys(), ...expected.keys()]);
  return [...keys].filter((key) => stored.get(key) !== expected.get(key)).map((key) => `${key}: ${stored.get(key)} → ${expected.get(key)}`);
}

/**
 * Polls until VictoriaMetrics holds exactly the ledger's points for these vehicles: the same series and
 * minutes (no extra timestamp or series, which a rewrite elsewhere than its minute would leave) and each
 * minute's value equal to the ledger's sum. Returns every sample, for counting writes.
 */
async function pointsMatchLedger(vins: string[]): Promise<Map<string, number[]>> {
  const expected = await ledgerPoints(vins);
  return eventually('the points to equal the ledger', async () => {
    const samples = await storedSamples(vins);
    const diff = differences(pointValues(samples), expected);
    if (diff.length > 0) throw new Error(`stored → ledger differ at ${diff.join('; ')}`);
    return samples;
  });
}

async function watermark(): Promise<number | null> {
  const { rows } = await pool.query<{ watermark: Date }>("SELECT watermark FROM job_watermarks WHERE job = 'timeseries-export'");
  return rows[0]?.watermark.getTime() ?? null;
}

async function serviceMetric(name: string): Promise<number | null> {
  const response = await svc.request('GET', '/metrics', { token: null });
  const line = String(response.body).split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

async function probeMetric(name: string): Promise<number> {
  return (await probeRegistry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
}

async function pointsWrittenByBoth(): Promise<number> {
  return ((await serviceMetric('timeseries_points_written_total')) ?? 0) + (await probeMetric('timeseries_points_written_total'));
}

async function ledgerTotal(vin: string): Promise<string> {
  const { rows } = await pool.query<{ bytes: string }>('SELECT coalesce(sum(bytes), 0)::text AS bytes FROM allocations WHERE vin = $1', [vin]);
  return rows[0]!.bytes;
}

const a = await addCar();
const b = await addCar();
const both = [a.vin, b.vin];

/** The sum of a vehicle's minute values: what a dashboard totals, to compare with the ledger. */
function vehicleTotal(samples: Map<string, number[]>, vin: string): string {
  return String([...pointValues(samples)].filter(([key]) => key.split('|')[1] === vin).reduce((sum, [, value]) => sum + BigInt(value), 0n));
}

t.test('(a) the service exports one point per (vehicle, app, sponsor, kind) and start minute, with the ledger sums', async (t) => {
  clock.set(M(3));
  t.match(await publish(a, [
    [1, M(0, 5), 1000, 2000, 'tile.amap.com'],
    [2, M(0, 20), 300, 400, 'tile.amap.com'],
    [3, M(0, 40), 10, 20, 'telemetry.acme-motor.cn'],
    [4, M(1, 5), 5, 6, 'tile.amap.com'],
  ]), { accepted: 4, rejected: [] });
  t.match(await publish(b, [
    [1, M(0, 30), 100, 200, 'example.org'],
    [2, M(2, 5), 7, 8, 'tile.amap.com'],
  ]), { accepted: 2, rejected: [] });
  // Committed at M(3); that minute is exported once it is a safety lag (60 s) old.
  clock.set(M(5));

  const samples = await pointsMatchLedger(both);
  const values = pointValues(samples);
  t.equal(samples.size, 5, 'six records, five points: records of one key and minute are summed');
  t.ok([...samples.values()].every((v) => v.length === 1), 'each written once');
  t.equal(values.get(`${M(0)}|${a.vin}|navigation|amap|sponsored`), '3700', '1000+2000+300+400, exact');
  t.equal(values.get(`${M(1)}|${a.vin}|navigation|amap|sponsored`), '11');
  t.equal(values.get(`${M(2)}|${b.vin}|navigation|amap|sponsored`), '15');
  const series = await vm.exportSeries(`usage_bytes{vin=~"${both.join('|')}"}`);
  for (const s of series) t.same(Object.keys(s.metric).sort(), ['__name__', 'app', 'kind', 'sponsor', 'vin'], 'tags are the key only: no record id, no seq');
  await eventually('the watermark to reach M(4)', async () => ((await watermark()) === M(4) ? true : undefined));
  t.ok(((await serviceMetric('timeseries_points_written_total')) ?? 0) >= 5, 'the service counts the points it wrote');
  t.not(await serviceMetric('timeseries_watermark_lag_seconds'), null, 'and reports its watermark lag');
});

t.test('(b) a rewrite lands on the same series and minute; a late record rewrites its old minute with the full sum', async (t) => {
  // As if an exporter crashed after writing and before saving the watermark: the same minutes again.
  const before = await pointsWrittenByBoth();
  await pool.query("UPDATE job_watermarks SET watermark = $1 WHERE job = 'timeseries-export'", [new Date(M(-1))]);
  t.equal((await probe.runOnce()).watermarkMs, M(4));
  t.ok((await pointsWrittenByBoth()) - before >= 5, 'the five points were written again');
  let samples = await pointsMatchLedger(both);
  t.equal(samples.size, 5, 'no new series or timestamp');
  t.ok([...samples.values()].every((v) => v.length >= 2 && v.every((x) => x === v[0])), 'each minute written again with the same value: InfluxDB overwrites it in place');
  t.equal(vehicleTotal(samples, a.vin), await ledgerTotal(a.vin), 'no double counting: the minutes add up to the ledger');
  t.equal(await ledgerTotal(a.vin), '3741');

  // A late record for minute 0, committed at M(6), after minute 0 was exported.
  clock.set(M(6));
  t.match(await publish(a, [[5, M(0, 50), 20, 30, 'tile.amap.com']]), { accepted: 1 });
  clock.set(M(8));
  t.equal((await probe.runOnce()).watermarkMs, M(7));
  samples = await pointsMatchLedger(both);
  t.equal(pointValues(samples).get(`${M(0)}|${a.vin}|navigation|amap|sponsored`), '3750', 'minute 0 now holds all five records, not the late one alone');
  t.equal(samples.size, 5, 'still one series and timestamp per key and minute');
  t.equal(vehicleTotal(samples, a.vin), '3791', 'the minutes add up to the ledger');
  // At M(0) + 30 s a 59 s window holds minute 0's samples and no other minute's.
  const latest = await vm.query(`max_over_time(usage_bytes{vin="${a.vin}",app="navigation"}[59s])`, M(0, 30));
  t.same(latest.map((r) => r.value[1]), ['3750'], 'the query API reads the minute as its newest value');
});

t.test('(c) an InfluxDB outage: billing goes on, the watermark stays, the missed minutes are backfilled', async (t) => {
  await vm.stop();
  const written = await probeMetric('timeseries_points_written_total');

  clock.set(M(10));
  t.match(await publish(a, [[6, M(9, 10), 1, 2, 'tile.amap.com']]), { accepted: 1, rejected: [] }, 'billing is not blocked');
  t.match(await publish(b, [[3, M(9, 20), 3, 4, 'tile.amap.com']]), { accepted: 1, rejected: [] });
  clock.set(M(12));
  t.match(await publish(a, [[7, M(11), 5, 5, 'telemetry.acme-motor.cn']]), { accepted: 1, rejected: [] });
  clock.set(M(14));
  await t.rejects(probe.runOnce(), /InfluxDB write failed/, 'the export fails');
  t.ok((await probeMetric('timeseries_write_failures_total')) >= 1, 'and counts the failure');
  t.equal(await probeMetric('timeseries_points_written_total'), written, 'nothing counted as written');
  // The probe's one-minute windows pass the empty commit minutes 7-9; none passes minute 10 (unexported).
  t.equal(await watermark(), M(10), 'the watermark stops at the first commit minute not in InfluxDB');
  await eventually('the service exporter to count a failure', async () => (((await serviceMetric('timeseries_write_failures_total')) ?? 0) >= 1 ? true : undefined));
  t.ok(((await serviceMetric('timeseries_watermark_lag_seconds')) ?? 0) >= (M(14) - M(10)) / 1000, 'its watermark lag grows through the outage');

  // Ingest goes on after failed exports too.
  clock.set(M(15));
  t.match(await publish(b, [[4, M(14, 5), 9, 9, 'tile.amap.com']]), { accepted: 1, rejected: [] });
  const billed = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM allocations WHERE vin = ANY($1) AND committed_at >= $2', [both, new Date(M(10))]);
  t.equal(billed.rows[0]!.n, '4', 'every record of the outage is in the ledger');

  await vm.start(); // same port, same data path
  clock.set(M(17));
  t.equal((await probe.runOnce()).watermarkMs, M(16), 'the export catches up');
  t.equal(await watermark(), M(16));
  const samples = await pointsMatchLedger(both);
  const values = pointValues(samples);
  for (const [minute, vin, app, sponsor, bytes] of [
    [M(9), a.vin, 'navigation', 'amap', '3'],
    [M(9), b.vin, 'navigation', 'amap', '7'],
    [M(11), a.vin, 'telemetry', 'oem-acme', '10'],
    [M(14), b.vin, 'navigation', 'amap', '18'],
    [M(0), a.vin, 'navigation', 'amap', '3750'],
  ] as const) {
    t.equal(values.get(`${minute}|${vin}|${app}|${sponsor}|sponsored`), bytes, `${vin} ${app} at minute ${(minute - BASE) / MINUTE}`);
  }
  t.equal(samples.size, 9, 'the five points from before the outage survived the restart, four were backfilled');
  t.equal(vehicleTotal(samples, a.vin), await ledgerTotal(a.vin));
  t.equal(vehicleTotal(samples, b.vin), await ledgerTotal(b.vin));
});
