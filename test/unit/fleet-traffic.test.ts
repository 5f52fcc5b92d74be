import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { loadCatalog } from '../../src/catalog/index.js';
import { compileClassifier } from '../../src/classify/index.js';
import { parseUsageMessage } from '../../src/ingest/parse-usage.js';
import { checkIccid, checkVin } from '../../src/shared/identifiers.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import {
  buildUsagePayload,
  createRng,
  deriveCatalogTraffic,
  fleetIccid,
  fleetVin,
  formatTimestamp,
  MAX_PAYLOAD_BYTES,
  splitIntoMessages,
  TrafficModel,
  type Flow,
  type SimRecord,
} from '../../simulators/fleet/index.js';

const { catalog } = await loadCatalog(path.join(PROJECT_ROOT, 'sponsors'));
const traffic = deriveCatalogTraffic(catalog);
const classifier = compileClassifier(catalog.apps);
const START = Date.parse('2026-11-03T00:00:00Z');

function minutes(seed: string, count: number, start = START): Flow[][] {
  const model = new TrafficModel(traffic, createRng(seed).fork('traffic'));
  return Array.from({ length: count }, (_, i) => model.nextMinute(start + i * 60_000));
}

t.test('the same seed gives the same flows; another seed other flows', async (t) => {
  t.same(minutes('fleet-7/V1', 240), minutes('fleet-7/V1', 240));
  t.notSame(minutes('fleet-7/V1', 240), minutes('fleet-8/V1', 240));
  t.notSame(minutes('fleet-7/V1', 240), minutes('fleet-7/V2', 240));
});

t.test('forked streams are independent of how much the parent or a sibling draws', async (t) => {
  const a = createRng('s');
  const b = createRng('s');
  for (let i = 0; i < 100; i++) b.fork('jitter').float();
  b.float();
  t.same([a.fork('traffic').float(), a.fork('traffic').float()], [b.fork('traffic').float(), b.fork('traffic').float()]);
});

t.test('every endpoint derived from the catalog classifies to its app', async (t) => {
  const apps = traffic.apps.map((a) => a.app).sort();
  t.same(apps, ['fm', 'general', 'music', 'navigation', 'ota', 'remote-control', 'telemetry', 'wifi-hotspot']);
  const behaviour = Object.fromEntries(traffic.apps.map((a) => [a.app, a.behaviour]));
  t.match(behaviour, { telemetry: 'telemetry', 'remote-control': 'control', ota: 'ota', navigation: 'navigation', music: 'stream', fm: 'stream', 'wifi-hotspot': 'hotspot', general: 'general' });
  for (const app of traffic.apps) {
    for (const e of app.endpoints) {
      const got = classifier.classify({ iface: e.iface, port: e.port, ...(e.host ? { host: e.host } : {}), ...(e.ip ? { ip: e.ip } : {}), ...(e.pkg ? { pkg: e.pkg } : {}) });
      t.equal(got.app, app.app, `${JSON.stringify(e)} → ${app.app}`);
    }
  }
  t.ok(traffic.automakers.includes('oem-acme'));
  t.ok(traffic.models.includes('A7') && traffic.models.some((m) => m !== 'A7' && m !== 'A9'), 'models named by sponsorships and one that is not');
});

t.test('a day of traffic: every kind appears, records are valid and classify as the simulator expects', async (t) => {
  const seen = new Map<string, number>();
  let seq = 0;
  const records: SimRecord[] = [];
  // Several vehicles over a simulated day, so rare traffic (OTA, remote control) shows up.
  for (let v = 0; v < 6; v++) {
    for (const minute of minutes(`day/${v}`, 1440)) {
      for (const flow of minute) {
        records.push({ ...flow, seq: seq++ });
        seen.set(flow.app, (seen.get(flow.app) ?? 0) + 1);
      }
    }
  }
  t.same([...seen.keys()].sort(), ['fm', 'general', 'music', 'navigation', 'ota', 'remote-control', 'telemetry', 'wifi-hotspot']);
  const bad = records.filter((r) => !(r.startMs <= r.endMs && r.endMs - r.startMs <= 86_400_000 && r.up >= 0 && r.down >= 0 && r.up <= 2 ** 40 && r.down <= 2 ** 40));
  t.same(bad.slice(0, 3), [], 'start ≤ end, spans ≤ 24 h, bytes 0..2^40');
  let batch = 0;
  const messages = splitIntoMessages('epoch-1', records, 50, () => batch++);
  t.equal(messages.reduce((n, m) => n + m.records.length, 0), records.length, 'no record lost or repeated');
  const problems: string[] = [];
  for (const message of messages) {
    const parsed = parseUsageMessage(Buffer.from(buildUsagePayload(message)));
    if (!parsed.ok) {
      problems.push(`batch ${message.batch} rejected: ${parsed.message}`);
      continue;
    }
    parsed.records.forEach((result, i) => {
      const expected = message.records[i]!;
      if (!result.ok) return void problems.push(`seq ${expected.seq} rejected: ${result.message}`);
      if (result.record.up + result.record.down !== BigInt(expected.up + expected.down)) problems.push(`seq ${expected.seq}: bytes differ`);
      const r = result.record;
      const { app } = classifier.classify({ iface: r.iface, ...(r.host ? { host: r.host } : {}), ...(r.ip ? { ip: r.ip } : {}), ...(r.port !== null ? { port: r.port } : {}), ...(r.pkg !== null ? { pkg: r.pkg } : {}) });
      if (app !== expected.app) problems.push(`seq ${expected.seq}: classified ${app}, simulator expects ${expected.app}`);
    });
  }
  t.same(problems.slice(0, 10), [], `all ${records.length} records parse as valid and classify as expected`);
});

t.test('flows of a minute end inside it, so a report never runs ahead of its own clock', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.integer({ min: 1, max: 120 }), (seed, count) => {
      const all = minutes(seed, count);
      return all.every((flows, i) => flows.every((f) => f.endMs > START + i * 60_000 && f.endMs <= START + (i + 1) * 60_000));
    }),
    { numRuns: 50 },
  );
  t.pass('held for 50 random seeds and lengths');
});

t.test('messages respect 1,000 records and 262,144 bytes (DESIGN 3.0), in seq order', async (t) => {
  const long = 'h'.repeat(240) + '.example.com';
  const records: SimRecord[] = Array.from({ length: 2500 }, (_, seq) => ({ seq, startMs: START, endMs: START + 1, up: 1, down: 2, host: long, port: 443, proto: 'tcp', iface: 'tbox', pkg: 'p'.repeat(200), app: 'general' }));
  let batch = 10;
  const messages = splitIntoMessages('e', records, 1000, () => batch++);
  t.ok(messages.length > 3, 'large records force smaller messages');
  t.same(messages.map((m) => m.batch), messages.map((_, i) => 10 + i));
  t.same(messages.flatMap((m) => m.records.map((r) => r.seq)), records.map((r) => r.seq));
  t.ok(messages.every((m) => Buffer.byteLength(buildUsagePayload(m)) <= MAX_PAYLOAD_BYTES && m.records.length <= 1000));
  t.throws(() => splitIntoMessages('e', records, 1001, () => 0), /1..1000/);
});

t.test('timestamps carry the T-Box offset and milliseconds (RFC 3339)', async (t) => {
  t.equal(formatTimestamp(Date.parse('2026-11-03T00:15:00.120Z')), '2026-11-03T08:15:00.120+08:00');
  t.equal(formatTimestamp(Date.parse('2026-11-03T00:15:00Z'), 0), '2026-11-03T00:15:00.000Z');
  t.equal(formatTimestamp(Date.parse('2026-11-03T00:15:00Z'), -330), '2026-11-02T18:45:00.000-05:30');
});

t.test('fleet identities are valid, stable and distinct per fleet', async (t) => {
  const vins = new Set<string>();
  const iccids = new Set<string>();
  const invalid: string[] = [];
  for (const fleet of ['A', 'B', '7']) {
    for (let i = 0; i < 300; i++) {
      const vin = fleetVin(fleet, i);
      const iccid = fleetIccid(fleet, i);
      if (!checkVin(vin).ok) invalid.push(vin);
      if (!checkIccid(iccid).ok) invalid.push(iccid);
      vins.add(vin);
      iccids.add(iccid);
    }
  }
  t.same(invalid, [], 'every VIN and ICCID passes its check digit');
  t.equal(vins.size, 900);
  t.equal(iccids.size, 900);
  t.equal(fleetVin('A', 0), fleetVin('A', 0));
  t.throws(() => fleetVin('I', 0), /fleet id/);
});
