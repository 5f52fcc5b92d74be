import pg from 'pg';

// int8 and numeric arrive as strings; repositories convert them to bigint / decimal strings at the edge.
// (pg's defaults already do this; stated here so nobody "fixes" it with parseFloat.)

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(connectionString: string, max = 10, options: { pipeline?: boolean } = {}): Pool {
  return new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000, ...options });
}

/** Is this a connection of a pipelined pool (statements sent without waiting for the previous answer)? */
export function isPipelined(db: Pool | PoolClient): boolean {
  return (db as { pipeline?: unknown }).pipeline === true;
}

/**
 * Runs the statements in order. On a pipelined connection they are all sent at once — one round trip —
 * and the first failure (in order) is thrown once every answer is in; elsewhere they run one after
 * another, as pg wants. Each step must send its one statement synchronously when called.
 */
export async function sendAll<T extends readonly unknown[]>(db: Pool | PoolClient, steps: { readonly [K in keyof T]: () => Promise<T[K]> }): Promise<T> {
  const list: ReadonlyArray<() => Promise<unknown>> = steps;
  if (!isPipelined(db)) {
    const results: unknown[] = [];
    for (const step of list) results.push(await step());
    return results as unknown as T;
  }
  return (await settleInOrder(list.map((step) => step()))) as unknown as T;
}

/** Waits for every promise; throws the first rejection in array order, else returns the values. */
export async function settleInOrder(sent: ReadonlyArray<Promise<unknown>>): Promise<unknown[]> {
  const settled = await Promise.allSettled(sent);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
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

export interface WriteTransaction {
  readonly client: PoolClient;
  /**
   * Sends the last statements and COMMIT together — one round trip on a pipelined connection — and
   * resolves with the statements' results once committed. Throws the first failure (nothing committed).
   */
  commitWith<T extends readonly unknown[]>(steps: { readonly [K in keyof T]: () => Promise<T[K]> }): Promise<T>;
}

/**
 * `withTransaction` for a hot writer on a pipelined pool: BEGIN goes out with the first statement and
 * COMMIT with the last ones (`commitWith`), so a transaction costs its data round trips and no more.
 * Works the same, one statement at a time, on an ordinary pool.
 */
export async function withWriteTransaction<T>(pool: Pool, fn: (tx: WriteTransaction) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  let committed = false;
  const tx: WriteTransaction = {
    client,
    async commitWith<R extends readonly unknown[]>(steps: { readonly [K in keyof R]: () => Promise<R[K]> }): Promise<R> {
      const list: ReadonlyArray<() => Promise<unknown>> = steps;
      const results = await sendAll(client, [...list, () => client.query('COMMIT')]);
      // COMMIT of a transaction that failed earlier answers ROLLBACK without an error.
      const commit = results[results.length - 1] as pg.QueryResult;
      if (commit.command !== 'COMMIT') throw new Error(`the transaction was rolled back (${commit.command})`);
      committed = true;
      return results.slice(0, -1) as unknown as R;
    },
  };
  try {
    const begin = client.query('BEGIN');
    if (isPipelined(client)) begin.catch(() => undefined); // the next statement fails the same way
    else await begin;
    const result = await fn(tx);
    if (!committed) await tx.commitWith([]);
    return result;
  } catch (error) {
    if (!committed) await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** A text field of a PostgreSQL error (`code` = SQLSTATE, `constraint`), or undefined for anything else thrown. */
export function pgErrorField(error: unknown, field: 'code' | 'constraint'): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value: unknown = Reflect.get(error, field);
  return typeof value === 'string' ? value : undefined;
}

/** Postgres unique_violation, to be turned into a domain duplicate error by the repository. */
export function isUniqueViolation(error: unknown): boolean {
  return pgErrorField(error, 'code') === '23505';
}

/** Does the database answer a trivial query? (false on any error: for health views, never thrown) */
export async function isReachable(db: Pick<Pool, 'query'>): Promise<boolean> {
  return db
    .query('SELECT 1')
    .then((r) => r.rowCount === 1)
    .catch(() => false);
}
