import type { Catalog } from '../catalog/index.js';
import { canonicalRate } from '../einvoice/compose.js';
import type { EinvoiceService, InvoiceRow } from '../einvoice/service.js';
import type { MaskedSubject } from '../realname/schemas.js';
import type { SubjectStore } from '../realname/subjects.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { maskIdNumber, maskName, maskPhone, type PiiVault } from '../shared/pii.js';
import { formatInstant } from '../shared/time.js';
import { automakerOf } from '../vehicles/card-repository.js';
import type { OrderRow, SimEventRow, SimRow } from './repository.js';
import type { OrderView, SimEventView, SimView } from './schemas.js';

/**
 * Response shapes (DESIGN 6). Personal data is always masked here (`1101**********123X`, `张*三`,
 * `138****0000`); the only way to plaintext is the audited reveal endpoint.
 */

type Db = Pool | PoolClient;

export function createViews(deps: { vault: PiiVault; subjects: SubjectStore; einvoices: EinvoiceService; catalog: () => Catalog; timeZone: () => string }) {
  const instant = (date: Date) => formatInstant(date.getTime(), deps.timeZone());
  const at = (date: Date | null) => (date ? instant(date) : null);

  /** A vehicle card's responsible subject: its automaker, verified when the VIN was bound (DESIGN 6). */
  function automakerSubject(db: Db, vin: string): Promise<MaskedSubject> {
    return automakerOf(db, vin).then((vehicle) => {
      const sponsor = deps.catalog().sponsors.find((s) => s.id === vehicle?.automaker);
      return {
        status: 'verified',
        type: 'enterprise',
        name: maskName(sponsor?.name ?? vehicle?.automaker ?? ''),
        idNumber: sponsor?.taxId ? maskIdNumber(sponsor.taxId) : null,
        verifiedAt: vehicle?.createdAt.toISOString() ?? null,
      };
    });
  }

  async function subjectFor(db: Db, sim: SimRow, role: 'holder' | 'owner'): Promise<MaskedSubject> {
    const linked = role === 'holder' ? sim.holder_subject_id : sim.owner_subject_id;
    if (linked) return deps.subjects.masked(await deps.subjects.find(db, linked));
    return deps.subjects.masked(await deps.subjects.latest(db, sim.iccid, role));
  }

  return {
    async sim(db: Db, sim: SimRow): Promise<SimView> {
      return {
        iccid: sim.iccid,
        merchant: sim.merchant_id,
        state: sim.state,
        vin: sim.vin,
        serviceUntil: at(sim.service_until),
        activatedAt: at(sim.activated_at),
        imsi: sim.imsi,
        msisdn: maskPhone(deps.vault.decrypt(sim.msisdn_enc, 'phone')),
        realName: sim.vin ? await automakerSubject(db, sim.vin) : await subjectFor(db, sim, 'holder'),
        ...(sim.vin ? { owner: await subjectFor(db, sim, 'owner') } : {}),
      };
    },

    order(order: OrderRow, invoices: readonly InvoiceRow[]): OrderView {
      return {
        id: order.id,
        merchant: order.merchant_id,
        externalOrderId: order.external_order_id,
        kind: order.kind,
        iccid: order.iccid,
        plan: order.plan_id,
        termMonths: order.term_months,
        pack: order.pack_id,
        monthlyPack: order.monthly_pack_id,
        currency: order.currency,
        retail: order.retail,
        wholesale: order.wholesale,
        taxRate: canonicalRate(order.tax_rate),
        buyer: { name: maskName(deps.vault.decrypt(order.buyer_name_enc, 'name')), phone: maskPhone(deps.vault.decrypt(order.buyer_phone_enc, 'phone')) },
        status: order.status,
        createdAt: instant(order.created_at),
        refundedAt: at(order.refunded_at),
        einvoices: invoices.map((i) => ({ id: i.id, kind: i.kind, status: i.status, number: i.number, total: i.total })),
      };
    },

    event(e: SimEventRow): SimEventView {
      return { id: e.id, event: e.event, from: e.from_state, to: e.to_state, actor: e.actor, reason: e.reason, orderId: e.order_id, at: instant(e.at) };
    },
  };
}

export type Views = ReturnType<typeof createViews>;
