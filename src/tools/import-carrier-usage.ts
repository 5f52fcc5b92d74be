import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { z } from 'zod';
import { importCarrierUsage, ImportRejected } from '../assurance/import-carrier-usage.js';
import { systemClock } from '../shared/clock.js';
import { ConfigSchema } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import { createLogger } from '../shared/logger.js';
import { openToolDatabase } from './tool-database.js';

const USAGE = `npm run import-carrier-usage -- FILE [--file-id ID] [--partial]

Imports a carrier usage file (CSV carrier-usage/1, src/assurance/README.md) straight into the database the
service uses (DATABASE_URL, else the embedded PostgreSQL under DATA_DIR), exactly as POST /v1/carrier-usage
does: streamed, all or nothing unless --partial, idempotent per (file id, line). Dates are read in
CARRIER_TIMEZONE (default Asia/Shanghai). Prints the import's reply as JSON on stdout.

  --file-id ID   the carrier's id of the file (default: sha256 of its bytes)
  --partial      apply the good lines even when some are bad

Exit codes: 0 imported (or already imported), 65 the file has bad lines and nothing was applied, 64 usage, 1 failure.
`;

const EnvSchema = z.object({
  DATABASE_URL: ConfigSchema.shape.DATABASE_URL,
  DATA_DIR: ConfigSchema.shape.DATA_DIR,
  LOG_LEVEL: ConfigSchema.shape.LOG_LEVEL,
  CARRIER_TIMEZONE: ConfigSchema.shape.CARRIER_TIMEZONE,
});

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), allowPositionals: true, strict: true, options: { 'file-id': { type: 'string' }, partial: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 64;
  }
  if (parsed.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = parsed.positionals[0];
  const fileId = parsed.values['file-id'] ?? null;
  if (parsed.positionals.length !== 1 || file === undefined || (fileId !== null && !/^[A-Za-z0-9._:-]{1,200}$/.test(fileId))) {
    process.stderr.write(USAGE);
    return 64;
  }
  const env = EnvSchema.parse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '')));
  const logger = createLogger(env.LOG_LEVEL, pino.destination({ fd: 2, sync: true })).child({ component: 'import-carrier-usage' });
  const database = await openToolDatabase(env, logger);
  const pool = createPool(database.url, 2);
  pool.on('error', (error) => logger.warn({ err: error.message }, 'idle database connection failed'));
  try {
    const reply = await importCarrierUsage({ pool, clock: systemClock, carrierTimezone: env.CARRIER_TIMEZONE }, createReadStream(file, { highWaterMark: 256 * 1024 }), { fileId, partial: parsed.values.partial, by: 'cli' });
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    logger.info({ fileId: reply.fileId, applied: reply.applied, duplicate: reply.duplicate, rejected: reply.rejectedCount }, 'carrier file imported');
    return 0;
  } catch (error) {
    if (error instanceof ImportRejected) {
      process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message }, ...error.reply })}\n`);
      return 65;
    }
    throw error;
  } finally {
    await pool.end();
    await database.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`import-carrier-usage failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
