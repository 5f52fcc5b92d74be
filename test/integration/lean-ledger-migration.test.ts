import t from 'tap';
import { migrationHarness } from '../helpers/migrations.js';
import { makeVin } from '../helpers/fixtures.js';

// Migration 0013 (issue 11) carries an existing ledger over to the lean layout, and back down.
const { db, step, upToLatest, downThrough } = await migrationHarness(t);

t.test('records keep their catalog version through 0013, allocations their rule and version through its down', async (t) => {
  // Later migrations (0014 on) go down first: they come after 0013 and back up with it at the end.
  const down = await downThrough('0013_lean_ledger');
  t.equal(down?.name, '0013_lean_ledger', 'the lean-ledger migration went down');
  const [v1, v2] = ['a'.repeat(64), 'b'.repeat(64)];
  await db.query(`INSERT INTO catalog_versions (version, content) VALUES ($1, '{}'), ($2, '{}')`, [v1, v2]);
  const vin = makeVin(1);
  await db.query(
    `INSERT INTO usage_records (vin, epoch, seq, start_at, end_at, up, down, iface, app, rule_id, catalog_version, batch, received_at)
     VALUES ($1, 'e1', 1, '2026-11-30T17:00:00Z', '2026-11-30T17:01:00Z', 10, 20, 'tbox', 'navigation', 'navigation/host/a.b', $2, 1, now()),
            ($1, 'e1', 2, '2026-12-01T01:00:00Z', '2026-12-01T01:01:00Z', 5, 5, 'tbox', 'music', 'music/host/m.n', $3, 2, now())`,
    [vin, v1, v2],
  );
  await db.query(`CREATE TABLE IF NOT EXISTS allocations_2026_12 PARTITION OF allocations FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')`);
  await db.query(
    `INSERT INTO allocations (usage_month, vin, epoch, seq, part, start_at, usage_day, app, payer, kind, bytes, price_per_gib, rule_id, catalog_version, committed_at)
     VALUES ('2026-12-01', $1, 'e1', 1, 0, '2026-11-30T17:00:00Z', '2026-12-01', 'navigation', 'amap', 'sponsored', 30, 1.5, 'navigation/host/a.b', $2, now()),
            ('2026-12-01', $1, 'e1', 2, 0, '2026-12-01T01:00:00Z', '2026-12-01', 'music', 'none', 'test', 10, NULL, 'music/host/m.n', $3, now())`,
    [vin, v1, v2],
  );

  const [up] = await step('up');
  t.equal(up?.name, '0013_lean_ledger');
  const records = await db.query(`SELECT u.seq::int, c.version FROM usage_records u JOIN catalog_versions c ON c.id = u.catalog_version_id ORDER BY u.seq`);
  t.same(records.rows, [{ seq: 1, version: v1 }, { seq: 2, version: v2 }], 'each record names its own catalog version by id');
  const columns = await db.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'allocations' AND column_name IN ('rule_id', 'catalog_version')`);
  t.same(columns.rows, [], 'allocations no longer repeat the rule and the version');
  const index = await db.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'allocations_record'`);
  t.equal(index.rowCount, 0, 'the (vin, epoch, seq) index of allocations is gone');
  const kept = await db.query(`SELECT seq::int, bytes::int, payer FROM allocations ORDER BY seq`);
  t.same(kept.rows, [{ seq: 1, bytes: 30, payer: 'amap' }, { seq: 2, bytes: 10, payer: 'none' }], 'allocations are kept');

  await step('down');
  const back = await db.query(`SELECT seq::int, rule_id, catalog_version FROM allocations ORDER BY seq`);
  t.same(back.rows, [{ seq: 1, rule_id: 'navigation/host/a.b', catalog_version: v1 }, { seq: 2, rule_id: 'music/host/m.n', catalog_version: v2 }], 'down restores them from the records');
  await upToLatest();
});
