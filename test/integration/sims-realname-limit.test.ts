import t from 'tap';
import { createMerchant, importSims, order, residentId, startSimStack, verifyHolder } from './sims-support.js';

// DESIGN 6: at most 10 cards in `active` or `suspended` per individual ID number, platform-wide, checked
// under a lock at activation (409 REALNAME_LIMIT for the 11th).

const { svc } = await startSimStack(t);
const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const ID = residentId(321, '19800229');
const cardsA = await importSims(svc, 'shop-a', keyA, [1, 2, 3, 4, 5, 6, 7]);
const cardsB = await importSims(svc, 'shop-b', keyB, [11, 12, 13, 14, 15, 16]);
const all: Array<[string, string, string]> = [...cardsA.map((c) => ['shop-a', keyA, c] as [string, string, string]), ...cardsB.map((c) => ['shop-b', keyB, c] as [string, string, string])];

t.test('sell and verify 13 cards of two merchants to one person', async (t) => {
  for (const [i, [merchant, key, iccid]] of all.entries()) {
    t.equal((await order(svc, key, { merchant, externalOrderId: `L-${i}`, iccid })).status, 201);
    t.equal((await verifyHolder(svc, key, iccid, ID, '王五', `pass-${i}`)).status, 200);
  }
});

t.test('ten activate; concurrent activations past the limit are refused', async (t) => {
  for (const [, key, iccid] of all.slice(0, 8)) t.equal((await svc.request('POST', `/v1/sims/${iccid}/activate`, { token: key })).status, 200);
  const racing = await Promise.all(all.slice(8, 12).map(([, key, iccid]) => svc.request('POST', `/v1/sims/${iccid}/activate`, { token: key })));
  const statuses = racing.map((r) => r.status).sort();
  t.same(statuses, [200, 200, 409, 409], 'exactly two more under the lock');
  for (const refused of racing.filter((r) => r.status === 409)) {
    t.equal(refused.body.error.code, 'REALNAME_LIMIT');
    t.notOk(JSON.stringify(refused.body).includes(ID), 'the ID number is not in the answer');
  }
});

t.test('the 11th card is refused while ten are active or suspended; retiring one frees a place', async (t) => {
  const waiting = [];
  for (const [, key, iccid] of all) if ((await svc.request('GET', `/v1/sims/${iccid}`, { token: key })).body.state === 'sold') waiting.push([key, iccid] as const);
  t.equal(waiting.length, 3);
  const [key, eleventh] = waiting[0]!;
  const refused = await svc.request('POST', `/v1/sims/${eleventh}/activate`, { token: key });
  t.equal(refused.status, 409);
  t.equal(refused.body.error.code, 'REALNAME_LIMIT');
  t.equal((await svc.request('GET', `/v1/sims/${eleventh}`, { token: key })).body.state, 'sold', 'a refusal changes nothing');

  const [, firstKey, first] = all[0]!;
  t.equal((await svc.request('POST', `/v1/sims/${first}/suspend`, { token: firstKey })).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${eleventh}/activate`, { token: key })).status, 409, 'a suspended card still counts');
  t.equal((await svc.request('POST', `/v1/sims/${first}/retire`, { token: firstKey })).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${eleventh}/activate`, { token: key })).status, 200, 'a retired card does not');

  const other = await importSims(svc, 'shop-a', keyA, [40]);
  t.equal((await order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'L-other', iccid: other[0]! })).status, 201);
  t.equal((await verifyHolder(svc, keyA, other[0]!, residentId(322, '19780301'), '王六')).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${other[0]}/activate`, { token: keyA })).status, 200, 'another person is not affected');
});
