import type { Pool, PoolClient } from '../shared/db/pool.js';

/**
 * The fleet-wide reads and the ingest lock of `vehicles`, for the modules that work on many vehicles
 * (ingest and the funding re-evaluation, the rules publisher, the credentials export, the catalog's
 * compatibility check). One vehicle's reads and writes are the VehicleRepository's (./repository.ts).
 */

type Db = Pick<Pool | PoolClient, 'query'>;

export interface VehicleForIngest {
  vin: string;
  automaker: string;
  model: string;
  activatedAtMs: number | null;
}

/** Locks the vehicles' rows in VIN order (DESIGN 2: allocation is serial per vehicle; no deadlocks). */
export async function lockVehicles(client: PoolClient, vins: readonly string[]): Promise<Map<string, VehicleForIngest>> {
  const { rows } = await client.query<{ vin: string; automaker: string; model: string; activated_at: Date | null }>(
    'SELECT vin, automaker, model, activated_at FROM vehicles WHERE vin = ANY($1::text[]) ORDER BY vin FOR NO KEY UPDATE',
    [vins],
  );
  return new Map(rows.map((r) => [r.vin, { vin: r.vin, automaker: r.automaker, model: r.model, activatedAtMs: r.activated_at ? r.activated_at.getTime() : null }]));
}

/** Locks one vehicle's row as ingest does; false when there is no such vehicle. */
export async function lockVehicle(client: PoolClient, vin: string): Promise<boolean> {
  return ((await client.query('SELECT 1 FROM vehicles WHERE vin = $1 FOR NO KEY UPDATE', [vin])).rowCount ?? 0) > 0;
}

/** Up to `limit` VINs after `after`, in order (keyset pages over the fleet). */
export async function vinPage(db: Db, after: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ vin: string }>('SELECT vin FROM vehicles WHERE vin > $1 ORDER BY vin LIMIT $2', [after, limit]);
  return rows.map((r) => r.vin);
}

/** Is any vehicle registered under this automaker (a sponsor id of the catalog)? */
export async function automakerReferenced(db: Db, automaker: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM vehicles WHERE automaker = $1 LIMIT 1', [automaker])).rows.length > 0;
}

/** A vehicle's stored device secret as the credentials export writes it, with the time it last changed. */
export interface VehicleSecretRow {
  vin: string;
  secret_iterations: number;
  secret_salt: Buffer;
  secret_hash: Buffer;
  broker_secret_salt: Buffer | null;
  broker_secret_hash: Buffer | null;
  changed_at: Date;
}

/** Up to `limit` vehicles' stored secrets after `after`, in VIN order (the caller's snapshot transaction). */
export async function vehicleSecretPage(client: PoolClient, after: string, limit: number): Promise<VehicleSecretRow[]> {
  const { rows } = await client.query<VehicleSecretRow>(
    `SELECT vin, secret_iterations, secret_salt, secret_hash, broker_secret_salt, broker_secret_hash, greatest(created_at, secret_rotated_at) AS changed_at
       FROM vehicles WHERE vin > $1 ORDER BY vin LIMIT $2`,
    [after, limit],
  );
  return rows;
}

/** When a vehicle was last created or had its secret rotated (null: no vehicles). */
export async function latestSecretChange(db: Db): Promise<Date | null> {
  const { rows } = await db.query<{ watermark: Date | null }>('SELECT max(greatest(created_at, secret_rotated_at)) AS watermark FROM vehicles');
  return rows[0]?.watermark ?? null;
}

/** Vehicles created or rotated after `since`, with the time of that change. */
export async function secretChangesSince(db: Db, since: Date): Promise<Array<{ vin: string; changedAt: Date }>> {
  const { rows } = await db.query<{ vin: string; changed_at: Date }>(
    `SELECT vin, greatest(created_at, secret_rotated_at) AS changed_at FROM vehicles
      WHERE created_at > $1 OR secret_rotated_at > $1`,
    [since],
  );
  return rows.map((r) => ({ vin: r.vin, changedAt: r.changed_at }));
}

/** One vehicle's facts for the operator console (src/web): null for an unknown VIN. */
export interface VehicleFacts {
  vin: string;
  iccid: string;
  automaker: string;
  model: string;
  activatedAt: Date | null;
  createdAt: Date;
}

/** A vehicle by its VIN (primary key), for the console's vehicle page. */
export async function findVehicleFacts(db: Db, vin: string): Promise<VehicleFacts | null> {
  const { rows } = await db.query<{ vin: string; iccid: string; automaker: string; model: string; activated_at: Date | null; created_at: Date }>(
    'SELECT vin, iccid, automaker, model, activated_at, created_at FROM vehicles WHERE vin = $1',
    [vin],
  );
  const row = rows[0];
  return row ? { vin: row.vin, iccid: row.iccid, automaker: row.automaker, model: row.model, activatedAt: row.activated_at, createdAt: row.created_at } : null;
}

/**
 * Up to `limit` VINs that start with `prefix` (1–16 characters of the VIN alphabet, upper case), in order,
 * for the console's search: a range of the primary key, however large the fleet.
 */
export async function vinsWithPrefix(db: Db, prefix: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ vin: string }>(
    // The range bounds the index read; left() makes it exact in any collation.
    `SELECT vin FROM vehicles WHERE vin >= $1 AND vin <= $1 || 'ZZZZZZZZZZZZZZZZZ' AND left(vin, length($1)) = $1 ORDER BY vin LIMIT $2`,
    [prefix, limit],
  );
  return rows.map((r) => r.vin);
}
