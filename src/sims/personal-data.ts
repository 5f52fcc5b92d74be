import type { UnmaskedSubject } from '../realname/schemas.js';
import { withTransaction, type PoolClient } from '../shared/db/pool.js';
import { reencryptColumn } from '../shared/db/reencrypt.js';
import { notFound } from '../shared/errors.js';
import type { Caller } from './caller.js';
import type { SimDeps } from './deps.js';
import { orderFingerprint } from './orders.js';
import { reencryptSecrets } from '../webhooks/repository.js';
import { findSim } from './repository.js';
import type { AccessLogEntry, RevealedCard } from './schemas.js';

/**
 * Unmasked personal data (DESIGN 6): only through {@link reveal}, which writes an append-only audit row
 * (who, when, which card, which fields, why) in the same transaction that reads the data. And key rotation:
 * {@link reencryptAll} moves every ciphertext written with `PII_KEY_PREVIOUS` to `PII_KEY` and re-keys the
 * lookup hashes and order digests, so the previous key can then be retired.
 */

const BATCH = 500;

export function createPersonalData(deps: SimDeps) {
  let reencrypting: Promise<void> | null = null;
  async function subject(client: PoolClient, linked: string | null, iccid: string, role: 'holder' | 'owner'): Promise<UnmaskedSubject | null> {
    const row = linked ? await deps.subjects.find(client, linked) : await deps.subjects.latest(client, iccid, role);
    return row ? deps.subjects.unmasked(row) : null;
  }

  const api = {
    async reveal(caller: Caller, iccid: string, reason: string, requestId: string): Promise<RevealedCard> {
      return withTransaction(deps.pool, async (client) => {
        const sim = await findSim(client, iccid);
        if (!sim) throw notFound(`SIM ${iccid}`);
        const { rows: orders } = await client.query<{ external_order_id: string; buyer_name_enc: string; buyer_phone_enc: string }>(
          'SELECT external_order_id, buyer_name_enc, buyer_phone_enc FROM sim_orders WHERE iccid = $1 ORDER BY id',
          [iccid],
        );
        const revealed = {
          iccid,
          msisdn: deps.vault.decrypt(sim.msisdn_enc, 'phone'),
          holder: await subject(client, sim.holder_subject_id, iccid, 'holder'),
          owner: sim.vin ? await subject(client, sim.owner_subject_id, iccid, 'owner') : null,
          buyers: orders.map((o) => ({ externalOrderId: o.external_order_id, name: deps.vault.decrypt(o.buyer_name_enc, 'name'), phone: deps.vault.decrypt(o.buyer_phone_enc, 'phone') })),
        };
        const { rows } = await client.query<{ id: string }>('INSERT INTO pii_access_log (actor, iccid, fields, reason, request_id, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id', [
          caller.actor,
          iccid,
          ['msisdn', 'holder', 'owner', 'buyers'],
          reason,
          requestId,
          new Date(deps.clock.now()),
        ]);
        return { ...revealed, auditId: rows[0]!.id };
      });
    },

    async accessLog(filter: { iccid?: string | undefined; limit: number; cursor?: string | undefined }): Promise<{ entries: AccessLogEntry[]; nextCursor: string | null }> {
      const { rows } = await deps.pool.query<{ id: string; actor: string; iccid: string | null; fields: string[]; reason: string; request_id: string | null; at: Date }>(
        `SELECT * FROM pii_access_log WHERE ($1::text IS NULL OR iccid = $1) AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
        [filter.iccid ?? null, filter.cursor ?? null, filter.limit + 1],
      );
      const page = rows.slice(0, filter.limit);
      return {
        entries: page.map((r) => ({ id: r.id, actor: r.actor, iccid: r.iccid, fields: r.fields, reason: r.reason, requestId: r.request_id, at: r.at.toISOString() })),
        nextCursor: rows.length > filter.limit ? page[page.length - 1]!.id : null,
      };
    },

    /** Moves every personal-data ciphertext to the current key; returns how many values moved. Runs one at a time. */
    reencryptAll(): Promise<number> {
      const run = (reencrypting ?? Promise.resolve()).then(() => reencryptEverything());
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      reencrypting = settled;
      void settled.then(() => {
        if (reencrypting === settled) reencrypting = null;
      });
      return run;
    },
  };

  return api;

  async function reencryptEverything(): Promise<number> {
    let moved = 0;
    moved += await reencryptColumn(deps.pool, deps.vault, { table: 'sims', key: 'iccid', column: 'msisdn_enc', purpose: 'phone', rehash: 'msisdn_hash' });
    moved += await deps.subjects.reencrypt(deps.pool);
    moved += await deps.einvoices.reencrypt();
    moved += await reencryptSecrets(deps.pool, deps.vault);
    // Orders: both buyer fields and the idempotency digest, which is keyed too.
    for (;;) {
      const batch = await withTransaction(deps.pool, async (client) => {
        const { rows } = await client.query<{ id: string; kind: 'sale' | 'recharge'; iccid: string; plan_id: string; buyer_name_enc: string; buyer_phone_enc: string }>(
          `SELECT id, kind, iccid, plan_id, buyer_name_enc, buyer_phone_enc FROM sim_orders WHERE buyer_name_enc NOT LIKE $1 OR buyer_phone_enc NOT LIKE $1 LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
          [`pii1.${deps.vault.keyId}.%`],
        );
        for (const row of rows) {
          const buyer = { name: deps.vault.decrypt(row.buyer_name_enc, 'name'), phone: deps.vault.decrypt(row.buyer_phone_enc, 'phone') };
          await client.query('UPDATE sim_orders SET buyer_name_enc = $2, buyer_phone_enc = $3, request_digest = $4 WHERE id = $1', [
            row.id,
            deps.vault.encrypt(buyer.name, 'name'),
            deps.vault.encrypt(buyer.phone, 'phone'),
            deps.vault.digest(orderFingerprint(row.kind, row.iccid, row.plan_id, buyer)),
          ]);
        }
        return rows.length;
      });
      moved += batch;
      if (batch < BATCH) break;
    }
    if (moved > 0) deps.logger.info({ moved, keyId: deps.vault.keyId }, 'personal data re-encrypted with the current key');
    return moved;
  }
}

export type PersonalData = ReturnType<typeof createPersonalData>;
