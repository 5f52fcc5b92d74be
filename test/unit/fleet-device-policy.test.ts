import path from 'node:path';
import t from 'tap';
import { loadCatalog } from '../../src/catalog/index.js';
import { appSignatures } from '../../src/classify/index.js';
import { ackTopic, controlTopic, rulesTopic } from '../../src/mqtt/topics.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { DevicePolicy, deriveCatalogTraffic, manualTimers, StateStore, Vehicle, type ConnectionEvents, type Flow, type Transport } from '../../simulators/fleet/index.js';

/**
 * The T-Box side of DESIGN 3.3/3.4 in the simulator: controls applied by rev (lower or equal ignored,
 * empty payload clears), flows classified with the rules payload (DESIGN 4.1), blocked apps' new flows
 * held back and counted, never numbered or sent; telemetry (blockable: false) never refused.
 */
const { catalog } = await loadCatalog(path.join(PROJECT_ROOT, 'sponsors'));
const rules = JSON.stringify({ v: 1, catalogVersion: 'test-version', apps: appSignatures(catalog.apps) });
const control = (app: string, action: 'block' | 'allow', rev: number) => JSON.stringify({ v: 1, app, action, reasons: action === 'block' ? ['FUNDS_EXHAUSTED'] : [], rev, at: '2026-11-03T08:16:02.120+08:00' });

const flow = (fields: Partial<Flow>): Flow => ({ startMs: 0, endMs: 1_000, up: 100, down: 900, iface: 'tbox', app: '?', port: 443, proto: 'tcp', ...fields });
const unknownHost = flow({ host: 'api.weather-example.cn', app: 'general' });
const music = flow({ host: 'stream.y.qq.com', app: 'music' });
const telemetry = flow({ host: 'telemetry.acme-motor.cn', app: 'telemetry' });
const hotspot = flow({ host: 'www.baidu.com', iface: 'hotspot', app: 'wifi-hotspot' });

t.test('controls: highest rev wins; lower and equal revs are ignored; an empty payload clears', async (t) => {
  const policy = new DevicePolicy();
  t.equal(policy.control('music'), undefined, 'no retained control = allowed');
  t.equal(policy.applyControl('music', control('music', 'block', 3)), 'applied');
  t.equal(policy.applyControl('music', control('music', 'allow', 2)), 'stale', 'a lower rev arriving late is ignored');
  t.equal(policy.applyControl('music', control('music', 'allow', 3)), 'stale', 'an equal rev (the retained copy again) is ignored');
  t.equal(policy.control('music')?.action, 'block');
  t.equal(policy.applyControl('music', control('music', 'allow', 4)), 'applied');
  t.same(policy.control('music'), { action: 'allow', rev: 4, reasons: [] });
  t.equal(policy.applyControl('music', 'not json'), 'invalid');
  t.equal(policy.applyControl('music', control('fm', 'block', 9)), 'invalid', 'the payload names another app than its topic');
  t.equal(policy.applyControl('music', ''), 'cleared', 'the app left the catalog');
  t.equal(policy.control('music'), undefined);
});

t.test('flows are classified by the rules received, and only a blocked app is held back', async (t) => {
  const policy = new DevicePolicy();
  policy.applyControl('general', control('general', 'block', 1));
  t.same(policy.admit(unknownHost), { app: 'general', allowed: true }, 'before any rules nothing is refused');
  t.ok(policy.applyRules(rules));
  t.equal(policy.catalogVersion, 'test-version');
  t.same(policy.admit(unknownHost), { app: 'general', allowed: false });
  t.same(policy.admit(music), { app: 'music', allowed: true });
  t.same(policy.admit(flow({ ip: '198.51.100.7', app: '?' })), { app: 'music', allowed: true }, 'by CIDR (DESIGN 4.1 step 4)');
  t.same(policy.admit(flow({ host: 'rc.acme-motor.cn', port: 80 })), { app: 'general', allowed: false }, 'a port the app excludes falls through to general');
  policy.applyControl('wifi-hotspot', control('wifi-hotspot', 'block', 1));
  t.same(policy.admit(hotspot), { app: 'wifi-hotspot', allowed: false }, 'hotspot interface (step 1)');
  policy.applyControl('telemetry', control('telemetry', 'block', 1));
  t.same(policy.admit(telemetry), { app: 'telemetry', allowed: true }, 'blockable: false is never refused, whatever a control says');
  t.notOk(policy.applyRules('{"v":2}'), 'an unknown rules version changes nothing');
  t.same(policy.admit(unknownHost), { app: 'general', allowed: false });
});

t.test('a vehicle holds back new flows of a blocked app, counts them, and resumes on allow', async (t) => {
  const T0 = Date.parse('2026-11-03T00:00:00Z');
  const VIN = 'LFVFLTA10RS000001';
  const timers = manualTimers(T0);
  let events: ConnectionEvents | null = null;
  const published: Array<{ records: Array<{ seq: number; host?: string }> }> = [];
  const transport: Transport = {
    async connect(_identity, subscriptions, handlers) {
      t.same(subscriptions, [ackTopic(VIN), controlTopic(VIN, '+'), rulesTopic(VIN)], 'one connection: ack, controls and rules');
      events = handlers;
      // Retained messages arrive on connect.
      handlers.message(rulesTopic(VIN), Buffer.from(rules));
      handlers.message(controlTopic(VIN, 'general'), Buffer.from(control('general', 'block', 2)));
      return { publish: (_topic, payload) => void published.push(JSON.parse(payload)), close: async () => undefined, drop: () => undefined };
    },
  };
  // Every minute: one telemetry flow and one unrecognised (general) flow.
  const vehicle = new Vehicle({
    identity: { vin: VIN, secret: 's' },
    traffic: deriveCatalogTraffic(catalog),
    trafficSource: { nextMinute: (w) => [{ ...telemetry, startMs: w, endMs: w + 1_000 }, { ...unknownHost, startMs: w, endMs: w + 2_000 }] },
    seed: 'policy',
    store: await StateStore.open(null),
    transport,
    timers,
    time: { startMs: T0, realStartMs: T0, speed: 1 },
    minutes: 10,
  });
  t.teardown(() => vehicle.stop());
  vehicle.start();
  await new Promise((resolve) => setImmediate(resolve));
  const ackAll = () => {
    for (const m of published.splice(0)) events?.message(ackTopic(VIN), Buffer.from(JSON.stringify({ v: 1, batch: (m as unknown as { batch: number }).batch, accepted: m.records.length, duplicates: 0, rejected: [] })));
  };
  const hostsOfNextReport = () => {
    timers.advance(60_000);
    const hosts = published.flatMap((m) => m.records.map((r) => r.host));
    ackAll();
    return hosts;
  };
  t.same(hostsOfNextReport(), ['telemetry.acme-motor.cn'], 'general is blocked: only telemetry leaves the unit');
  t.equal(vehicle.stats.recordsHeldBack, 1);
  t.equal(vehicle.stats.bytesHeldBack, 1_000n);
  t.same(vehicle.stats.recordsHeldBackByApp, new Map([['general', 1]]));
  events!.message(controlTopic(VIN, 'general'), Buffer.from(control('general', 'allow', 1)));
  t.same(hostsOfNextReport(), ['telemetry.acme-motor.cn'], 'a stale allow (rev 1 < 2) changes nothing');
  t.equal(vehicle.stats.controlsIgnored, 1);
  events!.message(controlTopic(VIN, 'general'), Buffer.from(control('general', 'allow', 3)));
  t.same(hostsOfNextReport(), ['telemetry.acme-motor.cn', 'api.weather-example.cn'], 'allowed again: the next report carries it');
  t.equal(vehicle.stats.recordsHeldBack, 2);
  t.equal(vehicle.stats.recordsGenerated, 4, 'held-back flows are never numbered');
  t.same(vehicle.control('general'), { action: 'allow', rev: 3, reasons: [] });
});

t.test('obeyControls: false sends everything, as before', async (t) => {
  const T0 = Date.parse('2026-11-03T00:00:00Z');
  const VIN = 'LFVFLTA10RS000001';
  const timers = manualTimers(T0);
  let sent = 0;
  const transport: Transport = {
    async connect(_identity, _subscriptions, handlers) {
      handlers.message(rulesTopic(VIN), Buffer.from(rules));
      handlers.message(controlTopic(VIN, 'general'), Buffer.from(control('general', 'block', 1)));
      return { publish: (_topic, payload) => void (sent += (JSON.parse(payload) as { records: unknown[] }).records.length), close: async () => undefined, drop: () => undefined };
    },
  };
  const vehicle = new Vehicle({
    identity: { vin: VIN, secret: 's' },
    traffic: deriveCatalogTraffic(catalog),
    trafficSource: { nextMinute: (w) => [{ ...unknownHost, startMs: w, endMs: w + 2_000 }] },
    seed: 'policy',
    store: await StateStore.open(null),
    transport,
    timers,
    time: { startMs: T0, realStartMs: T0, speed: 1 },
    minutes: 3,
    obeyControls: false,
  });
  t.teardown(() => vehicle.stop());
  vehicle.start();
  await new Promise((resolve) => setImmediate(resolve));
  timers.advance(60_000);
  t.equal(sent, 1);
  t.equal(vehicle.stats.recordsHeldBack, 0);
  t.equal(vehicle.stats.controlsApplied, 1, 'still received and applied, only not enforced');
});
