import t from 'tap';
import { migrationHarness } from '../helpers/migrations.js';

// Migration 0017 (issue 14, the operator console) adds control_state_history, seeded with each control
// state's current rev; its down migration removes it again.
const { db, step, upToLatest, downThrough } = await migrationHarness(t);
const exists = async () => (await db.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'control_state_history'`)).rows.length === 1;

t.test('0017 goes down and up again, seeding the current revs', async (t) => {
  t.ok(await exists());
  const down = await downThrough('0017_control_state_history');
  t.equal(down?.name, '0017_control_state_history');
  t.notOk(await exists());
  await db.query(`INSERT INTO control_states (vin, app, reasons, rev, changed_at) VALUES ('LSVAU2180N2000001', 'general', '{FUNDS_EXHAUSTED}', 3, '2026-11-01T00:00:00Z')`);
  const [up] = await step('up');
  t.equal(up?.name, '0017_control_state_history');
  await upToLatest();
  const { rows } = await db.query(`SELECT vin, app, rev, reasons, changed_at FROM control_state_history`);
  t.same(rows, [{ vin: 'LSVAU2180N2000001', app: 'general', rev: 3, reasons: ['FUNDS_EXHAUSTED'], changed_at: new Date('2026-11-01T00:00:00Z') }], 'the state as it stood');
  await t.rejects(db.query(`INSERT INTO control_state_history (vin, app, rev, reasons, changed_at) VALUES ('v', 'a', 0, '{}', now())`), 'revs start at 1');
});
