import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { createMerchant, importSims, order, residentId, startSimStack, uscc, verifyHolder } from './sims-support.js';

// DESIGN 6: provider timeouts and rejections leave the card in a consistent state and can be retried
// without duplicates. The simulators run as separate HTTP servers; a "timeout" is a decided request whose
// answer comes after the service gave up (3 s), the nastiest case for duplicates.

const clock = manualClock(Date.now());
const { svc, realName, tax } = await startSimStack(t, { clock, slowMs: 4_000 });
const key = await createMerchant(svc, 'shop-p', 3);
const cards = await importSims(svc, 'shop-p', key, [1, 2, 3, 4, 5, 6, 7, 8]);
let serial = 0;
const soldCard = async () => {
  const iccid = cards[serial]!;
  serial += 1;
  const sold = await order(svc, key, { merchant: 'shop-p', externalOrderId: `P-${serial}`, iccid });
  if (sold.status !== 201) throw new Error(JSON.stringify(sold.body));
  return iccid;
};
const simOf = async (iccid: string) => (await svc.request('GET', `/v1/sims/${iccid}`, { token: key })).body;

t.test('a failed liveness check is a 422 and a new attempt may pass', async (t) => {
  const iccid = await soldCard();
  const failed = await verifyHolder(svc, key, iccid, residentId(1), '赵六', 'fail-blurry');
  t.equal(failed.status, 422);
  t.equal(failed.body.error.code, 'REALNAME_REJECTED');
  t.equal(failed.body.error.field, 'livenessToken');
  const sim = await simOf(iccid);
  t.equal(sim.state, 'sold');
  t.equal(sim.realName.status, 'rejected');
  t.equal((await svc.request('POST', `/v1/sims/${iccid}/activate`, { token: key })).body.error.code, 'REALNAME_REQUIRED');
  t.equal((await verifyHolder(svc, key, iccid, residentId(1), '赵六', 'pass-second-try')).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${iccid}/activate`, { token: key })).status, 200);
});

t.test('a provider timeout leaves the submission pending; the same request again gets the first answer', async (t) => {
  const iccid = await soldCard();
  const before = realName.stats();
  const slow = await verifyHolder(svc, key, iccid, residentId(2), '孙七', 'timeout-camera');
  t.equal(slow.status, 504);
  t.equal(slow.body.error.code, 'PROVIDER_TIMEOUT');
  const pending = await simOf(iccid);
  t.equal(pending.state, 'sold', 'the card did not move');
  t.equal(pending.realName.status, 'pending');
  t.equal((await svc.request('POST', `/v1/sims/${iccid}/activate`, { token: key })).body.error.code, 'REALNAME_REQUIRED', 'pending is not verified');

  const retried = await verifyHolder(svc, key, iccid, residentId(2), '孙七', 'timeout-camera');
  t.equal(retried.status, 200);
  t.equal(retried.body.realName.status, 'verified');
  const after = realName.stats();
  t.equal(after.decisions - before.decisions, 1, 'one verification at the provider');
  t.equal(after.replays - before.replays, 1, 'the retry was answered from its idempotency key');
  const again = await verifyHolder(svc, key, iccid, residentId(2), '孙七', 'timeout-camera');
  t.equal(again.status, 200, 'a verified submission sent again is a no-op');
  t.equal(realName.stats().requests, after.requests, 'without calling the provider');
  const different = await verifyHolder(svc, key, iccid, residentId(3), '周八', 'pass-x');
  t.equal(different.status, 409);
  t.equal(different.body.error.code, 'REALNAME_ALREADY_VERIFIED');
});

t.test('an outage is a 503 and a retry verifies once', async (t) => {
  const iccid = await soldCard();
  realName.injectFault('unavailable');
  const down = await verifyHolder(svc, key, iccid, residentId(4), '吴九', 'pass-1');
  t.equal(down.status, 503);
  t.equal(down.body.error.code, 'PROVIDER_UNAVAILABLE');
  t.equal((await simOf(iccid)).realName.status, 'pending');
  t.equal((await verifyHolder(svc, key, iccid, residentId(4), '吴九', 'pass-1')).status, 200);
});

t.test('enterprise holders: credit code and agent; a provider rejection', async (t) => {
  const iccid = await soldCard();
  const body = { type: 'enterprise', name: '上海某某物流有限公司', uscc: uscc(77), agent: { name: '郑十', idNumber: residentId(9, '19700101') } };
  realName.injectFault('reject');
  const rejected = await svc.request('POST', `/v1/sims/${iccid}/real-name`, { token: key, body });
  t.equal(rejected.status, 422);
  t.equal(rejected.body.error.code, 'REALNAME_REJECTED');
  t.equal((await simOf(iccid)).realName.status, 'rejected');
  const before = realName.stats();
  const corrected = await svc.request('POST', `/v1/sims/${iccid}/real-name`, { token: key, body });
  t.equal(corrected.status, 200, 'after a rejection the submission may be sent again: a new verification');
  t.equal(realName.stats().decisions - before.decisions, 1);
  t.equal(corrected.body.realName.type, 'enterprise');
  t.equal(corrected.body.realName.idNumber, `${uscc(77).slice(0, 4)}**********${uscc(77).slice(-4)}`);
  t.same(corrected.body.realName.agent, { name: '郑*', idNumber: `${residentId(9, '19700101').slice(0, 4)}**********${residentId(9, '19700101').slice(-4)}` });
  t.equal((await svc.request('POST', `/v1/sims/${iccid}/activate`, { token: key })).status, 200, 'an enterprise holder allows activation');
});

t.test('e-invoices: a lost answer is retried with the same key and never issued twice', async (t) => {
  const issuedBefore = tax.invoices().length;
  tax.injectFault('timeout');
  const started = Date.now();
  const sold = await order(svc, key, { merchant: 'shop-p', externalOrderId: 'E-1', iccid: cards[6]! });
  t.ok(Date.now() - started >= 2_900, 'the service waited for its timeout');
  t.equal(sold.status, 201, 'the order stands without its invoice');
  t.equal(sold.body.einvoices[0].status, 'pending');
  t.equal(tax.invoices().length, issuedBefore + 1, 'the platform did issue it');
  t.equal((await simOf(cards[6]!)).state, 'sold', 'the card is sold all the same');

  const retry = await svc.request('POST', `/v1/einvoices/${sold.body.einvoices[0].id}/retry`, { token: key });
  t.equal(retry.status, 200);
  t.equal(retry.body.status, 'issued');
  t.equal(retry.body.attempts, 2);
  t.equal(tax.invoices().length, issuedBefore + 1, 'no second invoice');
  t.equal(retry.body.number, tax.invoices().at(-1)!.number, 'the number the platform issued the first time');
});

t.test('e-invoices: outages and rejections; a red-letter reversal waits for its blue invoice', async (t) => {
  tax.injectFault('unavailable', 2);
  const sold = await order(svc, key, { merchant: 'shop-p', externalOrderId: 'E-2', iccid: cards[7]! });
  t.equal(sold.body.einvoices[0].status, 'pending');
  const refund = await svc.request('POST', '/v1/orders/E-2/refund', { token: key });
  t.equal(refund.status, 200);
  t.same(refund.body.einvoices.map((i: { kind: string; status: string }) => `${i.kind}:${i.status}`), ['blue:pending', 'red:pending']);
  t.equal((await simOf(cards[7]!)).state, 'inventory', 'the refund is done whatever the tax platform says');

  t.equal((await svc.service.app.simLifecycle!.runJobs()).einvoicesAttempted, 0, 'backoff: not yet');
  clock.advance(11_000);
  t.equal((await svc.service.app.simLifecycle!.runJobs()).einvoicesAttempted, 2, 'blue, then red');
  const listed = (await svc.request('GET', `/v1/orders/E-2`, { token: key })).body.einvoices;
  t.same(listed.map((i: { kind: string; status: string }) => `${i.kind}:${i.status}`), ['blue:issued', 'red:issued']);
  const red = tax.invoices().find((i) => i.number === listed[1].number)!;
  t.equal(red.document.originalNumber, listed[0].number);

  tax.injectFault('reject');
  const card = (await importSims(svc, 'shop-p', key, [30]))[0]!;
  const rejected = await order(svc, key, { merchant: 'shop-p', externalOrderId: 'E-3', iccid: card });
  t.equal(rejected.status, 201);
  const invoiceId = rejected.body.einvoices[0].id;
  clock.advance(3_600_000);
  await svc.service.app.simLifecycle!.runJobs();
  const still = await svc.request('GET', '/v1/orders/E-3', { token: key });
  t.equal(still.body.einvoices[0].status, 'rejected', 'a rejection is not retried automatically');
  const fixed = await svc.request('POST', `/v1/einvoices/${invoiceId}/retry`, { token: key });
  t.equal(fixed.body.status, 'issued');
  t.match(fixed.body.lastError, null);
  const replayOrder = await order(svc, key, { merchant: 'shop-p', externalOrderId: 'E-3', iccid: card });
  t.equal(replayOrder.status, 200);
  t.equal(replayOrder.body.einvoices.length, 1);
});

t.test('without REALNAME_URL outside dev mode, verification is unavailable, not faked', async (t) => {
  const bare = await import('../helpers/service.js').then((m) => m.startTestService(t));
  t.match(bare.rawLogs(), /REALNAME_URL is not set/);
  t.match(bare.rawLogs(), /EINVOICE_URL is not set/);
});
