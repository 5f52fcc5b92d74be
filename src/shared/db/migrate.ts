import path from 'node:path';
import { runner } from 'node-pg-migrate';
import type { Logger } from 'pino';
import { PROJECT_ROOT } from '../paths.js';

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');

/**
 * Applies every pending migration (plain SQL files in `migrations/`) in one transaction.
 * Several instances starting at once wait on node-pg-migrate's advisory lock instead of failing.
 * Throws on any failure: the caller must not start on a half-migrated database.
 */
export async function migrate(databaseUrl: string, logger: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    singleTransaction: true,
    checkOrder: true,
    advisoryLockMode: 'wait',
    logger: { debug: () => undefined, info: (msg: string) => logger.debug({ migrate: msg }), warn: (msg: string) => logger.warn(msg), error: (msg: string) => logger.error(msg) },
  });
  return applied.map((m) => m.name);
}
