import path from 'node:path';
import t from 'tap';
import type { InvoiceDocument } from '../../src/billing/invoices.js';
import { loadCatalog } from '../../src/catalog/load.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { accrualOf } from '../../src/web/console-accrual.js';
import { classifyQuery } from '../../src/web/console-routes.js';
import { translator } from '../../src/web/i18n.js';
import { makeIccid, makeVin } from '../helpers/fixtures.js';

// The operator console's pure parts (issue 14): what a search box query is, and a sponsor's accrual.

const { catalog } = await loadCatalog(path.join(PROJECT_ROOT, 'sponsors'));
const t9n = translator('en');

t.test('a query is a VIN, an ICCID, or text looked up as an order id and a VIN prefix', async (t) => {
  const vin = makeVin(5);
  t.same(classifyQuery(vin.toLowerCase(), t9n), { kind: 'vin', vin });
  t.same(classifyQuery(`  ${makeIccid(5)} `, t9n), { kind: 'iccid', iccid: makeIccid(5) });
  t.same(classifyQuery(undefined, t9n), { kind: 'empty' });
  t.same(classifyQuery('   ', t9n), { kind: 'empty' });
  t.same(classifyQuery('ORDER-77', t9n), { kind: 'text', text: 'ORDER-77', orderId: 'ORDER-77', prefix: null, badVin: null });
  t.same(classifyQuery('lsvau', t9n), { kind: 'text', text: 'lsvau', orderId: 'lsvau', prefix: 'LSVAU', badVin: null });
  const wrongDigit = `${vin.slice(0, 8)}${vin[8] === '0' ? '1' : '0'}${vin.slice(9)}`;
  const bad = classifyQuery(wrongDigit, t9n);
  t.equal(bad.kind, 'text', 'a VIN with a wrong check digit may still be an order id');
  t.match(bad.kind === 'text' ? bad.badVin : '', /check digit/);
  t.match(classifyQuery(`${makeIccid(5).slice(0, 19)}${makeIccid(5).endsWith('0') ? '1' : '0'}`, t9n), { kind: 'invalid', message: /Not a valid ICCID/ });
  for (const hostile of ['x'.repeat(10 * 1024), '车辆', 'a b', '<script> x', '\u0000']) t.equal(classifyQuery(hostile, t9n).kind, 'invalid', JSON.stringify(hostile.slice(0, 12)));
});

t.test('accrual: accrued per sponsorship, minus what issued documents invoiced of the month, exact', async (t) => {
  const doc = (number: string, lines: Array<[string, string, string, string]>): InvoiceDocument =>
    ({
      id: number,
      number,
      lines: lines.map(([app, usageMonth, pricePerGiB, amount]) => ({ app, kind: 'sponsored', usageMonth, bytes: 1, pricePerGiB, amount, taxRate: '0.06', tax: '0.00' })),
    }) as unknown as InvoiceDocument;
  const usage = [
    { app: 'navigation', kind: 'sponsored' as const, bytes: 3 * 2 ** 30, pricePerGiB: '4.00', amount: '12.00' },
    { app: 'general', kind: 'overage' as const, bytes: 2 ** 30, pricePerGiB: '8.00', amount: '8.00' },
  ];
  // The October invoice, voided by its credit note, then issued again; a later invoice's adjustment.
  const documents = [doc('I-1', [['navigation', '2026-10', '4.00', '10.00']]), doc('C-1', [['navigation', '2026-10', '4.00', '-10.00']]), doc('I-2', [['navigation', '2026-10', '4.00', '10.00']]), doc('I-3', [['navigation', '2026-10', '4.00', '1.01'], ['navigation', '2026-11', '4.00', '99.00']])];
  const october = accrualOf('2026-10', 'amap', usage, documents, catalog);
  t.equal(october.accrued, '20.00');
  t.equal(october.invoiced, '11.01', 'a voided invoice and its credit note net to zero; the adjustment counts for its month');
  t.equal(october.notInvoiced, '8.99');
  t.same(
    october.lines.map((l) => [l.label, l.accrued, l.invoiced, l.notInvoiced]),
    [
      ['amap-nav-acme', '12.00', '11.01', '0.99'],
      ['overage · general · 8.00', '8.00', '0.00', '8.00'],
    ],
    'named by the catalog’s sponsorship (same app and price), the overage as such',
  );
  t.equal(accrualOf('2026-12', 'amap', [], [], catalog).notInvoiced, '0.00', 'a month without usage');
});
