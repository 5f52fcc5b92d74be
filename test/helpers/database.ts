import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { clusterAdminUrl } from '../setup/cluster.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A fresh, migrated database for one test (a clone of `billing_template`), dropped at teardown. */
export async function createTestDatabase(t: Teardown): Promise<string> {
  const adminUrl = await clusterAdminUrl();
  const name = `t_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE billing_template`);
  t.teardown(() => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
