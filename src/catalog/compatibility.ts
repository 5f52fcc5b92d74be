import type { Pool } from '../shared/db/pool.js';
import type { Catalog } from './schema.js';

/**
 * DESIGN 4: startup refuses a catalog that removes a sponsor, app, sponsorship or pack the ledger
 * references (end a sponsorship with `validUntil` instead), or that changes `billing.timezone` or
 * `billing.currency` once the ledger has rows. Compared with the catalog version used last; references
 * are looked up in indexed tables (rollups, invoices, vehicles, cap counters, packs, controls).
 */
export async function checkCatalogCompatibility(pool: Pool, next: Catalog): Promise<string[]> {
  const { rows } = await pool.query<{ content: Catalog }>('SELECT content FROM catalog_versions ORDER BY last_used_at DESC LIMIT 1');
  const previous = rows[0]?.content;
  if (!previous) return [];
  const problems: string[] = [];
  const ledgerHasRows = (await pool.query("SELECT EXISTS (SELECT 1 FROM usage_records) AS yes")).rows[0]?.yes === true;
  if (ledgerHasRows) {
    for (const key of ['timezone', 'currency'] as const) {
      if (previous.billing[key] !== next.billing[key]) {
        problems.push(`billing.${key}: changed from "${previous.billing[key]}" to "${next.billing[key]}" but the ledger already has rows`);
      }
    }
  }
  const removed = <T extends { id: string }>(before: readonly T[], after: readonly T[]) => before.map((x) => x.id).filter((id) => !after.some((y) => y.id === id));
  const referenced = async (sql: string, id: string) => (await pool.query(sql, [id])).rows.length > 0;
  for (const id of removed(previous.sponsors, next.sponsors)) {
    if (
      (await referenced('SELECT 1 FROM rollup_app_month WHERE sponsor = $1 LIMIT 1', id)) ||
      (await referenced('SELECT 1 FROM invoices WHERE sponsor = $1 LIMIT 1', id)) ||
      (await referenced('SELECT 1 FROM vehicles WHERE automaker = $1 LIMIT 1', id))
    ) {
      problems.push(`sponsors: "${id}" was removed but the ledger references it`);
    }
  }
  for (const id of removed(previous.apps, next.apps)) {
    if ((await referenced('SELECT 1 FROM rollup_app_month WHERE app = $1 LIMIT 1', id)) || (await referenced('SELECT 1 FROM control_states WHERE app = $1 LIMIT 1', id))) {
      problems.push(`apps: "${id}" was removed but the ledger references it`);
    }
  }
  for (const id of removed(previous.sponsorships, next.sponsorships)) {
    if (await referenced('SELECT 1 FROM cap_usage WHERE sponsorship_id = $1 LIMIT 1', id)) {
      problems.push(`sponsorships: "${id}" was removed but the ledger references it (end it with validUntil instead)`);
    }
  }
  for (const id of removed(previous.packs, next.packs)) {
    if (await referenced('SELECT 1 FROM pack_instances WHERE pack_id = $1 LIMIT 1', id)) {
      problems.push(`packs: "${id}" was removed but vehicles hold it`);
    }
  }
  return problems;
}
