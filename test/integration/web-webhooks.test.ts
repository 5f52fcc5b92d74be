import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';
import { browserLike, csrfOf, dataAttributes, signIn } from '../browser/web-fixture.js';
import { createMerchant, importSims, order } from './sims-support.js';
import { startSimStack } from './sims-support.js';

/**
 * Issue 14, webhooks in the dashboard: a merchant adds an endpoint (the secret shown once, and it verifies
 * the deliveries), reads the delivery log, sends a delivery again and deletes the endpoint; forms need the
 * session's CSRF token; bad input gets the form back with the reason; another tenant's pages are 403 and its
 * endpoints 404.
 */

const clock = manualClock(Date.parse('2026-11-15T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock, env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_INTERVAL_MS: '3600000' } });
const receiver = await startWebhookReceiver(t, clock);
const deliver = () => svc.service.jobs.deliverWebhooks();
const web = browserLike(svc);

const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const sponsorKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;
const [card] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [1]);
const a = await signIn(web, keyA);
const b = await signIn(web, keyB);
const sponsor = await signIn(web, sponsorKey);
const base = '/app/merchants/shop-a/webhooks';

let endpointId = '';

t.test('a merchant adds an endpoint; its secret is shown once and signs the deliveries', async (t) => {
  const empty = await web('GET', base, { cookie: a });
  t.equal(empty.statusCode, 200);
  t.match(empty.body, 'id="no-endpoints"');
  t.match(empty.body, `href="${base}" aria-current="page"`, 'the navigation has the page');
  const csrf = csrfOf(empty.body);

  const form = { url: `${receiver.url}/a`, 'event.order.paid': 'on', 'event.sim.state_changed': 'on' };
  t.equal((await web('POST', base, { cookie: a, form })).statusCode, 403, 'no CSRF token: refused');
  t.equal((await web('POST', base, { cookie: a, form: { ...form, csrf }, headers: { origin: 'https://evil.example' } })).statusCode, 403, 'another origin: refused');

  const created = await web('POST', base, { cookie: a, form: { ...form, csrf } });
  t.equal(created.statusCode, 201);
  const secret = /id="new-secret"[^>]*>(whsec_[A-Za-z0-9+/=]+)</.exec(created.body)?.[1];
  t.ok(secret, 'the secret is on the answer page');
  [endpointId] = dataAttributes(created.body, 'endpoint-id') as [string];
  t.match(endpointId, /^we_[0-9a-f]{24}$/);
  const again = await web('GET', base, { cookie: a });
  t.notMatch(again.body, secret!, 'and never again');
  t.same(dataAttributes(again.body, 'endpoint-id'), [endpointId]);
  receiver.secrets.set('/a', secret!);

  t.equal((await order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'W-1', iccid: card! })).status, 201);
  await deliver();
  await deliver();
  t.same(
    receiver.at('/a').map((r) => [receiver.parsed(r).type, r.verified]),
    [
      ['order.paid', true],
      ['sim.state_changed', true],
    ],
    'the secret from the page verifies both deliveries',
  );
});

t.test('bad input gets the form back with the reason, escaped', async (t) => {
  const csrf = csrfOf((await web('GET', base, { cookie: a })).body);
  const hostile = await web('POST', base, { cookie: a, form: { csrf, url: 'javascript:alert("<b>x</b>")', 'event.order.paid': 'on' } });
  t.equal(hostile.statusCode, 422);
  t.match(hostile.body, 'id="form-problem"');
  t.notMatch(hostile.body, '<b>x</b>', 'what was typed is escaped');
  const noEvents = await web('POST', base, { cookie: a, form: { csrf, url: 'https://hooks.example.com/x' } });
  t.equal(noEvents.statusCode, 422);
  t.match(noEvents.body, '请至少选择一个事件', 'the reason, in the page’s language (zh-CN by default)');
  const unknown = await web('POST', base, { cookie: a, form: { csrf, url: 'https://hooks.example.com/x', 'event.everything': 'on' } });
  t.equal(unknown.statusCode, 422, 'an unknown event type');
  const long = await web('POST', base, { cookie: a, form: { csrf, url: `https://hooks.example.com/${'x'.repeat(3000)}`, 'event.order.paid': 'on' } });
  t.equal(long.statusCode, 422, 'a URL over 2,048 characters');
  t.same(dataAttributes((await web('GET', base, { cookie: a })).body, 'endpoint-id'), [endpointId], 'nothing was added');
});

t.test('the delivery log and a replay', async (t) => {
  const log = await web('GET', `${base}/${endpointId}`, { cookie: a });
  t.equal(log.statusCode, 200);
  const ids = dataAttributes(log.body, 'delivery-id');
  t.equal(ids.length, 2, 'newest first, both deliveries');
  t.same(dataAttributes(log.body, 'status'), ['delivered', 'delivered']);
  t.equal((await web('GET', `${base}/${endpointId}?cursor=%3Cscript%3E`, { cookie: a })).statusCode, 200, 'a cursor that does not decode shows the first page');

  const csrf = csrfOf(log.body);
  const oldest = ids.at(-1)!;
  const replay = await web('POST', `${base}/${endpointId}/deliveries/${oldest}/replay`, { cookie: a, form: { csrf } });
  t.equal(replay.statusCode, 303);
  t.equal(replay.headers.location, `${base}/${endpointId}`);
  await deliver();
  const [first, last] = [receiver.at('/a')[0]!, receiver.at('/a').at(-1)!];
  t.equal(last.id, first.id, 'the same event id again');
  t.equal(last.body, first.body, 'the same bytes');
  const after = await web('GET', `${base}/${endpointId}`, { cookie: a });
  t.match(after.body, new RegExp(`data-delivery-id="${oldest}" data-status="delivered"`));
  t.equal((await web('POST', `${base}/${endpointId}/deliveries/99999/replay`, { cookie: a, form: { csrf } })).statusCode, 404, 'an unknown delivery');
});

t.test('tenant isolation', async (t) => {
  t.equal((await web('GET', base, { cookie: b })).statusCode, 403, 'another merchant’s page');
  t.equal((await web('GET', `${base}/${endpointId}`, { cookie: b })).statusCode, 403);
  const ownB = await web('GET', '/app/merchants/shop-b/webhooks', { cookie: b });
  t.equal(ownB.statusCode, 200);
  t.equal((await web('GET', `/app/merchants/shop-b/webhooks/${endpointId}`, { cookie: b })).statusCode, 404, 'another merchant’s endpoint under its own path');
  const csrf = csrfOf(ownB.body);
  t.equal((await web('POST', `/app/merchants/shop-b/webhooks/${endpointId}/delete`, { cookie: b, form: { csrf } })).statusCode, 404);
  t.equal((await web('POST', `/app/merchants/shop-b/webhooks/${endpointId}/deliveries/1/replay`, { cookie: b, form: { csrf } })).statusCode, 404);
  t.equal((await web('GET', base, { cookie: sponsor })).statusCode, 403, 'a sponsor on a merchant’s page');
  t.equal((await web('GET', '/app/sponsors/amap/webhooks', { cookie: sponsor })).statusCode, 200, 'a sponsor has its own');
  t.equal((await web('GET', '/app/sponsors/qqmusic/webhooks', { cookie: sponsor })).statusCode, 403, 'not another sponsor’s');
  t.equal((await web('GET', '/app/sponsors/amap/webhooks', { cookie: a })).statusCode, 403, 'a merchant on a sponsor’s page');
  const signedOut = await web('GET', base);
  t.equal(signedOut.statusCode, 303, 'signed out: to the sign-in page');
  t.match(String(signedOut.headers.location), /^\/app\/login\?next=/);
});

t.test('deleting an endpoint', async (t) => {
  const csrf = csrfOf((await web('GET', base, { cookie: a })).body);
  const deleted = await web('POST', `${base}/${endpointId}/delete`, { cookie: a, form: { csrf } });
  t.equal(deleted.statusCode, 303);
  t.match((await web('GET', base, { cookie: a })).body, 'id="no-endpoints"');
  t.equal((await web('GET', `${base}/${endpointId}`, { cookie: a })).statusCode, 404, 'its log is gone with it');
});
