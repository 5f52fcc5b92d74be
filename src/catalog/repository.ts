import type { Pool } from '../shared/db/pool.js';

/** DESIGN 4: each catalog version's full content is stored in PostgreSQL at first use. */
export async function recordCatalogVersion(pool: Pool, version: string, canonicalJson: string): Promise<boolean> {
  const result = await pool.query(
    'INSERT INTO catalog_versions (version, content) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING',
    [version, canonicalJson],
  );
  return result.rowCount === 1;
}
