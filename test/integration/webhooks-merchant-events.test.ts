import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';
import { createMerchant, importSims, order, residentId, startSimStack, verifyHolder } from './sims-support.js';

/**
 * Issue 14, a merchant's events: `order.paid`, `sim.state_changed` and `einvoice.issued` reach its endpoint,
 * signed, written in the transaction of the change (a refused or replayed request sends nothing), never
 * another merchant's, and without personal data in clear.
 */

const clock = manualClock(Date.parse('2026-11-15T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock, env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_INTERVAL_MS: '3600000' } });
const receiver = await startWebhookReceiver(t, clock);
const deliver = () => svc.service.jobs.deliverWebhooks();

const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const MERCHANT_TYPES = ['sim.state_changed', 'order.paid', 'einvoice.issued'];
async function addEndpoint(merchant: string, token: string, path: string, eventTypes = MERCHANT_TYPES) {
  const created = await svc.request('POST', `/v1/merchants/${merchant}/webhooks`, { token, body: { url: `${receiver.url}${path}`, eventTypes } });
  if (created.status !== 201) throw new Error(`endpoint: ${created.status} ${JSON.stringify(created.body)}`);
  receiver.secrets.set(path, created.body.secret as string);
  return created.body.id as string;
}
await addEndpoint('shop-a', keyA, '/a');
await addEndpoint('shop-b', keyB, '/b');
await addEndpoint('shop-a', keyA, '/a-orders', ['order.paid']);
const [card] = await importSims(svc, 'shop-a', keyA, [1]);
const eventsAt = (path: string) => receiver.at(path).map(receiver.parsed);

t.test('an import is not a state change: nothing is sent', async (t) => {
  await deliver();
  t.same(receiver.received, []);
});

t.test('an order: order.paid, inventory → sold and the blue e-invoice, in that order, signed', async (t) => {
  const sold = await order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'A-1', iccid: card! });
  t.equal(sold.status, 201);
  t.equal(sold.body.einvoices[0].status, 'issued');
  await deliver();
  await deliver();
  await deliver();
  const events = eventsAt('/a');
  t.same(events.map((e) => e.type), ['order.paid', 'sim.state_changed', 'einvoice.issued'], 'in the order they committed');
  t.ok(receiver.at('/a').every((r) => r.verified && r.answered === 204), 'every signature verifies');
  const [paid, changed, invoice] = events;
  t.match(paid!.data, { id: sold.body.id, externalOrderId: 'A-1', kind: 'sale', iccid: card, plan: 'iot-12m', currency: 'CNY', retail: '48.00', wholesale: '30.00' });
  t.notOk('buyer' in paid!.data, 'no buyer in an order event');
  t.match(changed!.data, { iccid: card, from: 'inventory', to: 'sold', event: 'order' });
  t.match(invoice!.data, { kind: 'blue', status: 'issued', number: sold.body.einvoices[0].number, total: '48.00', externalOrderId: 'A-1' });
  t.notMatch(receiver.at('/a').map((r) => r.body).join('\n'), /张小三|13800000000/, 'the buyer’s name and phone never appear in clear');
  t.same(eventsAt('/a-orders').map((e) => e.type), ['order.paid'], 'an endpoint gets only the types it subscribed to');
  t.same(eventsAt('/b'), [], 'another merchant’s endpoint gets nothing');
});

t.test('a replayed or refused request sends nothing more', async (t) => {
  const before = receiver.received.length;
  t.equal((await order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'A-1', iccid: card! })).status, 200, 'the same order again');
  t.equal((await order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'A-1', iccid: card!, plan: 'hotspot-pack' })).status, 409);
  t.equal((await svc.request('POST', `/v1/sims/${card}/activate`, { token: keyA })).status, 409, 'no activation before real-name');
  await deliver();
  t.equal(receiver.received.length, before);
});

t.test('real-name is not a state change; activation and suspension are', async (t) => {
  t.equal((await verifyHolder(svc, keyA, card!, residentId(7))).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${card}/activate`, { token: keyA })).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${card}/suspend`, { token: keyA, body: { reason: 'lost' } })).status, 200);
  for (let i = 0; i < 3; i++) await deliver();
  const changes = eventsAt('/a').filter((e) => e.type === 'sim.state_changed').map((e) => [e.data.from, e.data.to, e.data.event]);
  t.same(changes, [
    ['inventory', 'sold', 'order'],
    ['sold', 'active', 'activate'],
    ['active', 'suspended', 'suspend'],
  ]);
  const ids = eventsAt('/a').map((e) => e.id);
  t.equal(new Set(ids).size, ids.length, 'one event id per event');
});
