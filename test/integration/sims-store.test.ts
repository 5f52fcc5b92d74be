import t from 'tap';
import { runStore } from '../../simulators/store/generator.js';
import { createMerchant, startSimStack } from './sims-support.js';

// The store simulator against the service over real HTTP: every order, resend, real-name, activation,
// recharge and refund goes through; the month's statement and e-invoices agree with what it did.

const { svc, tax } = await startSimStack(t);
const key = await createMerchant(svc, 'demo-store', 4);

/** The API rate-limits per token (DESIGN 5: 429 with Retry-After); the store just ran hard on this one. */
async function get(url: string) {
  for (;;) {
    const response = await svc.request('GET', url, { token: key });
    if (response.status !== 429) return response;
    await new Promise((resolve) => setTimeout(resolve, Number(response.headers['retry-after'] ?? 1) * 1000));
  }
}

t.test('a store run', async (t) => {
  const report = await runStore({ baseUrl: svc.service.httpUrl, token: key, merchant: 'demo-store', orders: 24, seed: 'store-test-1', refundRate: 0.3, rechargeRate: 0.4, failLivenessRate: 0.3, duplicateRate: 0.3 });
  t.same(report.failures, []);
  t.equal(report.ordered, 24);
  t.ok(report.replayed > 0 && report.livenessRetries > 0 && report.recharged > 0 && report.refunded > 0, JSON.stringify(report));

  const month = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit' }).format(Date.now());
  const statement = (await get(`/v1/merchants/demo-store/settlements?month=${month}`)).body;
  t.equal(statement.orders, report.ordered + report.recharged, 'orders and recharges of the month');
  const retail = 48;
  t.equal(statement.gross, `${((statement.orders - report.refunded) * retail).toFixed(2)}`, 'gross = Σ retail − refunds');
  t.equal(statement.refunds, `-${(report.refunded * retail).toFixed(2)}`);
  t.equal(statement.margin, `${((statement.orders - report.refunded) * 18).toFixed(2)}`);

  const invoices = (await get(`/v1/merchants/demo-store/einvoices?month=${month}`)).body.einvoices as Array<{ kind: string; status: string; number: string | null }>;
  t.equal(invoices.filter((i) => i.kind === 'blue').length, statement.orders, 'one blue invoice per paid order');
  t.equal(invoices.filter((i) => i.kind === 'red').length, report.refunded, 'one red-letter invoice per refund');
  t.ok(invoices.every((i) => i.status === 'issued'));
  const numbers = invoices.map((i) => i.number);
  t.same(numbers.filter((n, i) => n === null || numbers.indexOf(n) !== i), [], 'each e-invoice the service returned has a number of its own');
  // counted by the platform as it issued (its invoices() are keyed by number, so a repeat would hide there)
  t.equal(tax.stats().issued, invoices.length, 'no duplicate at the tax platform: it issued as many invoices as the service holds');
});
