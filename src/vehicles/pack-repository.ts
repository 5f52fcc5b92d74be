import { z } from 'zod';
import type { PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';

/**
 * Packs granted to a vehicle by something else than an owner's purchase (./packs.ts): the plan and monthly
 * packs of a SIM order (DESIGN 6, src/sims). In the caller's transaction; idempotent per
 * (vin, externalOrderId) like a purchase.
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
