import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { z } from 'zod';
import { createLogger } from '../shared/logger.js';
import { createPool } from '../shared/db/pool.js';
import {
  CREDENTIAL_FORMATS,
  SERVICE_USERNAME,
  credentialsChangedSince,
  exportCredentials,
  signalReload,
  writeFileAtomic,
  type CredentialFormat,
  type ExportResult,
  type ServiceUser,
} from './credentials.js';
import { openToolDatabase } from './tool-database.js';

const USAGE = `npm run export-credentials -- --format mosquitto|emqx [options]

Writes the device credentials of every vehicle (DESIGN 3.0: username = VIN, PBKDF2-SHA512 of the device
secret) for an external broker. Reads DATABASE_URL, else the embedded PostgreSQL under DATA_DIR.

  --format F                 mosquitto: a password_file of $7$ lines; emqx: JSON for the built-in
                             database's import_users?type=hash API
  --out FILE                 write FILE atomically (temporary file + rename, mode 0600); default stdout
  --service-user NAME        also write the billing service's broker user NAME ...
  --service-password-env VAR ... whose password is in the environment variable VAR (never an argument)
  --watch SECONDS            keep running: every SECONDS, rewrite FILE when a vehicle was created or a
                             secret rotated since the last export (needs --out)
  --reload-pid FILE          after each write, send SIGHUP to the process whose id is in FILE
                             (Mosquitto reloads its password file on SIGHUP)
`;

class UsageError extends Error {}

const EnvSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

interface Options {
  format: CredentialFormat;
  out: string | null;
  serviceUser: ServiceUser | null;
  watchSeconds: number | null;
  reloadPidFile: string | null;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        format: { type: 'string' },
        out: { type: 'string' },
        'service-user': { type: 'string' },
        'service-password-env': { type: 'string' },
        watch: { type: 'string' },
        'reload-pid': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const format = values.format as CredentialFormat | undefined;
  if (!format || !CREDENTIAL_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${CREDENTIAL_FORMATS.join(', ')}, got ${JSON.stringify(values.format ?? null)}`);
  if (Boolean(values['service-user']) !== Boolean(values['service-password-env'])) throw new UsageError('--service-user and --service-password-env go together');
  let serviceUser: ServiceUser | null = null;
  if (values['service-user'] && values['service-password-env']) {
    const username = values['service-user'];
    if (!SERVICE_USERNAME.test(username)) throw new UsageError(`--service-user must match ${SERVICE_USERNAME.source}, got ${JSON.stringify(username)}`);
    const variable = values['service-password-env'];
    const password = env[variable];
    if (!password) throw new UsageError(`the environment variable ${variable} (--service-password-env) is not set`);
    serviceUser = { username, password };
  }
  let watchSeconds: number | null = null;
  if (values.watch !== undefined) {
    watchSeconds = Number(values.watch);
    if (!Number.isInteger(watchSeconds) || watchSeconds < 1 || watchSeconds > 86_400) throw new UsageError(`--watch must be whole seconds from 1 to 86400, got ${JSON.stringify(values.watch)}`);
    if (!values.out) throw new UsageError('--watch needs --out (the file it keeps in sync)');
  }
  return { format, out: values.out ?? null, serviceUser, watchSeconds, reloadPidFile: values['reload-pid'] ?? null };
}

async function main(): Promise<number> {
  let options: Options | 'help';
  let env: z.infer<typeof EnvSchema>;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
    const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')));
    if (!parsed.success) throw new UsageError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n'));
    env = parsed.data;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    return 64; // EX_USAGE
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts = options;
  // Logs go to stderr: without --out the credentials themselves are on stdout.
  const logger = createLogger(env.LOG_LEVEL, pino.destination({ fd: 2, sync: true })).child({ component: 'export-credentials' });
  const database = await openToolDatabase(env, logger);
  const pool = createPool(database.url, 2);
  pool.on('error', (error) => logger.warn({ err: error.message }, 'idle database connection failed'));
  logger.debug({ database: database.source }, 'database');

  const exportOnce = async (): Promise<ExportResult> => {
    const exportOptions = { format: opts.format, serviceUser: opts.serviceUser ?? undefined };
    const result = opts.out
      ? await writeFileAtomic(opts.out, (sink) => exportCredentials(pool, exportOptions, sink))
      : await exportCredentials(pool, exportOptions, async (chunk) => {
          if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
        });
    const context = { format: opts.format, out: opts.out ?? 'stdout', vehicles: result.vehicles, serviceUser: opts.serviceUser?.username ?? null };
    logger.info(context, 'credentials exported');
    if (result.skipped > 0) {
      logger.warn(
        { skipped: result.skipped },
        'vehicles left out: their stored salt is not the 12 bytes Mosquitto reads ($7$); they cannot connect through Mosquitto until their secret is rotated (see deploy/mosquitto/README.md)',
      );
    }
    if (opts.reloadPidFile) {
      const pid = await signalReload(opts.reloadPidFile, (file) => readFile(file, 'utf8'));
      logger.info({ pid }, 'broker asked to reload (SIGHUP)');
    }
    return result;
  };

  try {
    let last = await exportOnce();
    if (opts.watchSeconds === null) return 0;
    // --watch: poll, rewrite on change; a failure (database or broker away) is logged and retried next tick.
    let stopping = false;
    let wake: (() => void) | null = null;
    const stop = () => {
      stopping = true;
      wake?.();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    logger.info({ everySeconds: opts.watchSeconds }, 'watching for new vehicles and rotated secrets');
    while (!stopping) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, opts.watchSeconds! * 1000).unref();
      });
      if (stopping) break;
      try {
        if (await credentialsChangedSince(pool, last.snapshot)) last = await exportOnce();
      } catch (error) {
        logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'credentials sync failed; will retry');
      }
    }
    return 0;
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
    process.stderr.write(`export-credentials failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
