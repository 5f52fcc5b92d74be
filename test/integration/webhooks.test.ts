import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { startTestService } from '../helpers/service.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Issue 14, signed webhooks: a real HTTP receiver that verifies every signature and timestamp, fails the
 * first deliveries, and sees retries (same event id, same bytes), order per endpoint, the delivery log,
 * replay, the give-up after a day, and that an endpoint receives only its own tenant's events.
 * Time is the test clock; the deliverer runs when the test calls it (its own interval is an hour).
 */

const clock = manualClock(Date.parse('2026-11-15T12:00:00+08:00'));
const svc = await startTestService(t, { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_INTERVAL_MS: '3600000' }, clock);
const deliver = () => svc.service.jobs.deliverWebhooks();

// ---- the receiver ------------------------------------------------------------------------------------------

const receiver = await startWebhookReceiver(t, clock);
const { received, secrets, failures, at, parsed } = receiver;
const receiverUrl = receiver.url;

async function addEndpoint(sponsor: string, path: string, eventTypes: string[]): Promise<string> {
  const created = await svc.request('POST', `/v1/sponsors/${sponsor}/webhooks`, { body: { url: `${receiverUrl}${path}`, eventTypes } });
  if (created.status !== 201) throw new Error(`endpoint: ${created.status} ${JSON.stringify(created.body)}`);
  secrets.set(path, created.body.secret as string);
  return created.body.id as string;
}
const log = async (sponsor: string, endpoint: string, query = '') => {
  const response = await svc.request('GET', `/v1/sponsors/${sponsor}/webhooks/${endpoint}/deliveries${query}`);
  if (response.status !== 200) throw new Error(`log: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as { deliveries: Array<Record<string, any>>; nextCursor: string | null };
};

// ---- fixtures: October usage for amap, qqmusic and oem-acme, endpoints for each -----------------------------

const amap = await addEndpoint('amap', '/amap', ['invoice.issued', 'credit_note.issued']);
const qq = await addEndpoint('qqmusic', '/qq', ['invoice.issued']);
const acme = await addEndpoint('oem-acme', '/acme', ['invoice.issued']);
failures.set('/amap', 2);
failures.set('/acme', Infinity);

const car = await svc.registerVehicle(1, { model: 'A7' });
const device = await svc.connectDevice(car.vin, car.deviceSecret);
t.teardown(() => device.endAsync());
const october = '2026-10-20T10:00:00+08:00';
const records = [
  { host: 'tile.amap.com', bytes: 1_000_000_007 },
  { host: 'u.y.qq.com', bytes: 500_000_000 },
  { host: 'telemetry.acme-motor.cn', bytes: 123_456_789 },
];
await device.publishAsync(
  `tbox/${car.vin}/usage`,
  JSON.stringify({ v: 1, batch: 1, records: records.map((r, i) => ({ seq: i + 1, start: october, end: october, up: 0, down: r.bytes, host: r.host })) }),
  { qos: 1 },
);

t.test('an endpoint is validated, listed without its secret, and its secret is shown once', async (t) => {
  t.match(secrets.get('/amap'), /^whsec_[A-Za-z0-9+/]{32}$/);
  const list = await svc.request('GET', '/v1/sponsors/amap/webhooks');
  t.equal(list.status, 200);
  t.same(list.body.endpoints.map((e: any) => [e.id, e.url, e.eventTypes]), [[amap, `${receiverUrl}/amap`, ['invoice.issued', 'credit_note.issued']]]);
  t.notOk('secret' in list.body.endpoints[0], 'never the secret again');

  for (const [body, field] of [
    [{ url: 'ftp://files.example/x', eventTypes: ['invoice.issued'] }, 'url'],
    [{ url: 'not a url', eventTypes: ['invoice.issued'] }, 'url'],
    [{ url: `https://hooks.example/${'x'.repeat(2100)}`, eventTypes: ['invoice.issued'] }, 'url'],
    [{ url: 'https://hooks.example/x', eventTypes: ['invoice.paid'] }, 'eventTypes'],
    [{ url: 'https://hooks.example/x', eventTypes: [] }, 'eventTypes'],
    [{ url: 'https://hooks.example/x', eventTypes: 'invoice.issued' }, 'eventTypes'],
    [{ url: 42, eventTypes: ['invoice.issued'] }, 'url'],
  ] as const) {
    const response = await svc.request('POST', '/v1/sponsors/amap/webhooks', { body });
    t.equal(response.status, 422, JSON.stringify(body).slice(0, 80));
    t.equal(response.body.error.code, 'INVALID_INPUT');
    t.match(response.body.error.field, new RegExp(`^${field}`));
  }
  t.equal((await svc.request('POST', '/v1/sponsors/nobody/webhooks', { body: { url: 'https://hooks.example/x', eventTypes: ['invoice.issued'] } })).status, 404, 'unknown sponsor');
});

t.test('a tenant sees only its own endpoints', async (t) => {
  const key = (await svc.request('POST', '/v1/sponsors/qqmusic/keys')).body.key as string;
  t.equal((await svc.request('GET', '/v1/sponsors/qqmusic/webhooks', { token: key })).status, 200, 'its own list');
  t.equal((await svc.request('GET', '/v1/sponsors/amap/webhooks', { token: key })).status, 403, 'another sponsor’s path');
  t.equal((await svc.request('GET', `/v1/sponsors/qqmusic/webhooks/${amap}/deliveries`, { token: key })).status, 404, 'another sponsor’s endpoint under its own path');
  t.equal((await svc.request('DELETE', `/v1/sponsors/qqmusic/webhooks/${amap}`, { token: key })).status, 404, 'nor can it delete it');
  t.equal((await svc.request('GET', `/v1/sponsors/amap/webhooks/${amap}/deliveries`)).status, 200, 'amap’s endpoint still there');
});

let invoiceEvent = '';
let creditEvent = '';

t.test('invoices and credit notes are delivered signed, retried with backoff, in order, with one event id', async (t) => {
  t.equal((await svc.request('POST', '/v1/billing/periods/2026-10/close')).status, 200);
  const invoices = (await svc.request('GET', '/v1/sponsors/amap/invoices')).body.invoices;
  t.equal(invoices.length, 1);
  t.equal((await svc.request('POST', `/v1/sponsors/amap/invoices/${invoices[0].id}/credit-note`)).status, 201);

  t.equal(await deliver(), 3, 'one delivery per endpoint: amap’s invoice (not yet its credit note), qqmusic’s, oem-acme’s');
  let amapLog = (await log('amap', amap)).deliveries;
  t.same(amapLog.map((d) => [d.type, d.status, d.attempts, d.lastStatus]), [['credit_note.issued', 'pending', 0, null], ['invoice.issued', 'pending', 1, 500]], 'newest first; the credit note waits behind the invoice');
  invoiceEvent = amapLog[1]!.eventId;
  creditEvent = amapLog[0]!.eventId;
  t.match(invoiceEvent, /^evt_[0-9a-f]{24}$/);
  t.equal(Date.parse(amapLog[1]!.nextAttemptAt), clock.now() + 5_000, 'retried 5 s later');

  t.equal(await deliver(), 0, 'nothing is due before the backoff ends');
  clock.advance(5_000);
  t.equal(await deliver(), 2, 'second attempts: amap’s invoice and oem-acme’s');
  amapLog = (await log('amap', amap)).deliveries;
  t.same([amapLog[1]!.attempts, amapLog[1]!.status, Date.parse(amapLog[1]!.nextAttemptAt)], [2, 'pending', clock.now() + 300_000], 'then 5 min');
  clock.advance(300_000);
  t.equal(await deliver(), 2, 'third attempt (accepted) and oem-acme’s third');
  t.equal(await deliver(), 1, 'now the credit note');

  amapLog = (await log('amap', amap)).deliveries;
  t.same(amapLog.map((d) => [d.type, d.status, d.attempts, d.lastStatus]), [['credit_note.issued', 'delivered', 1, 204], ['invoice.issued', 'delivered', 3, 204]]);
  t.equal(Date.parse(amapLog[1]!.deliveredAt), clock.now());

  const got = at('/amap');
  t.ok(got.every((r) => r.verified), 'every request carries a valid signature and a current timestamp');
  t.same(got.map((r) => [r.id, r.answered]), [[invoiceEvent, 500], [invoiceEvent, 500], [invoiceEvent, 204], [creditEvent, 204]], 'retries, then the next event: in order');
  t.equal(new Set(got.slice(0, 3).map((r) => r.body)).size, 1, 'every attempt sends the same bytes');
  t.same(got.map((r) => r.timestamp), got.map((r) => r.timestamp).sort((a, b) => a - b), 'timestamps rise with the attempts');
  const invoice = parsed(got[0]!);
  t.match(invoice, { id: invoiceEvent, type: 'invoice.issued', createdAt: '2026-11-15T04:00:00.000Z', data: { invoiceId: invoices[0].id, number: invoices[0].number, sponsor: 'amap', month: '2026-10', total: invoices[0].total } });
  t.match(parsed(got[3]!), { id: creditEvent, type: 'credit_note.issued', data: { creditsInvoiceId: invoices[0].id, sponsor: 'amap' } });
  t.match(parsed(got[3]!).data.total, /^-\d+\.\d{2}$/, 'a credit note’s total is negative');
});

t.test('tenant isolation: an endpoint receives only its own tenant’s events', async (t) => {
  t.ok(at('/amap').every((r) => parsed(r).data.sponsor === 'amap'), 'amap’s endpoint: only amap');
  const qqGot = at('/qq');
  t.same(qqGot.map((r) => [parsed(r).type, parsed(r).data.sponsor, r.verified]), [['invoice.issued', 'qqmusic', true]], 'qqmusic: its invoice once, no credit note (not subscribed, and not its own)');
  t.notOk(received.some((r) => r.path === '/amap' && r.id === qqGot[0]!.id), 'qqmusic’s event never reached amap');
});

t.test('replay sends the same event again and the log shows it', async (t) => {
  const before = (await log('amap', amap)).deliveries[1]!;
  const replayed = await svc.request('POST', `/v1/sponsors/amap/webhooks/${amap}/deliveries/${before.id}/replay`);
  t.equal(replayed.status, 200);
  t.match(replayed.body, { id: before.id, eventId: invoiceEvent, status: 'pending', attempts: 3 });
  t.equal(await deliver(), 1);
  const last = at('/amap').at(-1)!;
  t.same([last.id, last.verified, last.answered, last.body], [invoiceEvent, true, 204, at('/amap')[0]!.body], 'the same id and bytes: an idempotent receiver ignores it');
  t.match((await log('amap', amap)).deliveries[1], { id: before.id, status: 'delivered', attempts: 4 });
  t.equal((await svc.request('POST', `/v1/sponsors/amap/webhooks/${amap}/deliveries/999999/replay`)).status, 404, 'unknown delivery');
  t.equal((await svc.request('POST', `/v1/sponsors/amap/webhooks/${qq}/deliveries/${before.id}/replay`)).status, 404, 'another sponsor’s endpoint');
});

t.test('the delivery log pages newest first', async (t) => {
  const first = await log('amap', amap, '?limit=1');
  t.same(first.deliveries.map((d) => d.eventId), [creditEvent]);
  t.type(first.nextCursor, 'string');
  const second = await log('amap', amap, `?limit=1&cursor=${first.nextCursor}`);
  t.same(second.deliveries.map((d) => d.eventId), [invoiceEvent]);
  t.equal(second.nextCursor, null);
  t.equal((await svc.request('GET', `/v1/sponsors/amap/webhooks/${amap}/deliveries?cursor=nope!`)).status, 422);
});

t.test('a receiver that never accepts: retried for a day, then failed', async (t) => {
  const eventAt = Date.parse('2026-11-15T12:00:00+08:00');
  for (;;) {
    const [delivery] = (await log('oem-acme', acme)).deliveries;
    if (delivery!.status !== 'pending') break;
    clock.set(Date.parse(delivery!.nextAttemptAt));
    t.equal(await deliver(), 1);
  }
  const [delivery] = (await log('oem-acme', acme)).deliveries;
  t.match(delivery, { status: 'failed', lastStatus: 500, nextAttemptAt: null });
  t.equal(delivery!.attempts, 8, 'after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (clamped to the deadline)');
  t.equal(Date.parse(delivery!.lastAttemptAt), eventAt + 86_400_000, 'the last attempt at the deadline, a day after the event');
  t.ok(at('/acme').every((r) => r.verified && r.id === delivery!.eventId));
  clock.advance(86_400_000);
  t.equal(await deliver(), 0, 'nothing more');
});

t.test('a deleted endpoint is gone and gets nothing more', async (t) => {
  t.equal((await svc.request('DELETE', `/v1/sponsors/qqmusic/webhooks/${qq}`)).status, 204);
  t.equal((await svc.request('DELETE', `/v1/sponsors/qqmusic/webhooks/${qq}`)).status, 204, 'idempotent');
  t.same((await svc.request('GET', '/v1/sponsors/qqmusic/webhooks')).body.endpoints, []);
  t.equal((await svc.request('GET', `/v1/sponsors/qqmusic/webhooks/${qq}/deliveries`)).status, 404);
});

t.test('merchants have the same routes', async (t) => {
  t.equal((await svc.request('POST', '/v1/merchants', { body: { id: 'shop-w', name: 'Shop W', taxId: '91310000MA1FL5LQ3E' } })).status, 201);
  const created = await svc.request('POST', '/v1/merchants/shop-w/webhooks', { body: { url: 'https://hooks.example/shop', eventTypes: ['sim.state_changed', 'order.paid'] } });
  t.equal(created.status, 201);
  t.same((await svc.request('GET', '/v1/merchants/shop-w/webhooks')).body.endpoints.map((e: any) => e.id), [created.body.id]);
  t.equal((await svc.request('GET', `/v1/sponsors/amap/webhooks/${created.body.id}/deliveries`)).status, 404, 'a merchant’s endpoint is not a sponsor’s');
  t.equal((await svc.request('GET', '/v1/merchants/nobody/webhooks')).status, 404);
});
