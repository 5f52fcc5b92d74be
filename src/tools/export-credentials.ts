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
  listVins,
  signalReload,
  writeFileAtomic,
  type CredentialFormat,
  type ExportResult,
  type ServiceUser,
} from './credentials.js';
import { DynsecVehicleSync, SYNC_USER } from './dynsec.js';
import { openToolDatabase } from './tool-database.js';

const USAGE = `npm run export-credentials -- --format mosquitto|mosquitto-dynsec|emqx [options]

Writes the device credentials of every vehicle (DESIGN 3.0: username = VIN, PBKDF2-SHA512 of the device
secret) for an external broker. Reads DATABASE_URL, else the embedded PostgreSQL under DATA_DIR.

  --format F                 mosquitto: a password_file of $7$ lines; mosquitto-dynsec: the topic ACL
                             for Mosquitto's dynamic-security plugin (dynamic-security.json, no
                             passwords; write it before the broker starts); emqx: JSON for the built-in
                             database's import_users?type=hash API
  --out FILE                 write FILE atomically (temporary file + rename, mode 0600); default stdout
  --service-user NAME        also write the billing service's broker user NAME ...
  --service-password-env VAR ... whose password is in the environment variable VAR (never an argument;
                             not needed with mosquitto-dynsec)
  --watch SECONDS            keep running: every SECONDS, rewrite FILE when a vehicle was created or a
                             secret rotated since the last export (needs --out)
  --reload-pid FILE          after each write, send SIGHUP to the process whose id is in FILE
                             (Mosquitto reloads its password file on SIGHUP)
  --dynsec-url URL           with --format mosquitto --watch: before each write, add new vehicles to the
                             running broker's dynamic-security plugin through $CONTROL, logged in as
                             ${SYNC_USER} with a random password this process puts in FILE
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
  dynsecUrl: string | null;
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
        'dynsec-url': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const format = CREDENTIAL_FORMATS.find((known) => known === values.format);
  if (!format) throw new UsageError(`--format must be one of ${CREDENTIAL_FORMATS.join(', ')}, got ${JSON.stringify(values.format ?? null)}`);
  const aclOnly = format === 'mosquitto-dynsec';
  if (!aclOnly && Boolean(values['service-user']) !== Boolean(values['service-password-env'])) throw new UsageError('--service-user and --service-password-env go together');
  let serviceUser: ServiceUser | null = null;
  if (values['service-user']) {
    const username = values['service-user'];
    if (!SERVICE_USERNAME.test(username) || username === SYNC_USER) throw new UsageError(`--service-user must match ${SERVICE_USERNAME.source} and not be ${SYNC_USER}, got ${JSON.stringify(username)}`);
    // The ACL file names the user only: its password lives in the password file.
    let password = '';
    if (values['service-password-env']) {
      const variable = values['service-password-env'];
      password = env[variable] ?? '';
      if (!password) throw new UsageError(`the environment variable ${variable} (--service-password-env) is not set`);
    }
    serviceUser = { username, password };
  }
  let watchSeconds: number | null = null;
  if (values.watch !== undefined) {
    watchSeconds = Number(values.watch);
    if (!Number.isInteger(watchSeconds) || watchSeconds < 1 || watchSeconds > 86_400) throw new UsageError(`--watch must be whole seconds from 1 to 86400, got ${JSON.stringify(values.watch)}`);
    if (!values.out) throw new UsageError('--watch needs --out (the file it keeps in sync)');
    if (aclOnly) throw new UsageError('--watch cannot keep mosquitto-dynsec in sync: the running plugin owns its file; use --format mosquitto --watch --dynsec-url');
  }
  const dynsecUrl = values['dynsec-url'] ?? null;
  if (dynsecUrl !== null) {
    if (format !== 'mosquitto' || watchSeconds === null) throw new UsageError('--dynsec-url goes with --format mosquitto --watch');
    if (!/^mqtts?:\/\/[^/]+/.test(dynsecUrl)) throw new UsageError(`--dynsec-url must be mqtt://host:port or mqtts://host:port, got ${JSON.stringify(dynsecUrl)}`);
  }
  return { format, out: values.out ?? null, serviceUser, watchSeconds, reloadPidFile: values['reload-pid'] ?? null, dynsecUrl };
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

  // --dynsec-url: the sync user's random password goes into the password file with the service user.
  const dynsec = opts.dynsecUrl ? new DynsecVehicleSync(opts.dynsecUrl, opts.serviceUser?.username ?? null) : null;
  const extraUsers = dynsec ? [{ username: SYNC_USER, password: dynsec.password }] : [];
  const syncDynsec = async (): Promise<void> => {
    if (!dynsec) return;
    const created = await dynsec.sync(await listVins(pool));
    if (created > 0) logger.info({ created }, "vehicles added to the broker's dynamic-security ACL");
  };

  const exportOnce = async (): Promise<ExportResult> => {
    const exportOptions = { format: opts.format, serviceUser: opts.serviceUser ?? undefined, extraUsers };
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
    // The first dynsec sync needs the file just written (the sync user) to be loaded: retried every tick until it works.
    let dynsecInSync = false;
    const trySyncDynsec = async (): Promise<void> => {
      if (!dynsec || dynsecInSync) return;
      await syncDynsec();
      dynsecInSync = true;
    };
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
    // The broker reloads the password file asynchronously after the SIGHUP: a few quick attempts first.
    for (let attempt = 1; dynsec && !dynsecInSync && !stopping && attempt <= 10; attempt++) {
      try {
        await trySyncDynsec();
        logger.info({ url: redactUrl(opts.dynsecUrl!) }, "connected to the broker's dynamic-security API");
      } catch (error) {
        if (attempt === 10) logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'dynamic-security sync not possible yet; will retry');
        else await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    while (!stopping) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, opts.watchSeconds! * 1000).unref();
      });
      if (stopping) break;
      try {
        await trySyncDynsec();
        if (await credentialsChangedSince(pool, last.snapshot)) {
          // New vehicles get their ACL before the password file lets them in.
          if (dynsec) await syncDynsec();
          last = await exportOnce();
        }
      } catch (error) {
        if (dynsec) dynsecInSync = false;
        logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'credentials sync failed; will retry');
      }
    }
    return 0;
  } finally {
    await dynsec?.close();
    await pool.end();
    await database.close();
  }
}

/** A URL for the logs: no user or password. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the broker';
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
