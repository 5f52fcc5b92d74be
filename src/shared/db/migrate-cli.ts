import { loadMigrateConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate } from './migrate.js';

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded PostgreSQL under
 * DATA_DIR, and exits non-zero on any failure (never 0 on a half-migrated database).
 */
const config = loadMigrateConfig(process.env);
const logger = createLogger(config.LOG_LEVEL);
const embedded = config.DATABASE_URL ? null : await startEmbeddedPostgres(config.DATA_DIR, logger);
try {
  const applied = await migrate(config.DATABASE_URL ?? embedded!.url, logger);
  logger.info({ migrations: applied }, applied.length > 0 ? 'migrations applied' : 'database is up to date');
} catch (error) {
  logger.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await embedded?.stop();
}
