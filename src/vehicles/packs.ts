import { createHash } from 'node:crypto';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { conflict, invalid, notFound } from '../shared/errors.js';
import { BYTES_PER_MIB } from '../shared/money.js';
import { lockVehicle } from './fleet-repository.js';
import { findPackByOrder, insertPackInstance, listPackInstances, type PackInstanceRow } from './packs-repository.js';
import type { PackInstanceView } from './schemas.js';

/**
 * What a purchase changes beyond the pack: the funding controls (src/controls), re-evaluated in the
 * purchase's transaction; the messages it returns are sent after the commit. Wired by src/service.ts.
 */
export interface FundingHook<Message> {
  reevaluate(client: PoolClient, runtime: CatalogRuntime, vins: readonly string[], nowMs: number): Promise<Message[]>;
  send(messages: readonly Message[]): Promise<void>;
}

const DAY_MS = 86_400_000;

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
export function createPackService<Message>(deps: { pool: Pool; runtime: () => CatalogRuntime; clock: Clock; funding: FundingHook<Message> }) {
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
        if (!(await lockVehicle(client, vin))) throw notFound(`vehicle ${vin}`);
        if (input.externalOrderId !== undefined) {
          const existing = await findPackByOrder(client, vin, input.externalOrderId);
          if (existing) {
            if (existing.request_digest !== digest) throw conflict('IDEMPOTENCY_CONFLICT', `order ${input.externalOrderId} was already used with a different request`);
            return { instance: toView(existing), created: false, messages: [] };
          }
        }
        const inserted = await insertPackInstance(client, {
          vin,
          packId: product.id,
          purchasedAt: new Date(purchasedAtMs),
          expiresAt: new Date(purchasedAtMs + product.validDays * DAY_MS),
          sizeBytes: BigInt(product.sizeMiB) * BYTES_PER_MIB,
          externalOrderId: input.externalOrderId ?? null,
          requestDigest: digest,
          createdAt: new Date(nowMs),
        });
        const messages = await deps.funding.reevaluate(client, runtime, [vin], nowMs);
        if (!inserted) throw new Error(`pack ${product.id} for ${vin}: INSERT … RETURNING returned no row`);
        return { instance: toView(inserted), created: true, messages };
      });
      await deps.funding.send(result.messages);
      return { instance: result.instance, created: result.created };
    },

    async list(client: Pool | PoolClient, vin: string): Promise<PackInstanceView[]> {
      return (await listPackInstances(client, vin)).map(toView);
    },
  };
}

export type PackService = ReturnType<typeof createPackService<unknown>>;

/** A pack row as the API shows it (`GET /v1/vehicles/{vin}`), for the operator console. */
export const packInstanceView = toView;
