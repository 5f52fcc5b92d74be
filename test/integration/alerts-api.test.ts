import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { createMerchant, importSims, order, residentId, startSimStack, verifyHolder } from './sims-support.js';

/**
 * Issue 14, usage alerts through the API: hostile and malformed rules are refused (422 naming the field),
 * every alerts path keeps tenants apart (another tenant's path 403, another tenant's rule under one's own
 * path 404), and a merchant's serviceUntil alert triggers as the date comes near and is resolved by a recharge.
 */

const clock = manualClock(Date.parse('2026-03-15T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock, env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_INTERVAL_MS: '3600000' } });
const shopA = await createMerchant(svc, 'shop-a', 1);
const shopB = await createMerchant(svc, 'shop-b', 2);
const amapKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;
const qqKey = (await svc.request('POST', '/v1/sponsors/qqmusic/keys')).body.key as string;

t.test('malformed and hostile rules are refused', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: 0 }, 'percent'],
    [{ kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: 101 }, 'percent'],
    [{ kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: 80.5 }, 'percent'],
    [{ kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: '80' }, 'percent'],
    [{ kind: 'cap_share', percent: 80 }, 'sponsorshipId'],
    [{ kind: 'cap_share', sponsorshipId: 'no-such-sponsorship', percent: 80 }, 'sponsorshipId'],
    [{ kind: 'cap_share', sponsorshipId: 'qqmusic-acme-2026', percent: 80 }, 'sponsorshipId'],
    [{ kind: 'cap_share', sponsorshipId: "x'; DROP TABLE alert_rules; --", percent: 80 }, 'sponsorshipId'],
    [{ kind: 'vehicles_at_cap', sponsorshipId: 'qqmusic-acme-2026', count: 3 }, 'sponsorshipId'],
    [{ kind: 'vehicles_at_cap', sponsorshipId: 'amap-nav-acme', count: 0 }, 'count'],
    [{ kind: 'mtd_amount', amount: 1000.5 }, 'amount'],
    [{ kind: 'mtd_amount', amount: '1000.505' }, 'amount'],
    [{ kind: 'mtd_amount', amount: '1e3' }, 'amount'],
    [{ kind: 'mtd_amount', amount: '-5.00' }, 'amount'],
    [{ kind: 'mtd_amount', amount: '0.00' }, 'amount'],
    [{ kind: 'mtd_amount', amount: ' 10' }, 'amount'],
    [{ kind: 'mtd_amount', amount: '10', extra: true }, ''],
    [{ kind: 'service_until_within', days: 30 }, 'kind'],
    [{ kind: 'nonsense' }, 'kind'],
    [{}, 'kind'],
  ];
  for (const [body, field] of cases) {
    const response = await svc.request('POST', '/v1/sponsors/amap/alerts', { body });
    t.equal(response.status, 422, JSON.stringify(body));
    t.equal(response.body.error.code, 'INVALID_INPUT');
    if (field) t.match(response.body.error.field ?? '', new RegExp(`^${field}`), `${JSON.stringify(body)} names ${field}`);
  }
  for (const body of [{ kind: 'service_until_within', days: 0 }, { kind: 'service_until_within', days: 367 }, { kind: 'service_until_within', days: '7' }, { kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: 80 }]) {
    t.equal((await svc.request('POST', '/v1/merchants/shop-a/alerts', { body })).status, 422, JSON.stringify(body));
  }
  t.equal((await svc.request('POST', '/v1/sponsors/nobody/alerts', { body: { kind: 'mtd_amount', amount: '10' } })).status, 404, 'unknown sponsor');
  t.equal((await svc.request('POST', '/v1/merchants/nobody/alerts', { body: { kind: 'service_until_within', days: 7 } })).status, 404, 'unknown merchant');
  t.equal((await svc.request('DELETE', '/v1/sponsors/amap/alerts/al_zz')).status, 422, 'a malformed alert id');
  t.equal((await svc.request('GET', '/v1/sponsors/amap/alerts')).body.alerts.length, 0, 'nothing was stored');
});

t.test('every alerts path keeps tenants apart', async (t) => {
  const amapRule = await svc.request('POST', '/v1/sponsors/amap/alerts', { token: amapKey, body: { kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: 80 } });
  t.equal(amapRule.status, 201, 'a sponsor adds its own rule');
  t.match(amapRule.body, { id: /^al_[0-9a-f]{24}$/, kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: 80, amount: null, state: 'ok', openPeriods: 0 });
  const shopRule = await svc.request('POST', '/v1/merchants/shop-a/alerts', { token: shopA, body: { kind: 'service_until_within', days: 30 } });
  t.equal(shopRule.status, 201, 'a merchant adds its own rule');
  const amapId = amapRule.body.id as string;
  const shopId = shopRule.body.id as string;

  // Another tenant's path: 403, whatever the method.
  t.equal((await svc.request('GET', '/v1/sponsors/amap/alerts', { token: qqKey })).status, 403);
  t.equal((await svc.request('POST', '/v1/sponsors/amap/alerts', { token: qqKey, body: { kind: 'mtd_amount', amount: '1' } })).status, 403);
  t.equal((await svc.request('DELETE', `/v1/sponsors/amap/alerts/${amapId}`, { token: qqKey })).status, 403);
  t.equal((await svc.request('GET', '/v1/merchants/shop-a/alerts', { token: shopB })).status, 403);
  t.equal((await svc.request('POST', '/v1/merchants/shop-a/alerts', { token: shopB, body: { kind: 'service_until_within', days: 1 } })).status, 403);
  t.equal((await svc.request('DELETE', `/v1/merchants/shop-a/alerts/${shopId}`, { token: shopB })).status, 403);
  // A merchant on a sponsor's path and a sponsor on a merchant's.
  t.equal((await svc.request('GET', '/v1/sponsors/amap/alerts', { token: shopA })).status, 403);
  t.equal((await svc.request('GET', '/v1/merchants/shop-a/alerts', { token: amapKey })).status, 403);
  // No token: 401.
  t.equal((await svc.request('GET', '/v1/sponsors/amap/alerts', { token: null })).status, 401);
  // Another tenant's rule under one's own path: 404, as an unknown one.
  t.equal((await svc.request('DELETE', `/v1/sponsors/qqmusic/alerts/${amapId}`, { token: qqKey })).status, 404);
  t.equal((await svc.request('DELETE', `/v1/merchants/shop-b/alerts/${shopId}`, { token: shopB })).status, 404);
  t.equal((await svc.request('DELETE', `/v1/sponsors/amap/alerts/${shopId}`, { token: amapKey })).status, 404, 'a merchant’s rule under a sponsor path');
  t.same((await svc.request('GET', '/v1/sponsors/qqmusic/alerts', { token: qqKey })).body.alerts, [], 'its own list only');
  t.same((await svc.request('GET', '/v1/merchants/shop-b/alerts', { token: shopB })).body.alerts, []);
  t.same(
    (await svc.request('GET', '/v1/sponsors/amap/alerts', { token: amapKey })).body.alerts.map((a: { id: string }) => a.id),
    [amapId],
    'still there',
  );

  t.equal((await svc.request('DELETE', `/v1/sponsors/amap/alerts/${amapId}`, { token: amapKey })).status, 204, 'the owner deletes it');
  t.equal((await svc.request('DELETE', `/v1/sponsors/amap/alerts/${amapId}`, { token: amapKey })).status, 404, 'deleted');
  t.same((await svc.request('GET', '/v1/sponsors/amap/alerts')).body.alerts, []);
});

t.test('a card’s serviceUntil within N days triggers, and a recharge resolves it', async (t) => {
  let delivered = 0;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      delivered++;
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => receiver.close(resolve)));
  const endpoint = await svc.request('POST', '/v1/merchants/shop-a/webhooks', {
    token: shopA,
    body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/shop-a`, eventTypes: ['alert.triggered', 'alert.resolved'] },
  });
  t.equal(endpoint.status, 201);

  const [card] = await importSims(svc, 'shop-a', shopA, [11]);
  t.equal((await order(svc, shopA, { merchant: 'shop-a', externalOrderId: 'S-1', iccid: card! })).status, 201);
  t.equal((await verifyHolder(svc, shopA, card!, residentId(11))).status, 200);
  const active = await svc.request('POST', `/v1/sims/${card}/activate`, { token: shopA });
  t.equal(active.body.serviceUntil, '2027-03-15T10:00:00.000+08:00');

  const state = async () => ((await svc.request('GET', '/v1/merchants/shop-a/alerts', { token: shopA })).body.alerts as Array<Record<string, any>>)[0]!;
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, 'a year away');
  clock.set(Date.parse('2027-02-13T09:59:59+08:00'));
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, '30 days and a second away');
  clock.set(Date.parse('2027-02-13T10:00:00+08:00'));
  t.equal(await svc.service.jobs.evaluateAlerts(), 1, '30 days away: within 30 days');
  t.equal(await svc.service.jobs.evaluateAlerts(), 0, 'once');
  let now = await state();
  t.match(now, { state: 'triggered', period: `${card}/2027-03-15`, triggeredValue: '2027-03-15T10:00:00.000+08:00', openPeriods: 1 });

  const recharge = await svc.request('POST', `/v1/sims/${card}/recharges`, { token: shopA, body: { externalOrderId: 'S-2', plan: 'iot-12m' } });
  t.equal(recharge.status, 201);
  t.equal(await svc.service.jobs.evaluateAlerts(), 1, 'the recharge moved serviceUntil a year on: resolved');
  now = await state();
  t.match(now, { state: 'resolved', period: `${card}/2027-03-15`, resolvedAt: '2027-02-13T10:00:00.000+08:00', openPeriods: 0 });
  while ((await svc.service.jobs.deliverWebhooks()) > 0);
  const log = await svc.request('GET', `/v1/merchants/shop-a/webhooks/${endpoint.body.id}/deliveries`, { token: shopA });
  t.same(
    log.body.deliveries.map((d: Record<string, unknown>) => [d.type, d.status]),
    [
      ['alert.resolved', 'delivered'],
      ['alert.triggered', 'delivered'],
    ],
  );
  t.equal(delivered, 2);
});
