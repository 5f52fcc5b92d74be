import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { isUniqueViolation, pgErrorField, withTransaction } from '../shared/db/pool.js';
import { parseFirstRow } from '../shared/db/rows.js';
import { conflict } from '../shared/errors.js';
import type { StoredSecret } from './device-secret.js';
import { lockIccids } from './iccid-lock.js';

/** The DESIGN 3.0 hash, and the external brokers' one (12-byte salt, same iterations). */
export interface SecretHashes {
  stored: StoredSecret;
  broker: StoredSecret;
}

const columns = 'vin, iccid, automaker, model, activated_at, created_at';
/** A row of `columns`, parsed at the edge into the repository's shape. */
const VehicleRowSchema = z
  .object({ vin: z.string(), iccid: z.string(), automaker: z.string(), model: z.string(), activated_at: z.date().nullable(), created_at: z.date() })
  .transform(({ activated_at, created_at, ...row }) => ({ ...row, activatedAt: activated_at, createdAt: created_at }));
export type VehicleRow = z.output<typeof VehicleRowSchema>;
const SecretRowSchema = z
  .object({ secret_iterations: z.number().int(), secret_salt: z.instanceof(Buffer), secret_hash: z.instanceof(Buffer) })
  .transform((row): StoredSecret => ({ iterations: row.secret_iterations, salt: row.secret_salt, hash: row.secret_hash }));

function oneVehicle(rows: readonly unknown[], query: string): VehicleRow | null {
  return parseFirstRow(VehicleRowSchema, rows, query);
}

export interface VehicleRepositoryOptions {
  /**
   * Is the ICCID held by a merchant (a card of src/sims)? Asked under the ICCID lock, in the registration's
   * transaction; the composition root wires it, so this folder knows nothing of `sims`.
   */
  cardHeld(client: PoolClient, iccid: string): Promise<boolean>;
}

export function createVehicleRepository(pool: Pool, options: VehicleRepositoryOptions) {
  return {
    /**
     * Registration binds the card at production (DESIGN 6): an ICCID already bound to a vehicle, or already
     * held by a merchant, is refused (409 DUPLICATE_ICCID) — a card reaches a merchant after its vehicle, by
     * the admin, never before (src/sims/README.md). Checked under the ICCID lock (./iccid-lock.ts), so a
     * concurrent import cannot slip in; the binding opens the vehicle's ICCID history.
     */
    async insert(vehicle: Omit<VehicleRow, 'createdAt'>, secret: SecretHashes, now: Date): Promise<VehicleRow> {
      try {
        return await withTransaction(pool, async (client) => {
          await lockIccids(client, [vehicle.iccid]);
          if (await options.cardHeld(client, vehicle.iccid)) throw conflict('DUPLICATE_ICCID', `ICCID ${vehicle.iccid} is already on the platform as a merchant's card; a vehicle card is bound at production, before the admin assigns it to a merchant`);
          const { rows } = await client.query(
            `INSERT INTO vehicles (vin, iccid, automaker, model, activated_at, secret_iterations, secret_salt, secret_hash, broker_secret_salt, broker_secret_hash, secret_rotated_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING ${columns}`,
            [vehicle.vin, vehicle.iccid, vehicle.automaker, vehicle.model, vehicle.activatedAt, secret.stored.iterations, secret.stored.salt, secret.stored.hash, secret.broker.salt, secret.broker.hash, now],
          );
          await client.query(
            `INSERT INTO vehicle_iccid_history (vin, iccid, valid_from, valid_to, bound_by, bound_at, reason) VALUES ($1, $2, NULL, NULL, 'admin', $3, 'bound at production (registration)')`,
            [vehicle.vin, vehicle.iccid, now],
          );
          const inserted = oneVehicle(rows, 'new vehicle');
          if (!inserted) throw new Error(`vehicle ${vehicle.vin}: INSERT … RETURNING returned no row`);
          return inserted;
        });
      } catch (error) {
        if (isUniqueViolation(error)) {
          const constraint = pgErrorField(error, 'constraint') ?? '';
          throw constraint.includes('iccid')
            ? conflict('DUPLICATE_ICCID', `ICCID ${vehicle.iccid} is already bound to another vehicle`)
            : conflict('DUPLICATE_VIN', `vehicle ${vehicle.vin} is already registered`);
        }
        throw error;
      }
    },

    async find(vin: string): Promise<VehicleRow | null> {
      const { rows } = await pool.query(`SELECT ${columns} FROM vehicles WHERE vin = $1`, [vin]);
      return oneVehicle(rows, 'vehicle');
    },

    async findSecret(vin: string): Promise<StoredSecret | null> {
      const { rows } = await pool.query('SELECT secret_iterations, secret_salt, secret_hash FROM vehicles WHERE vin = $1', [vin]);
      return parseFirstRow(SecretRowSchema, rows, 'device secret');
    },

    async setActivatedAt(vin: string, activatedAt: Date): Promise<VehicleRow | null> {
      const { rows } = await pool.query(`UPDATE vehicles SET activated_at = $2 WHERE vin = $1 RETURNING ${columns}`, [vin, activatedAt]);
      return oneVehicle(rows, 'activated vehicle');
    },

    async replaceSecret(vin: string, secret: SecretHashes, now: Date): Promise<boolean> {
      const result = await pool.query(
        `UPDATE vehicles SET secret_iterations = $2, secret_salt = $3, secret_hash = $4, broker_secret_salt = $5, broker_secret_hash = $6, secret_rotated_at = $7
          WHERE vin = $1`,
        [vin, secret.stored.iterations, secret.stored.salt, secret.stored.hash, secret.broker.salt, secret.broker.hash, now],
      );
      return result.rowCount === 1;
    },
  };
}

export type VehicleRepository = ReturnType<typeof createVehicleRepository>;
