import { withTransaction, type PoolClient } from '../shared/db/pool.js';
import { notFound } from '../shared/errors.js';
import { maskPhone } from '../shared/pii.js';
import { formatInstant } from '../shared/time.js';
import { vehiclesByIccid } from '../vehicles/card-repository.js';
import { lockIccids } from '../vehicles/iccid-lock.js';
import type { Caller } from './caller.js';
import type { SimDeps } from './deps.js';
import { validateImportRows, type ImportRow } from './import-rows.js';
import type { RowProblem, SimListItem } from './schemas.js';
import type { SimState } from './state-machine.js';

/**
 * Inventory import (DESIGN 6): every bad row is reported; a file with a bad row imports nothing, unless the
 * merchant explicitly asks for the good rows (`?partial=true`). A card that is already on the platform is a
 * bad row too, with one generic problem (`SIM_UNAVAILABLE`, "is already on the platform") whoever holds it
 * — another merchant, this merchant, or a vehicle — so an import never tells one tenant what another has.
 *
 * A card bound to a vehicle (vehicles.iccid) is the platform's: only the admin assigns it to a merchant, by
 * importing it into that merchant's inventory; a merchant's own import of it is refused (src/sims/README.md).
 * The check and the insert run in one transaction under the ICCID lock that vehicle registration and the
 * SIM swap take too (src/vehicles/iccid-lock.ts), so a concurrent import or registration cannot slip in.
 */

export const UNAVAILABLE_REASON = 'is already on the platform';

export interface ImportOutcome {
  imported: number;
  rejected: RowProblem[];
}

class ImportAborted extends Error {
  constructor(readonly problems: RowProblem[]) {
    super('import aborted');
  }
}

export function createInventory(deps: SimDeps) {
  const unavailable = (row: ImportRow, field: 'iccid' | 'imsi' | 'msisdn'): RowProblem => ({ index: row.index, field: `sims.${row.index}.${field}`, reason: UNAVAILABLE_REASON, code: 'SIM_UNAVAILABLE' });

  /** Rows whose card is already on the platform: an ICCID, IMSI or MSISDN of any merchant's card, or (unless the admin assigns it) a vehicle's ICCID. */
  async function clashes(client: PoolClient, rows: readonly ImportRow[], vehicleCardsAllowed: boolean): Promise<RowProblem[]> {
    if (rows.length === 0) return [];
    const hashes = rows.map((r) => deps.vault.lookupHashes(r.msisdn));
    const { rows: found } = await client.query<{ iccid: string; imsi: string; msisdn_hash: Buffer }>(
      'SELECT iccid, imsi, msisdn_hash FROM sims WHERE iccid = ANY($1::text[]) OR imsi = ANY($2::text[]) OR msisdn_hash = ANY($3::bytea[])',
      [rows.map((r) => r.iccid), rows.map((r) => r.imsi), hashes.flat()],
    );
    const bound = vehicleCardsAllowed ? [] : [...(await vehiclesByIccid(client, rows.map((r) => r.iccid))).keys()];
    const iccids = new Set([...found.map((f) => f.iccid), ...bound]);
    const imsis = new Set(found.map((f) => f.imsi));
    const msisdns = new Set(found.map((f) => f.msisdn_hash.toString('hex')));
    const problems: RowProblem[] = [];
    rows.forEach((row, i) => {
      if (iccids.has(row.iccid)) problems.push(unavailable(row, 'iccid'));
      else if (imsis.has(row.imsi)) problems.push(unavailable(row, 'imsi'));
      else if (hashes[i]!.some((h) => msisdns.has(h.toString('hex')))) problems.push(unavailable(row, 'msisdn'));
    });
    return problems;
  }

  return {
    /** `assignedBy` admin: the platform itself imports, and may assign vehicle cards (DESIGN 6); a merchant key may not. */
    async import(merchantId: string, caller: Caller, rows: readonly unknown[], partial: boolean): Promise<ImportOutcome & { ok: boolean }> {
      if (!(await deps.merchants.find(merchantId))) throw notFound(`merchant ${merchantId}`);
      const { valid, problems } = validateImportRows(rows);
      const sorted = () => problems.sort((a, b) => a.index - b.index || a.field.localeCompare(b.field));
      if (valid.length === 0 || (problems.length > 0 && !partial)) {
        // Nothing will be imported: still report which rows would clash, so a file is fixed in one round trip.
        if (valid.length > 0) problems.push(...(await withTransaction(deps.pool, (client) => clashes(client, valid, caller.merchantId === null))));
        return { ok: false, imported: 0, rejected: sorted() };
      }
      const at = new Date(deps.clock.now());
      const result = await withTransaction(deps.pool, async (client) => {
        await lockIccids(client, valid.map((r) => r.iccid));
        const clashing = await clashes(client, valid, caller.merchantId === null);
        const bad = new Set(clashing.map((p) => p.index));
        const good = valid.filter((r) => !bad.has(r.index));
        if ((clashing.length > 0 && !partial) || good.length === 0) return { imported: 0, problems: clashing };
        const { rows: inserted } = await client.query<{ iccid: string }>(
          `INSERT INTO sims (iccid, merchant_id, imsi, msisdn_enc, msisdn_hash, state, state_changed_at, imported_at)
           SELECT u.iccid, $1, u.imsi, u.msisdn_enc, u.msisdn_hash, 'inventory', $5, $5
             FROM unnest($2::text[], $3::text[], $4::text[], $6::bytea[]) AS u(iccid, imsi, msisdn_enc, msisdn_hash)
           ON CONFLICT DO NOTHING RETURNING iccid`,
          [merchantId, good.map((r) => r.iccid), good.map((r) => r.imsi), good.map((r) => deps.vault.encrypt(r.msisdn, 'phone')), at, good.map((r) => deps.vault.lookupHash(r.msisdn))],
        );
        const done = new Set(inserted.map((r) => r.iccid));
        // A concurrent import took the IMSI or MSISDN of some of these cards between the check and the insert.
        const lost = good.filter((r) => !done.has(r.iccid)).map((r) => unavailable(r, 'iccid'));
        if (lost.length > 0 && !partial) throw new ImportAborted([...clashing, ...lost]);
        const assigned = await vehiclesByIccid(client, [...done]);
        const vinOf = new Map([...assigned].map(([iccid, vehicle]) => [iccid, vehicle.vin]));
        await client.query(
          `INSERT INTO sim_events (iccid, event, from_state, to_state, actor, reason, at)
           SELECT u.iccid, 'import', NULL, 'inventory', $2, u.reason, $3 FROM unnest($1::text[], $4::text[]) AS u(iccid, reason)`,
          [[...done], caller.actor, at, [...done].map((iccid) => (vinOf.has(iccid) ? `vehicle card of ${vinOf.get(iccid)} assigned to the merchant by the admin` : 'imported into inventory'))],
        );
        return { imported: done.size, problems: [...clashing, ...lost] };
      }).catch((error: unknown) => {
        if (error instanceof ImportAborted) return { imported: 0, problems: error.problems };
        throw error;
      });
      problems.push(...result.problems);
      return { ok: result.imported > 0, imported: result.imported, rejected: sorted() };
    },

    async list(merchantId: string, filter: { state?: SimState | undefined; limit: number; cursor?: string | undefined }): Promise<{ sims: SimListItem[]; nextCursor: string | null }> {
      const tz = deps.runtime().timezone;
      const { rows } = await deps.pool.query<{ iccid: string; state: SimState; imsi: string; msisdn_enc: string; service_until: Date | null; activated_at: Date | null }>(
        `SELECT iccid, state, imsi, msisdn_enc, service_until, activated_at FROM sims
          WHERE merchant_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR iccid > $3)
          ORDER BY iccid LIMIT $4`,
        [merchantId, filter.state ?? null, filter.cursor ?? null, filter.limit + 1],
      );
      const page = rows.slice(0, filter.limit);
      const vehicles = await vehiclesByIccid(deps.pool, page.map((r) => r.iccid));
      return {
        sims: page.map((r) => ({
          iccid: r.iccid,
          state: r.state,
          vin: vehicles.get(r.iccid)?.vin ?? null,
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
