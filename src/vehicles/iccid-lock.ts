import { createHash } from 'node:crypto';
import type { PoolClient } from '../shared/db/pool.js';

/**
 * One ICCID is one physical card: bound to at most one vehicle (vehicles.iccid, UNIQUE) and held by at most
 * one merchant (sims.iccid, the key), and a merchant may hold a vehicle's card only when the admin put it
 * there (DESIGN 6). The two tables cannot share a unique index, so every writer that binds or imports an
 * ICCID — vehicle registration, SIM swap, inventory import — takes this lock first, then checks both
 * tables and writes in the same transaction: check-and-insert under one lock, whatever the order.
 *
 * Transaction-scoped advisory locks in their own namespace (the two-key form), on a bucket of the ICCID
 * rather than the ICCID itself, so an import of 50,000 cards takes at most BUCKETS locks (PostgreSQL's
 * shared lock table holds max_locks_per_transaction × max_connections entries); buckets are taken in
 * ascending order, so two imports never deadlock.
 */

const NAMESPACE = 0x1cc1d; // "ICCID"
const BUCKETS = 256;

export function iccidBucket(iccid: string): number {
  return createHash('sha256').update(iccid).digest().readUInt32BE(0) % BUCKETS;
}

export async function lockIccids(client: PoolClient, iccids: readonly string[]): Promise<void> {
  const buckets = [...new Set(iccids.map(iccidBucket))].sort((a, b) => a - b);
  if (buckets.length === 0) return;
  // One round trip: unnest yields the sorted array in order, so the locks are taken in ascending order.
  await client.query('SELECT count(pg_advisory_xact_lock($1::int, b)) FROM unnest($2::int[]) AS b', [NAMESPACE, buckets]);
}
