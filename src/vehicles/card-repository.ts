import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';

/**
 * A vehicle's card as the SIM business sees it (DESIGN 6, src/sims): which ICCID a vehicle carries, its
 * ICCID history, its verified user (`owner_subject_id`) and its automaker. Every function takes the caller's
 * client, so it joins the caller's transaction and its lock order (src/sims/README.md: the card row, then the
 * vehicle row). src/sims calls these; nothing here knows about `sims`.
 */

type Db = Pool | PoolClient;

const CardBindingRowSchema = z.object({ iccid: z.string(), vin: z.string(), owner_subject_id: z.string().nullable() });
/** The vehicle that carries a card, and that vehicle's verified user (it follows the vehicle, not the card). */
export interface CardBinding {
  vin: string;
  ownerSubjectId: string | null;
}

/** The vehicles carrying these ICCIDs (`vehicles.iccid`), by ICCID; an ICCID no vehicle carries is absent. */
export async function vehiclesByIccid(db: Db, iccids: readonly string[]): Promise<Map<string, CardBinding>> {
  if (iccids.length === 0) return new Map();
  const { rows } = await db.query('SELECT iccid, vin, owner_subject_id FROM vehicles WHERE iccid = ANY($1::text[])', [iccids]);
  return new Map(parseRows(CardBindingRowSchema, rows, 'vehicles by ICCID').map((r) => [r.iccid, { vin: r.vin, ownerSubjectId: r.owner_subject_id }]));
}

/** The vehicle carrying one ICCID, or null. */
export async function vehicleOfIccid(db: Db, iccid: string): Promise<CardBinding | null> {
  return (await vehiclesByIccid(db, [iccid])).get(iccid) ?? null;
}

const IccidRowSchema = z.object({ iccid: z.string() });

/** The ICCID a vehicle carries, or null for an unknown VIN. */
export async function cardOfVehicle(db: Db, vin: string): Promise<string | null> {
  const { rows } = await db.query('SELECT iccid FROM vehicles WHERE vin = $1', [vin]);
  return parseFirstRow(IccidRowSchema, rows, 'card of a vehicle')?.iccid ?? null;
}

/** Locks the vehicle row for a change of its binding (`FOR UPDATE`: the ICCID, a key, changes); its ICCID, or null. */
export async function lockVehicleForRebinding(client: PoolClient, vin: string): Promise<string | null> {
  const { rows } = await client.query('SELECT iccid FROM vehicles WHERE vin = $1 FOR UPDATE', [vin]);
  return parseFirstRow(IccidRowSchema, rows, 'vehicle locked for a SIM swap')?.iccid ?? null;
}

/**
 * Locks the vehicle row (`FOR NO KEY UPDATE`, the lock ingest takes before control states) and returns its
 * verified user; null for an unknown VIN.
 */
export async function lockVehicle(client: PoolClient, vin: string): Promise<{ ownerSubjectId: string | null } | null> {
  const { rows } = await client.query('SELECT owner_subject_id FROM vehicles WHERE vin = $1 FOR NO KEY UPDATE', [vin]);
  const row = parseFirstRow(z.object({ owner_subject_id: z.string().nullable() }), rows, 'vehicle locked');
  return row && { ownerSubjectId: row.owner_subject_id };
}

/** The vehicle user of a car (DESIGN 6): kept on the vehicle, so a SIM swap keeps it. */
export async function setVehicleOwner(client: PoolClient, vin: string, subjectId: string | null): Promise<void> {
  await client.query('UPDATE vehicles SET owner_subject_id = $2 WHERE vin = $1', [vin, subjectId]);
}

/** Clears the vehicle's user if it is one of `subjectIds` (a user registered through a card whose sale was refunded). */
export async function clearVehicleOwnerAmong(client: PoolClient, vin: string, subjectIds: readonly string[]): Promise<void> {
  if (subjectIds.length === 0) return;
  await client.query('UPDATE vehicles SET owner_subject_id = NULL WHERE vin = $1 AND owner_subject_id = ANY($2::bigint[])', [vin, subjectIds]);
}

const AutomakerRowSchema = z.object({ automaker: z.string(), created_at: z.date() });

/** The automaker of a vehicle and when it was registered (its card bound at production), or null. */
export async function automakerOf(db: Db, vin: string): Promise<{ automaker: string; createdAt: Date } | null> {
  const { rows } = await db.query('SELECT automaker, created_at FROM vehicles WHERE vin = $1', [vin]);
  const row = parseFirstRow(AutomakerRowSchema, rows, 'automaker of a vehicle');
  return row && { automaker: row.automaker, createdAt: row.created_at };
}

/**
 * SIM swap, the vehicle's part (the caller holds the ICCID lock and the vehicle row): the vehicle carries
 * `iccid` from `at`; its open binding in `vehicle_iccid_history` closes and a new one opens, in that order.
 */
export async function rebindVehicleCard(client: PoolClient, input: { vin: string; iccid: string; at: Date; actor: string; reason: string }): Promise<void> {
  await client.query('UPDATE vehicles SET iccid = $2 WHERE vin = $1', [input.vin, input.iccid]);
  await client.query('UPDATE vehicle_iccid_history SET valid_to = $2, unbound_by = $3 WHERE vin = $1 AND valid_to IS NULL', [input.vin, input.at, input.actor]);
  await client.query('INSERT INTO vehicle_iccid_history (vin, iccid, valid_from, valid_to, bound_by, bound_at, reason) VALUES ($1, $2, $3, NULL, $4, $3, $5)', [
    input.vin,
    input.iccid,
    input.at,
    input.actor,
    input.reason.slice(0, 500),
  ]);
}
