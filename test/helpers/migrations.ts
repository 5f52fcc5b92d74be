import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { MIGRATIONS_DIR } from '../../src/shared/db/migrate.js';
import { createTestDatabase } from './database.js';

type Tap = Parameters<typeof createTestDatabase>[0];

/**
 * A fresh database migrated to the latest version, a client on it, `step` to run one migration down or up
 * and `upToLatest`: what the migration tests (a migration's down, then its up, with data in between) share.
 */
export async function migrationHarness(t: Tap) {
  const url = await createTestDatabase(t);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.teardown(() => db.end());
  const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const run = (direction: 'up' | 'down', count?: number) =>
    runner({ databaseUrl: url, dir: MIGRATIONS_DIR, direction, ...(count === undefined ? {} : { count }), migrationsTable: 'pgmigrations', singleTransaction: true, logger: quiet });
  /** One migration down or up. */
  const step = (direction: 'up' | 'down') => run(direction, 1);
  /** Every migration not applied, up. */
  const upToLatest = () => run('up');
  /** Down one migration at a time, later ones first, until `name` has gone down; the last one that went down. */
  const downThrough = async (name: string) => {
    let down = (await step('down'))[0];
    while (down && down.name > name) down = (await step('down'))[0];
    return down;
  };
  return { db, step, upToLatest, downThrough };
}
