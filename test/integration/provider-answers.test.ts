import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import t from 'tap';
import { listen } from '../../simulators/shared/listen.js';
import { startTestService, TEST_PROVIDER_TOKEN } from '../helpers/service.js';
import { createMerchant, importSims, order, residentId, verifyHolder } from './sims-support.js';

/**
 * Issue 10: a provider's answer is checked, not trusted. A scripted provider on loopback answers with
 * wrong shapes, an oversized body, a refused credential and a number another invoice holds; each is a
 * provider error that leaves the card and the order consistent and retryable, never a crash or a false
 * "verified". Every request must carry our bearer token (REALNAME_TOKEN / EINVOICE_TOKEN).
 */
type Answer = { status: number; body: string };
const script = { realName: [] as Answer[], tax: [] as Answer[] };
const seen: Array<string | undefined> = [];
let numbers = 0;

const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) });
const reply = (response: ServerResponse, answer: Answer) => {
  response.writeHead(answer.status, { 'content-type': 'application/json' });
  response.end(answer.body);
};
const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  request.resume();
  request.on('end', () => {
    seen.push(request.headers.authorization);
    if (request.url?.startsWith('/v1/verifications/')) {
      return reply(response, script.realName.shift() ?? json(200, { verificationId: `rn_${seen.length}`, result: 'pass' }));
    }
    numbers += 1;
    const issued = { number: `2631000000${String(numbers).padStart(10, '0')}`, issuedAt: '2026-11-03T08:16:02+08:00' };
    return reply(response, script.tax.shift() ?? json(201, issued));
  });
});
const url = await listen(server, {});
t.teardown(() => new Promise((resolve) => server.close(resolve)));

const svc = await startTestService(t, { REALNAME_URL: url, EINVOICE_URL: url });
const key = await createMerchant(svc, 'shop-q', 5);
const cards = await importSims(svc, 'shop-q', key, [1, 2, 3], '8986062');

t.test('real-name: wrong shapes, an oversized answer and a refused credential never verify', async (t) => {
  const sold = await order(svc, key, { merchant: 'shop-q', externalOrderId: 'Q-1', iccid: cards[0]! });
  t.equal(sold.status, 201);
  const bad = [
    json(200, { verified: true }),
    json(200, { verificationId: 'rn_x', result: 'PASS' }),
    json(200, { verificationId: 'rn\nx', result: 'pass' }),
    { status: 200, body: 'pass' },
    json(200, { verificationId: 'rn_big', result: 'pass', padding: 'x'.repeat(100_000) }),
  ];
  for (const answer of bad) {
    script.realName.push(answer);
    const response = await verifyHolder(svc, key, cards[0]!, residentId(11));
    t.equal(response.status, 502, answer.body.slice(0, 60));
    t.equal(response.body.error.code, 'PROVIDER_ERROR');
    const sim = (await svc.request('GET', `/v1/sims/${cards[0]}`, { token: key })).body;
    t.same({ state: sim.state, realName: sim.realName.status }, { state: 'sold', realName: 'pending' }, 'the card is as it was, the submission pending');
  }
  script.realName.push(json(401, { error: { code: 'UNAUTHORIZED' } }));
  const refused = await verifyHolder(svc, key, cards[0]!, residentId(11));
  t.equal(refused.status, 503, 'our credential refused: unavailable, retry later');
  t.match(refused.body.error.message, /REALNAME_TOKEN/);
  t.equal((await svc.request('POST', `/v1/sims/${cards[0]}/activate`, { token: key })).body.error.code, 'REALNAME_REQUIRED', 'nothing was verified');

  const retried = await verifyHolder(svc, key, cards[0]!, residentId(11));
  t.equal(retried.status, 200, 'the same submission again, now answered properly');
  t.equal(retried.body.realName.status, 'verified');
});

t.test('e-invoices: a number already held, a malformed date and a refused credential leave the invoice pending', async (t) => {
  const first = await order(svc, key, { merchant: 'shop-q', externalOrderId: 'Q-2', iccid: cards[1]! });
  t.equal(first.body.einvoices[0].status, 'issued');
  const held = first.body.einvoices[0].number as string;

  script.tax.push(json(201, { number: held, issuedAt: '2026-11-03T08:16:02+08:00' }));
  const second = await order(svc, key, { merchant: 'shop-q', externalOrderId: 'Q-3', iccid: cards[2]! });
  t.equal(second.status, 201, 'the order stands (it was a 500 before)');
  t.equal(second.body.einvoices[0].status, 'pending', 'the invoice waits');
  const id = second.body.einvoices[0].id as string;

  for (const answer of [json(201, { number: '26310000000000009999', issuedAt: 'yesterday' }), json(201, { number: '2631', issuedAt: '2026-11-03T08:16:02+08:00' }), json(403, {})]) {
    script.tax.push(answer);
    const retry = await svc.request('POST', `/v1/einvoices/${id}/retry`, { token: key });
    t.equal(retry.status, 200);
    t.equal(retry.body.status, 'pending', answer.body.slice(0, 60));
  }
  const issued = await svc.request('POST', `/v1/einvoices/${id}/retry`, { token: key });
  t.equal(issued.body.status, 'issued');
  t.not(issued.body.number, held);
});

t.test('every provider call carried our bearer token', async (t) => {
  t.ok(seen.length >= 10);
  t.same(new Set(seen), new Set([`Bearer ${TEST_PROVIDER_TOKEN}`]));
});
