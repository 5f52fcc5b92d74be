import fc from 'fast-check';
import t from 'tap';
import { canonicalRate, composeBlueInvoice, composeRedInvoice, invoiceProblem, splitRetail } from '../../src/einvoice/compose.js';
import { formatMinor, toMinor } from '../../src/shared/money.js';

// DESIGN 6: amount = round_half_up(retail / (1 + rate), 2), tax = retail − amount; a red-letter invoice
// negates a blue one in full.

const seller = { name: 'Shop', taxId: '91310000MA1FL5LQ3E' };

t.test('split of a tax-inclusive retail price', async (t) => {
  t.same(splitRetail('48.00', '0.06'), { amount: '45.28', tax: '2.72', total: '48.00' });
  t.same(splitRetail('30.00', '0.06'), { amount: '28.30', tax: '1.70', total: '30.00' });
  t.same(splitRetail('0.01', '0.06'), { amount: '0.01', tax: '0.00', total: '0.01' });
  t.same(splitRetail('10.60', '0.06'), { amount: '10.00', tax: '0.60', total: '10.60' });
  t.same(splitRetail('1.09', '0.09'), { amount: '1.00', tax: '0.09', total: '1.09' });
  t.same(splitRetail('0.53', '0.06'), { amount: '0.50', tax: '0.03', total: '0.53' }, '0.5000 exactly');
  t.same(splitRetail('9.99', '0'), { amount: '9.99', tax: '0.00', total: '9.99' });
  t.equal(canonicalRate('0.0600'), '0.06');
  t.equal(canonicalRate('0.1300'), '0.13');
  t.equal(canonicalRate('0'), '0');
});

t.test('properties: amount + tax = retail, amount is the rounded net, never float', async () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10_000_000n }), fc.constantFrom('0', '0.01', '0.03', '0.06', '0.09', '0.13', '0.0675'), (cents, rate) => {
      const retail = formatMinor(cents);
      const split = splitRetail(retail, rate);
      const amount = toMinor(split.amount);
      const tax = toMinor(split.tax);
      // exact check of round_half_up(retail / (1 + rate)): |amount × (1 + rate) − retail| ≤ (1 + rate) / 2 fen
      const [, frac = ''] = rate.split('.');
      const scale = 10n ** BigInt(frac.length);
      const onePlus = scale + BigInt(frac || '0');
      const error = amount * onePlus - cents * scale;
      return amount + tax === cents && 2n * (error < 0n ? -error : error) <= onePlus && tax >= 0n;
    }),
  );
});

t.test('blue and red invoices are consistent by the platform’s rules', async (t) => {
  const blue = composeBlueInvoice({ seller, buyerName: '张三', currency: 'CNY', planId: 'iot-12m', retail: '48.00', taxRate: '0.0600' });
  t.equal(invoiceProblem(blue), null);
  t.same(blue.items, [{ name: '*电信服务*物联网卡服务 iot-12m', quantity: 1, unit: '套', unitPrice: '45.28', amount: '45.28', taxRate: '0.06', tax: '2.72' }]);
  const red = composeRedInvoice(blue, '26311000000000000001', 'SERVICE_TERMINATION');
  t.equal(invoiceProblem(red), null);
  t.match(red, { kind: 'red', amount: '-45.28', tax: '-2.72', total: '-48.00', originalNumber: '26311000000000000001', redReason: 'SERVICE_TERMINATION' });
  t.equal(red.items[0]!.quantity, -1);
  t.match(invoiceProblem({ ...blue, tax: '2.71' }), /tax 2.71 is not the sum/);
  t.match(invoiceProblem({ ...blue, items: [{ ...blue.items[0]!, amount: '45.29', tax: '2.71' }], amount: '45.29', tax: '2.71' }), /round_half_up/);
  t.match(invoiceProblem({ ...red, originalNumber: undefined }), /names the blue invoice/);
  t.match(invoiceProblem({ ...blue, kind: 'red', originalNumber: '1' }), /must be negative/);
  t.equal(composeRedInvoice(blue, null, 'SALES_RETURN').originalNumber, undefined, 'a reversal recorded before the blue number is known');
});
