import { withTransaction } from '../shared/db/pool.js';
import { notFound } from '../shared/errors.js';
import { maskPhone } from '../shared/pii.js';
import { formatInstant } from '../shared/time.js';
import type { SimDeps } from './context.js';
import { validateImportRows, type ImportRow, type RowProblem } from './import-rows.js';
import type { SimState } from './state-machine.js';

/**
 * Inventory import (DESIGN 6): every bad row is reported; a file with a bad row imports nothing, unless the
 * merchant explicitly asks for the good rows (`?partial=true`). Clashes with cards already on the platform
 * (any merchant: an ICCID, IMSI or MSISDN is one physical card) are bad rows too. One transaction.
 */

export interface ImportOutcome {
  imported: number;
  rejected: RowProblem[];
}

export interface SimListItem {
  iccid: string;
  state: SimState;
  vin: string | null;
  imsi: string;
  msisdn: string;
  serviceUntil: string | null;
  activatedAt: string | null;
}

export function createInventory(deps: SimDeps) {
  /** Rows whose ICCID, IMSI or MSISDN is already on the platform. */
  async function clashes(rows: readonly ImportRow[]): Promise<RowProblem[]> {
    if (rows.length === 0) return [];
    const hashes = rows.map((r) => deps.vault.lookupHashes(r.msisdn));
    const { rows: found } = await deps.pool.query<{ iccid: string; imsi: string; msisdn_hash: Buffer }>(
      'SELECT iccid, imsi, msisdn_hash FROM sims WHERE iccid = ANY($1::text[]) OR imsi = ANY($2::text[]) OR msisdn_hash = ANY($3::bytea[])',
      [rows.map((r) => r.iccid), rows.map((r) => r.imsi), hashes.flat()],
    );
    const iccids = new Set(found.map((f) => f.iccid));
    const imsis = new Set(found.map((f) => f.imsi));
    const msisdns = new Set(found.map((f) => f.msisdn_hash.toString('hex')));
    const problems: RowProblem[] = [];
    rows.forEach((row, i) => {
      if (iccids.has(row.iccid)) problems.push({ index: row.index, field: `sims.${row.index}.iccid`, reason: 'is already on the platform' });
      else if (imsis.has(row.imsi)) problems.push({ index: row.index, field: `sims.${row.index}.imsi`, reason: 'belongs to another card already on the platform' });
      else if (hashes[i]!.some((h) => msisdns.has(h.toString('hex')))) problems.push({ index: row.index, field: `sims.${row.index}.msisdn`, reason: 'belongs to another card already on the platform' });
    });
    return problems;
  }

  return {
    async import(merchantId: string, actor: string, rows: readonly unknown[], partial: boolean): Promise<ImportOutcome & { ok: boolean }> {
      if (!(await deps.merchants.find(merchantId))) throw notFound(`merchant ${merchantId}`);
      const { valid, problems } = validateImportRows(rows);
      problems.push(...(await clashes(valid)));
      const bad = new Set(problems.map((p) => p.index));
      const good = valid.filter((r) => !bad.has(r.index));
      const sorted = () => problems.sort((a, b) => a.index - b.index || a.field.localeCompare(b.field));
      if ((problems.length > 0 && !partial) || good.length === 0) return { ok: false, imported: 0, rejected: sorted() };
      const nowMs = deps.clock.now();
      const at = new Date(nowMs);
      const result = await withTransaction(deps.pool, async (client) => {
        const { rows: inserted } = await client.query<{ iccid: string }>(
          `INSERT INTO sims (iccid, merchant_id, imsi, msisdn_enc, msisdn_hash, state, state_changed_at, imported_at)
           SELECT u.iccid, $1, u.imsi, u.msisdn_enc, u.msisdn_hash, 'inventory', $5, $5
             FROM unnest($2::text[], $3::text[], $4::text[], $6::bytea[]) AS u(iccid, imsi, msisdn_enc, msisdn_hash)
           ON CONFLICT DO NOTHING RETURNING iccid`,
          [merchantId, good.map((r) => r.iccid), good.map((r) => r.imsi), good.map((r) => deps.vault.encrypt(r.msisdn, 'phone')), at, good.map((r) => deps.vault.lookupHash(r.msisdn))],
        );
        const done = new Set(inserted.map((r) => r.iccid));
        // A concurrent import took some of these cards between the check and the insert.
        const lost = good.filter((r) => !done.has(r.iccid)).map((r) => ({ index: r.index, field: `sims.${r.index}.iccid`, reason: 'is already on the platform' }));
        if (lost.length > 0 && !partial) throw Object.assign(new Error('import race'), { lost });
        await client.query(
          `INSERT INTO sim_events (iccid, event, from_state, to_state, actor, reason, at)
           SELECT iccid, 'import', NULL, 'inventory', $2, 'imported into inventory', $3 FROM unnest($1::text[]) AS u(iccid)`,
          [[...done], actor, at],
        );
        return { imported: done.size, lost };
      }).catch((error: unknown) => {
        const lost = (error as { lost?: RowProblem[] }).lost;
        if (lost) return { imported: 0, lost, aborted: true };
        throw error;
      });
      problems.push(...result.lost);
      const ok = !('aborted' in result) && result.imported > 0;
      return { ok, imported: ok ? result.imported : 0, rejected: sorted() };
    },

    async list(merchantId: string, filter: { state?: SimState | undefined; limit: number; cursor?: string | undefined }): Promise<{ sims: SimListItem[]; nextCursor: string | null }> {
      const tz = deps.runtime().timezone;
      const { rows } = await deps.pool.query<{ iccid: string; state: SimState; vin: string | null; imsi: string; msisdn_enc: string; service_until: Date | null; activated_at: Date | null }>(
        `SELECT s.iccid, s.state, v.vin, s.imsi, s.msisdn_enc, s.service_until, s.activated_at FROM sims s LEFT JOIN vehicles v ON v.iccid = s.iccid
          WHERE s.merchant_id = $1 AND ($2::text IS NULL OR s.state = $2) AND ($3::text IS NULL OR s.iccid > $3)
          ORDER BY s.iccid LIMIT $4`,
        [merchantId, filter.state ?? null, filter.cursor ?? null, filter.limit + 1],
      );
      const page = rows.slice(0, filter.limit);
      return {
        sims: page.map((r) => ({
          iccid: r.iccid,
          state: r.state,
          vin: r.vin,
          imsi: r.imsi,
          msisdn: maskPhone(deps.vault.decrypt(r.msisdn_enc, 'phone')),
          serviceUntil: r.service_until ? formatInstant(r.service_until.getTime(), tz) : null,
          activatedAt: r.activated_at ? formatInstant(r.activated_at.getTime(), tz) : null,
        })),
        nextCursor: rows.length > filter.limit ? page[page.length - 1]!.iccid : null,
      };
    },
  };
}

export type Inventory = ReturnType<typeof createInventory>;
