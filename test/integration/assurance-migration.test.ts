import t from 'tap';
import { migrationHarness } from '../helpers/migrations.js';

// Migration 0014 (issue 13) adds the carrier tables, and its down migration removes them again.
const { db, step, upToLatest, downThrough } = await migrationHarness(t);
const tables = async () =>
  (await db.query(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'carrier_usage_%' ORDER BY table_name`)).rows.map((r: { table_name: string }) => r.table_name);

t.test('0014 goes down and up again', async (t) => {
  t.same(await tables(), ['carrier_usage_corrections', 'carrier_usage_days', 'carrier_usage_files', 'carrier_usage_lines']);
  await db.query(`INSERT INTO carrier_usage_files (file_id, sha256, lines, imported_at, imported_by) VALUES ('f', decode(repeat('00', 32), 'hex'), 1, now(), 'admin')`);
  // Later migrations (0015 on) go down first, and come back up at the end.
  const down = await downThrough('0014_revenue_assurance');
  t.equal(down?.name, '0014_revenue_assurance', 'the revenue-assurance migration went down');
  t.same(await tables(), []);
  const [up] = await step('up');
  t.equal(up?.name, '0014_revenue_assurance');
  await upToLatest();
  t.same(await tables(), ['carrier_usage_corrections', 'carrier_usage_days', 'carrier_usage_files', 'carrier_usage_lines']);
  await t.rejects(db.query(`INSERT INTO carrier_usage_days (iccid, usage_day, bytes, file_row, updated_at) VALUES ('x', '2026-11-01', -1, 1, now())`), 'bytes are never negative');
});
