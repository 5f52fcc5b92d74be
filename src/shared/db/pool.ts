import pg from 'pg';

// int8 and numeric arrive as strings; repositories convert them to bigint / decimal strings at the edge.
// (pg's defaults already do this; stated here so nobody "fixes" it with parseFloat.)

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(connectionString: string, max = 10): Pool {
  return new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
}

/** Runs fn inside one transaction; rolls back on any error. The one way the service opens a transaction. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no 'error' listener (pg-pool removes its own), and pg emits 'error' when the
  // server goes away mid-transaction: unhandled, that would kill the process. The failing query rejects
  // anyway; the client is released as broken so the pool never reuses it.
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Postgres unique_violation, to be turned into a domain duplicate error by the repository. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}
