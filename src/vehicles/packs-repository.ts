import { z } from 'zod';
import type { PackInstance } from '../allocate/index.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';

/**
 * `pack_instances` (an owner's prepaid packs and their balances): the only module whose SQL names the
 * table. Ingest and the funding re-evaluation read and debit balances through it, inside their own
 * transaction and under the vehicle lock (src/vehicles/fleet-repository.ts); an owner's purchase
 * (./packs.ts) and the packs a SIM order grants (src/sims) are written here too.
 */

type Db = Pick<Pool | PoolClient, 'query'>;

/** A row of `pack_instances` (`SELECT *`), parsed at the edge. */
export const PackInstanceRowSchema = z.object({
  id: z.string(),
  vin: z.string(),
  pack_id: z.string(),
  purchased_at: z.date(),
  expires_at: z.date(),
  size_bytes: z.string(),
  balance_bytes: z.string(),
  external_order_id: z.string().nullable(),
  request_digest: z.string(),
});
export type PackInstanceRow = z.output<typeof PackInstanceRowSchema>;

/** Every pack with balance left, per vehicle, oldest first (the hot path: typed rows, not parsed). */
export async function loadPacks(client: PoolClient, vins: readonly string[]): Promise<Array<PackInstance & { vin: string }>> {
  const { rows } = await client.query<{ id: string; vin: string; pack_id: string; purchased_at: Date; expires_at: Date; balance_bytes: string }>(
    `SELECT id, vin, pack_id, purchased_at, expires_at, balance_bytes FROM pack_instances
      WHERE vin = ANY($1::text[]) AND balance_bytes > 0 ORDER BY id`,
    [vins],
  );
  return rows.map((row) => ({
    vin: row.vin,
    id: row.id,
    packId: row.pack_id,
    purchasedAtMs: row.purchased_at.getTime(),
    expiresAtMs: row.expires_at.getTime(),
    balanceBytes: BigInt(row.balance_bytes),
    createdSeq: Number(row.id),
  }));
}

/** Writes the packs' new absolute balances (read under the vehicle lock in this transaction). */
export function savePackBalances(client: PoolClient, packs: ReadonlyArray<{ id: string; balanceBytes: bigint }>): Promise<unknown> {
  return client.query(
    `UPDATE pack_instances p SET balance_bytes = u.balance
       FROM unnest($1::bigint[], $2::bigint[]) AS u(id, balance) WHERE p.id = u.id`,
    [packs.map((p) => p.id), packs.map((p) => p.balanceBytes.toString())],
  );
}

/** The instance an earlier purchase with this external order id created, if any. */
export async function findPackByOrder(client: Db, vin: string, externalOrderId: string): Promise<PackInstanceRow | null> {
  const { rows } = await client.query('SELECT * FROM pack_instances WHERE vin = $1 AND external_order_id = $2', [vin, externalOrderId]);
  return parseFirstRow(PackInstanceRowSchema, rows, 'pack instance by order');
}

export interface NewPackInstance {
  vin: string;
  packId: string;
  purchasedAt: Date;
  expiresAt: Date;
  sizeBytes: bigint;
  externalOrderId: string | null;
  requestDigest: string;
  createdAt: Date;
}

/** Inserts a purchased pack, full. */
export async function insertPackInstance(client: Db, pack: NewPackInstance): Promise<PackInstanceRow | null> {
  const { rows } = await client.query(
    `INSERT INTO pack_instances (vin, pack_id, purchased_at, expires_at, size_bytes, balance_bytes, external_order_id, request_digest, created_at)
     VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) RETURNING *`,
    [pack.vin, pack.packId, pack.purchasedAt, pack.expiresAt, pack.sizeBytes.toString(), pack.externalOrderId, pack.requestDigest, pack.createdAt],
  );
  return parseFirstRow(PackInstanceRowSchema, rows, 'new pack instance');
}

/** A vehicle's packs, oldest first. */
export async function listPackInstances(db: Db, vin: string): Promise<PackInstanceRow[]> {
  const { rows } = await db.query('SELECT * FROM pack_instances WHERE vin = $1 ORDER BY id', [vin]);
  return parseRows(PackInstanceRowSchema, rows, 'pack instances');
}

/** VINs with a pack that expired in (fromMs, toMs]. */
export async function vinsWithPacksExpiring(db: Db, fromMs: number, toMs: number): Promise<string[]> {
  const { rows } = await db.query<{ vin: string }>('SELECT DISTINCT vin FROM pack_instances WHERE expires_at > $1 AND expires_at <= $2', [new Date(fromMs), new Date(toMs)]);
  return rows.map((r) => r.vin);
}

/** Does any vehicle hold (or has held) a pack of this catalog product? */
export async function packProductReferenced(db: Db, packId: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM pack_instances WHERE pack_id = $1 LIMIT 1', [packId])).rows.length > 0;
}

/**
 * Packs granted to a vehicle by something else than an owner's purchase: the plan and monthly packs of a
 * SIM order (DESIGN 6, src/sims). In the caller's transaction; idempotent per (vin, externalOrderId) like
 * a purchase.
 */
export interface GrantedPack {
  vin: string;
  packId: string;
  purchasedAt: Date;
  expiresAt: Date;
  sizeBytes: bigint;
  /** unique per vehicle: a second grant under the same id is no grant */
  externalOrderId: string;
  /** what granted it (`sim-plan`, `sim-monthly`), in the purchase's digest column */
  grantedBy: string;
  createdAt: Date;
}

/** Inserts the pack instance; its id, or null when one with this externalOrderId already exists. */
export async function insertGrantedPack(client: PoolClient, g: GrantedPack): Promise<string | null> {
  const { rows } = await client.query(
    `INSERT INTO pack_instances (vin, pack_id, purchased_at, expires_at, size_bytes, balance_bytes, external_order_id, request_digest, created_at)
     VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) ON CONFLICT (vin, external_order_id) DO NOTHING RETURNING id`,
    [g.vin, g.packId, g.purchasedAt, g.expiresAt, g.sizeBytes.toString(), g.externalOrderId, g.grantedBy, g.createdAt],
  );
  return parseFirstRow(z.object({ id: z.string() }), rows, 'granted pack')?.id ?? null;
}

/** What is left of these pack instances expires at `at` (a refund takes its packs back). Returns the VINs touched. */
export async function expirePacks(client: PoolClient, ids: readonly string[], at: Date): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await client.query('UPDATE pack_instances SET expires_at = $2 WHERE id = ANY($1::bigint[]) AND expires_at > $2 RETURNING vin', [ids, at]);
  return [...new Set(parseRows(z.object({ vin: z.string() }), rows, 'expired packs').map((r) => r.vin))];
}
