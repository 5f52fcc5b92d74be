import fc from 'fast-check';
import t from 'tap';
import { computeSettlement, type SettlementLine } from '../../src/sims/settlement.js';
import { cardControlChanges } from '../../src/sims/controls.js';
import { validateImportRows } from '../../src/sims/import-rows.js';
import { formatMinor, toMinor } from '../../src/shared/money.js';

const BLOCKABLE = ['ota', 'navigation', 'music', 'wifi-hotspot', 'general'];
const VIN = 'LSVAU218XN2183294';

t.test('vehicle card controls (DESIGN 3.3, 6)', async (t) => {
  const present = (state: Parameters<typeof cardControlChanges>[1]) =>
    cardControlChanges(VIN, state, BLOCKABLE)
      .filter((c) => c.present)
      .map((c) => `${c.app}:${c.reason}`)
      .sort();
  t.same(present({ state: 'inventory', ownerVerified: false }), [], 'not in service yet');
  t.same(present({ state: 'test', ownerVerified: false }), []);
  t.same(present({ state: 'active', ownerVerified: false }), ['general:REALNAME_REQUIRED', 'wifi-hotspot:REALNAME_REQUIRED'], 'only directed apps until the user registers');
  t.same(present({ state: 'active', ownerVerified: true }), []);
  t.same(present({ state: 'suspended', ownerVerified: true }), BLOCKABLE.map((a) => `${a}:SIM_SUSPENDED`).sort());
  t.same(present({ state: 'retired', ownerVerified: true }), BLOCKABLE.map((a) => `${a}:SIM_SUSPENDED`).sort());
  t.same(present(null), [], 'a vehicle without a card of ours carries none');
  t.equal(cardControlChanges(VIN, null, BLOCKABLE).length, 2 + BLOCKABLE.length, 'absent reasons are cleared explicitly');
  t.notOk(cardControlChanges(VIN, { state: 'suspended', ownerVerified: false }, ['ota']).some((c) => c.app === 'general'), 'never on an app that is not blockable');
});

t.test('import rows: every problem with its path', async (t) => {
  const { valid, problems } = validateImportRows([
    { iccid: '89860318640220133897', imsi: '460001234567890', msisdn: '+8613800000000' },
    { iccid: '89860318640220133898', imsi: '46000123456789', msisdn: '12' },
    null,
    { iccid: '89860318640220133897', imsi: '460001234567891', msisdn: '13800000001' },
  ]);
  t.same(valid, [{ index: 0, iccid: '89860318640220133897', imsi: '460001234567890', msisdn: '8613800000000' }], 'the + is dropped');
  t.same(
    problems.map((p) => p.field),
    ['sims.1.iccid', 'sims.1.imsi', 'sims.1.msisdn', 'sims.2', 'sims.3.iccid'],
  );
  t.match(problems[0]!.reason, /Luhn/);
  t.match(problems[4]!.reason, /duplicates row 0/);
});

t.test('settlement: exact, and the months add up to the orders', async (t) => {
  t.same(computeSettlement([{ retail: '48.00', wholesale: '30.00' }, { retail: '30.00', wholesale: '20.00' }], [{ retail: '48.00', wholesale: '30.00' }]), {
    orders: 2,
    gross: '30.00',
    wholesaleCost: '20.00',
    margin: '10.00',
    refunds: '-48.00',
  });
  t.same(computeSettlement([], []), { orders: 0, gross: '0.00', wholesaleCost: '0.00', margin: '0.00', refunds: '0.00' });
  const money = fc.bigInt({ min: 0n, max: 100_000n }).map((c) => formatMinor(c));
  const order = fc.record({ retail: money, wholesale: money, month: fc.integer({ min: 0, max: 5 }), refundMonth: fc.option(fc.integer({ min: 0, max: 5 })) });
  fc.assert(
    fc.property(fc.array(order, { maxLength: 40 }), (orders) => {
      const valid = orders.map((o) => ({ ...o, refundMonth: o.refundMonth === null ? null : Math.max(o.month, o.refundMonth) }));
      let gross = 0n;
      let margin = 0n;
      let count = 0;
      for (let month = 0; month <= 5; month++) {
        const created: SettlementLine[] = valid.filter((o) => o.month === month);
        const refunded: SettlementLine[] = valid.filter((o) => o.refundMonth === month);
        const s = computeSettlement(created, refunded);
        if (toMinor(s.margin) !== toMinor(s.gross) - toMinor(s.wholesaleCost)) return false;
        gross += toMinor(s.gross);
        margin += toMinor(s.margin);
        count += s.orders;
      }
      const kept = valid.filter((o) => o.refundMonth === null);
      const keptGross = kept.reduce((a, o) => a + toMinor(o.retail), 0n);
      const keptMargin = kept.reduce((a, o) => a + toMinor(o.retail) - toMinor(o.wholesale), 0n);
      return count === valid.length && gross === keptGross && margin === keptMargin;
    }),
  );
});
