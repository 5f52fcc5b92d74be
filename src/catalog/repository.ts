import type { Pool } from '../shared/db/pool.js';
import type { Catalog } from './schema.js';

/**
 * DESIGN 4: each catalog version's full content is stored in PostgreSQL at first use; `last_used_at`
 * marks the version a start ran with last (what the next catalog is checked against).
 */
export async function recordCatalogVersion(pool: Pool, version: string, canonicalJson: string, now: Date): Promise<{ inserted: boolean; id: number }> {
  const result = await pool.query<{ inserted: boolean; id: number }>(
    `INSERT INTO catalog_versions (version, content, first_used_at, last_used_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (version) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
     RETURNING (xmax = 0) AS inserted, id`,
    [version, canonicalJson, now],
  );
  const row = result.rows[0];
  if (!row) throw new Error('catalog version not recorded');
  return row;
}

/** The catalog a start ran with last (what the next catalog is checked against), or null on a new database. */
export async function latestCatalog(pool: Pick<Pool, 'query'>): Promise<Catalog | null> {
  const { rows } = await pool.query<{ content: Catalog }>('SELECT content FROM catalog_versions ORDER BY last_used_at DESC LIMIT 1');
  return rows[0]?.content ?? null;
}

/** The version string of `catalog_versions.id` (what usage records name), or null if no such row. */
export async function catalogVersionName(pool: Pick<Pool, 'query'>, id: number): Promise<string | null> {
  const { rows } = await pool.query<{ version: string }>('SELECT version FROM catalog_versions WHERE id = $1', [id]);
  return rows[0]?.version ?? null;
}
