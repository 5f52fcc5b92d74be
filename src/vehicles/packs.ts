import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { OutboxPublisher } from '../controls/outbox-publisher.js';
import { reevaluateFunding } from '../controls/funding.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import { conflict, invalid, notFound } from '../shared/errors.js';
import { BYTES_PER_MIB } from '../shared/money.js';
import type { PackInstanceView } from './schemas.js';


const DAY_MS = 86_400_000;

/** A row of `pack_instances` (`SELECT *`), parsed at the edge. */
const PackInstanceRowSchema = z.object({
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
type PackInstanceRow = z.output<typeof PackInstanceRowSchema>;

function toView(row: PackInstanceRow): PackInstanceView {
  return {
    id: row.id,
    vin: row.vin,
    pack: row.pack_id,
    purchasedAt: row.purchased_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    // ≤ 2^53: pack sizes are MiB counts from the catalog
    sizeBytes: Number(row.size_bytes),
    balanceBytes: Number(row.balance_bytes),
    externalOrderId: row.external_order_id ?? null,
  };
}

/**
 * An owner's pack purchase (DESIGN 5): idempotent per (vin, externalOrderId); a repeat returns the same
 * instance, a different body is 409. `expiresAt = purchasedAt + validDays × 86,400 s`. Funding controls
 * are re-evaluated in the same transaction (DESIGN 3.3: "when a pack is bought").
 */
export function createPackService(deps: { pool: Pool; runtime: () => CatalogRuntime; clock: Clock; outbox: OutboxPublisher }) {
  return {
    async buy(vin: string, input: { pack: string; purchasedAt?: Date | undefined; externalOrderId?: string | undefined }): Promise<{ instance: PackInstanceView; created: boolean }> {
      const runtime = deps.runtime();
      const product = runtime.catalog.packs.find((p) => p.id === input.pack);
      if (!product) throw invalid('pack', `'${input.pack}' is not a pack of the catalog`);
      const nowMs = deps.clock.now();
      const purchasedAtMs = input.purchasedAt?.getTime() ?? nowMs;
      const digest = createHash('sha256')
        .update(JSON.stringify({ pack: input.pack, purchasedAt: input.purchasedAt?.getTime() ?? null }))
        .digest('hex');
      const result = await withTransaction(deps.pool, async (client) => {
        const vehicle = await client.query('SELECT vin FROM vehicles WHERE vin = $1 FOR NO KEY UPDATE', [vin]);
        if (vehicle.rowCount === 0) throw notFound(`vehicle ${vin}`);
        if (input.externalOrderId !== undefined) {
          const { rows: found } = await client.query('SELECT * FROM pack_instances WHERE vin = $1 AND external_order_id = $2', [vin, input.externalOrderId]);
          const existing = parseFirstRow(PackInstanceRowSchema, found, 'pack instance');
          if (existing) {
            if (existing.request_digest !== digest) throw conflict('IDEMPOTENCY_CONFLICT', `order ${input.externalOrderId} was already used with a different request`);
            return { instance: toView(existing), created: false, outbox: [] };
          }
        }
        const size = BigInt(product.sizeMiB) * BYTES_PER_MIB;
        const { rows } = await client.query(
          `INSERT INTO pack_instances (vin, pack_id, purchased_at, expires_at, size_bytes, balance_bytes, external_order_id, request_digest, created_at)
           VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) RETURNING *`,
          [vin, product.id, new Date(purchasedAtMs), new Date(purchasedAtMs + product.validDays * DAY_MS), size.toString(), input.externalOrderId ?? null, digest, new Date(nowMs)],
        );
        const outbox = await reevaluateFunding(client, runtime, [vin], nowMs);
        const inserted = parseFirstRow(PackInstanceRowSchema, rows, 'new pack instance');
        if (!inserted) throw new Error(`pack ${product.id} for ${vin}: INSERT … RETURNING returned no row`);
        return { instance: toView(inserted), created: true, outbox };
      });
      await deps.outbox.send(result.outbox);
      return { instance: result.instance, created: result.created };
    },

    async list(client: Pool | PoolClient, vin: string): Promise<PackInstanceView[]> {
      const { rows } = await client.query('SELECT * FROM pack_instances WHERE vin = $1 ORDER BY id', [vin]);
      return parseRows(PackInstanceRowSchema, rows, 'pack instances').map(toView);
    },
  };
}

export type PackService = ReturnType<typeof createPackService>;
