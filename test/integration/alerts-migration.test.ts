import t from 'tap';
import { migrationHarness } from '../helpers/migrations.js';

// Migration 0016 (issue 14, usage alerts) adds the alert tables, and its down migration removes them again.
const { db, step, upToLatest, downThrough } = await migrationHarness(t);
const tables = async () => (await db.query(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'alert_%' ORDER BY table_name`)).rows.map((r: { table_name: string }) => r.table_name);

t.test('0016 goes down and up again', async (t) => {
  t.same(await tables(), ['alert_rules', 'alert_states']);
  await db.query(`INSERT INTO alert_rules (id, owner_kind, owner_id, kind, sponsorship_id, params, created_at) VALUES ('al_1', 'sponsor', 'amap', 'mtd_amount', NULL, '{"kind":"mtd_amount","amount":"1"}', now())`);
  await db.query(`INSERT INTO alert_states (rule_id, period, triggered_at, triggered_value) VALUES ('al_1', '2026-11', now(), '1.00')`);
  const down = await downThrough('0016_alerts');
  t.equal(down?.name, '0016_alerts', 'the alerts migration went down');
  t.same(await tables(), []);
  const [up] = await step('up');
  t.equal(up?.name, '0016_alerts');
  await upToLatest();
  t.same(await tables(), ['alert_rules', 'alert_states']);
  await t.rejects(
    db.query(`INSERT INTO alert_rules (id, owner_kind, owner_id, kind, sponsorship_id, params, created_at) VALUES ('al_2', 'merchant', 'shop', 'cap_share', 'x', '{}', now())`),
    'a merchant has no cap rules',
  );
  await t.rejects(db.query(`INSERT INTO alert_states (rule_id, period, triggered_at, triggered_value) VALUES ('al_none', '2026-11', now(), '1')`), 'a state needs its rule');
});
