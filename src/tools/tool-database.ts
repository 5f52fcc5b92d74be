import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { startEmbeddedPostgres } from '../shared/db/embedded.js';

export interface ToolDatabase {
  url: string;
  /** where the URL came from, for the log (never the URL: it holds a password) */
  source: 'DATABASE_URL' | 'running embedded PostgreSQL' | 'embedded PostgreSQL started by this tool';
  close(): Promise<void>;
}

/**
 * The database an operator tool reads: DATABASE_URL, else the embedded PostgreSQL under DATA_DIR. A
 * server already running there (the service in dev mode) is joined, never stopped — startEmbeddedPostgres
 * would take it for an orphan of a killed run and shut it down under the service. Otherwise the tool
 * starts the server and stops it when done. A DATA_DIR without a database is an error, not a new cluster.
 */
export async function openToolDatabase(env: { DATABASE_URL?: string | undefined; DATA_DIR: string }, logger: Logger): Promise<ToolDatabase> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL', close: async () => undefined };
  const root = path.resolve(env.DATA_DIR);
  const databaseDir = path.join(root, 'pg');
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    throw new Error(`no database: set DATABASE_URL, or start the service once (npm start) so that ${databaseDir} exists`);
  }
  const running = await runningPostmasterPort(databaseDir);
  if (running !== null) {
    const password = (await readFile(path.join(root, 'pg-password'), 'utf8')).trim();
    return {
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${running}/billing`,
      source: 'running embedded PostgreSQL',
      close: async () => undefined,
    };
  }
  const embedded = await startEmbeddedPostgres(env.DATA_DIR, logger);
  return { url: embedded.url, source: 'embedded PostgreSQL started by this tool', close: () => embedded.stop() };
}

/** postmaster.pid: line 1 the pid, line 4 the port (PostgreSQL's documented layout). Null when no live server. */
async function runningPostmasterPort(databaseDir: string): Promise<number | null> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return null;
  }
}
