import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/shared/db/embedded.js';
import { PROJECT_ROOT, startNodeFlags } from '../src/shared/paths.js';

/**
 * The service under test: the built `dist/src/server.js` (what `npm start` runs) as its own process, on
 * free loopback ports and a database made for this run — a fresh embedded PostgreSQL in a temp DATA_DIR
 * (the service's dev mode), or, when DATABASE_URL is set, a scratch database created on that server and
 * dropped afterwards.
 */
export interface BenchService {
  pid: number;
  httpUrl: string;
  mqttUrl: string;
  /** the service's database (for the raw PostgreSQL phase and the final ledger check) */
  databaseUrl: string;
  adminToken: string;
  /** wall clock when the process was spawned: a CPU profile's time zero, within its bootstrap */
  spawnedAtMs: number;
  /** true when PostgreSQL runs as a child of the service (its CPU can be measured) */
  embeddedPostgres: boolean;
  output(): string;
  /**
   * Stops the process and starts a fresh one on the same ports and database (pid and spawnedAtMs change),
   * with `extraEnv` over the environment for this start only.
   */
  restart(extraEnv?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export interface BenchServiceOptions {
  env?: Record<string, string>;
  /** writes a V8 CPU profile of the service here (node --cpu-prof), on a clean exit */
  cpuProfileDir?: string;
  /** an external server (DATABASE_URL): a scratch database is created on it */
  externalDatabaseUrl?: string;
}

export async function startBenchService(options: BenchServiceOptions = {}): Promise<BenchService> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tbox-bench-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    MQTT_PORT: String(mqttPort),
    MQTT_HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  };
  let scratch: { adminUrl: string; name: string } | null = null;
  if (options.externalDatabaseUrl) {
    const name = `tbox_bench_${randomBytes(4).toString('hex')}`;
    await adminQuery(options.externalDatabaseUrl, `CREATE DATABASE ${name}`);
    scratch = { adminUrl: options.externalDatabaseUrl, name };
    const url = new URL(options.externalDatabaseUrl);
    url.pathname = `/${name}`;
    env.DATABASE_URL = url.toString();
    env.ADMIN_TOKEN = randomBytes(32).toString('base64url');
    env.PII_KEY = randomBytes(32).toString('base64');
    // Outside dev mode the broker needs TLS unless a TLS-terminating proxy is declared; the bench measures plaintext.
    env.MQTT_PLAINTEXT = 'behind-tls-proxy';
  }
  Object.assign(env, options.env);
  // Exactly `npm start`'s flags (package.json): a young generation sized for batches, a capped old generation.
  const args = startNodeFlags();
  if (options.cpuProfileDir) args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  args.push(path.join(PROJECT_ROOT, 'dist/src/server.js'));
  const httpUrl = `http://127.0.0.1:${port}`;
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };

  /** Spawns the service and waits until /ready answers 200. */
  const launch = async (extraEnv: Record<string, string> = {}) => {
    const spawnedAtMs = Date.now();
    const child: ChildProcess = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode} during startup:\n${output}`);
      if (Date.now() > deadline) throw new Error(`the service was not ready within 180 s:\n${output}`);
      if (await fetch(`${httpUrl}/ready`).then((r) => r.status === 200, () => false)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return { child, exited, spawnedAtMs };
  };
  /** SIGTERM (the service drains and stops its embedded PostgreSQL), SIGKILL after 60 s. */
  const terminate = async (running: { child: ChildProcess; exited: Promise<void> }) => {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGTERM');
    const killer = setTimeout(() => running.child.kill('SIGKILL'), 60_000);
    await running.exited;
    clearTimeout(killer);
  };
  let current = await launch();

  let databaseUrl = env.DATABASE_URL ?? '';
  if (!databaseUrl) {
    // Dev mode: the embedded server's port is line 4 of postmaster.pid; its password is kept in DATA_DIR.
    const pidFile = (await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n');
    const password = (await readFile(path.join(dataDir, 'pg-password'), 'utf8')).trim();
    databaseUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pidFile[3]!.trim()}/billing`;
  }
  const adminToken = env.ADMIN_TOKEN ?? (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();

  const service: BenchService = {
    pid: current.child.pid!,
    spawnedAtMs: current.spawnedAtMs,
    httpUrl,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    databaseUrl,
    adminToken,
    embeddedPostgres: !scratch,
    output: () => output,
    async restart(extraEnv) {
      await terminate(current);
      current = await launch(extraEnv);
      service.pid = current.child.pid!;
      service.spawnedAtMs = current.spawnedAtMs;
      if (!scratch) {
        // The embedded server picks a free port on each start.
        const pidFile = (await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n');
        const url = new URL(service.databaseUrl);
        url.port = pidFile[3]!.trim();
        service.databaseUrl = url.toString();
      }
    },
    async stop() {
      await terminate(current);
      // After a SIGKILL the embedded PostgreSQL (the service's child) would be left running: stop it by its pid.
      const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
      if (existsSync(pidFile)) {
        const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
        if (Number.isInteger(pid) && pid > 0) {
          try {
            process.kill(pid, 'SIGINT');
            for (let i = 0; i < 300 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
          } catch {
            // already gone
          }
        }
      }
      if (scratch) await adminQuery(scratch.adminUrl, `DROP DATABASE IF EXISTS ${scratch.name} WITH (FORCE)`).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return service;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * One scrape of the service's `GET /metrics`: a reader of each metric's (first) value, NaN when absent; null
 * when the service did not answer.
 */
export async function scrapeMetrics(httpUrl: string): Promise<((name: string) => number) | null> {
  try {
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    return (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  } catch {
    return null;
  }
}
