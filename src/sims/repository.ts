import type { Pool, PoolClient } from '../shared/db/pool.js';
import { vehicleOfIccid } from '../vehicles/card-repository.js';
import { enqueueEvent } from '../webhooks/repository.js';
import type { SimEvent, SimState } from './state-machine.js';

/** SQL for cards, their audit trail and their orders. Rows keep pg's shapes; services convert at the edge. */

type Db = Pool | PoolClient;

export interface SimRow {
  iccid: string;
  merchant_id: string;
  imsi: string;
  msisdn_enc: string;
  state: SimState;
  state_changed_at: Date;
  activated_at: Date | null;
  service_until: Date | null;
  holder_subject_id: string | null;
  imported_at: Date;
  /** the VIN whose vehicle carries this card (vehicles.iccid, read from src/vehicles) */
  vin: string | null;
  /** that vehicle's verified user (vehicles.owner_subject_id, DESIGN 6): it follows the vehicle, not the card */
  owner_subject_id: string | null;
}

export interface OrderRow {
  id: string;
  merchant_id: string;
  external_order_id: string;
  kind: 'sale' | 'recharge';
  iccid: string;
  plan_id: string;
  term_months: number | null;
  pack_id: string | null;
  monthly_pack_id: string | null;
  currency: string;
  retail: string;
  wholesale: string;
  tax_rate: string;
  buyer_name_enc: string;
  buyer_phone_enc: string;
  request_digest: Buffer;
  status: 'paid' | 'refunded';
  created_at: Date;
  created_by: string;
  applied_at: Date | null;
  refunded_at: Date | null;
  refunded_by: string | null;
}

export interface SimEventRow {
  id: string;
  iccid: string;
  event: string;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string;
  order_id: string | null;
  at: Date;
}

/** The `sims` columns of a {@link SimRow}; the vehicle's part comes from src/vehicles (its owner). */
type SimTableRow = Omit<SimRow, 'vin' | 'owner_subject_id'>;

/** The card with its vehicle's VIN and user (src/vehicles/card-repository.ts), read after the card row. */
async function withVehicle(db: Db, row: SimTableRow): Promise<SimRow> {
  const vehicle = await vehicleOfIccid(db, row.iccid);
  return { ...row, vin: vehicle?.vin ?? null, owner_subject_id: vehicle?.ownerSubjectId ?? null };
}

export async function findSim(db: Db, iccid: string): Promise<SimRow | null> {
  const { rows } = await db.query<SimTableRow>('SELECT * FROM sims WHERE iccid = $1', [iccid]);
  const row = rows[0];
  return row ? withVehicle(db, row) : null;
}

/**
 * The card row locked for the rest of the transaction (every change to a card starts here); the vehicle's
 * part is read after the lock, unlocked (the caller locks the vehicle row next when it changes it).
 */
export async function lockSim(client: PoolClient, iccid: string): Promise<SimRow | null> {
  const { rows } = await client.query<SimTableRow>('SELECT * FROM sims WHERE iccid = $1 FOR UPDATE', [iccid]);
  const row = rows[0];
  return row ? withVehicle(client, row) : null;
}

/** Is the ICCID held by a merchant (a `sims` row)? */
export async function simExists(db: Db, iccid: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM sims WHERE iccid = $1', [iccid]);
  return (rowCount ?? 0) > 0;
}

/** How many cards whose holder is one of these subjects are in service (`active` or `suspended`). */
export async function countCardsInService(client: PoolClient, holderSubjectIds: readonly string[]): Promise<number> {
  if (holderSubjectIds.length === 0) return 0;
  const { rows } = await client.query<{ count: string }>(`SELECT count(*) AS count FROM sims WHERE holder_subject_id = ANY($1::bigint[]) AND state IN ('active', 'suspended')`, [
    holderSubjectIds,
  ]);
  return Number(rows[0]?.count ?? 0);
}

export async function updateSim(
  client: PoolClient,
  iccid: string,
  patch: Partial<{ state: SimState; state_changed_at: Date; activated_at: Date | null; service_until: Date | null; holder_subject_id: string | null }>,
): Promise<void> {
  const entries = Object.entries(patch);
  if (entries.length === 0) return;
  const sets = entries.map(([column], i) => `${column} = $${i + 2}`).join(', ');
  await client.query(`UPDATE sims SET ${sets} WHERE iccid = $1`, [iccid, ...entries.map(([, value]) => value)]);
}

export interface EventInput {
  iccid: string;
  event: SimEvent | 'import' | 'real-name' | 'owner-change' | 'refund' | 'recharge' | 'sim-swap';
  from: SimState | null;
  to: SimState;
  actor: string;
  reason: string;
  orderId?: string | null;
  at: Date;
}

/**
 * The card's audit row and, when its state changed (not at import), the `sim.state_changed` webhook event
 * of the card's merchant (issue 14), both in the caller's transaction.
 */
export async function insertEvent(client: PoolClient, e: EventInput): Promise<void> {
  if (e.from !== null && e.from !== e.to) {
    const { rows } = await client.query<{ merchant_id: string }>('SELECT merchant_id FROM sims WHERE iccid = $1', [e.iccid]);
    const merchantId = rows[0]?.merchant_id;
    if (merchantId !== undefined) {
      await enqueueEvent(client, {
        ownerKind: 'merchant',
        ownerId: merchantId,
        type: 'sim.state_changed',
        data: { iccid: e.iccid, from: e.from, to: e.to, event: e.event, at: e.at.toISOString() },
        atMs: e.at.getTime(),
      });
    }
  }
  await client.query('INSERT INTO sim_events (iccid, event, from_state, to_state, actor, reason, order_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
    e.iccid,
    e.event,
    e.from,
    e.to,
    e.actor,
    e.reason.slice(0, 500),
    e.orderId ?? null,
    e.at,
  ]);
}

export async function listEvents(db: Db, iccid: string): Promise<SimEventRow[]> {
  const { rows } = await db.query<SimEventRow>('SELECT * FROM sim_events WHERE iccid = $1 ORDER BY id', [iccid]);
  return rows;
}

export async function findOrder(db: Db, merchantId: string, externalOrderId: string, lock = false): Promise<OrderRow | null> {
  const { rows } = await db.query<OrderRow>(`SELECT * FROM sim_orders WHERE merchant_id = $1 AND external_order_id = $2${lock ? ' FOR UPDATE' : ''}`, [merchantId, externalOrderId]);
  return rows[0] ?? null;
}

export async function findOrderById(db: Db, id: string): Promise<OrderRow | null> {
  const { rows } = await db.query<OrderRow>('SELECT * FROM sim_orders WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/** Merchants that used an external order id (the admin may omit the merchant when only one did). */
export async function merchantsWithOrder(db: Db, externalOrderId: string): Promise<string[]> {
  const { rows } = await db.query<{ merchant_id: string }>('SELECT merchant_id FROM sim_orders WHERE external_order_id = $1 ORDER BY merchant_id', [externalOrderId]);
  return rows.map((r) => r.merchant_id);
}

export interface NewOrder {
  merchantId: string;
  externalOrderId: string;
  kind: 'sale' | 'recharge';
  iccid: string;
  planId: string;
  termMonths: number | null;
  packId: string | null;
  monthlyPackId: string | null;
  currency: string;
  retail: string;
  wholesale: string;
  taxRate: string;
  buyerNameEnc: string;
  buyerPhoneEnc: string;
  requestDigest: Buffer;
  createdAt: Date;
  createdBy: string;
  appliedAt: Date | null;
}

export async function insertOrder(client: PoolClient, o: NewOrder): Promise<OrderRow> {
  const { rows } = await client.query<OrderRow>(
    `INSERT INTO sim_orders (merchant_id, external_order_id, kind, iccid, plan_id, term_months, pack_id, monthly_pack_id, currency, retail, wholesale, tax_rate,
        buyer_name_enc, buyer_phone_enc, request_digest, status, created_at, created_by, applied_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'paid', $16, $17, $18) RETURNING *`,
    [
      o.merchantId,
      o.externalOrderId,
      o.kind,
      o.iccid,
      o.planId,
      o.termMonths,
      o.packId,
      o.monthlyPackId,
      o.currency,
      o.retail,
      o.wholesale,
      o.taxRate,
      o.buyerNameEnc,
      o.buyerPhoneEnc,
      o.requestDigest,
      o.createdAt,
      o.createdBy,
      o.appliedAt,
    ],
  );
  return rows[0]!;
}

/** A paid order refunded (`status` refunded, by whom and when). */
export async function markOrderRefunded(client: PoolClient, orderId: string, at: Date, actor: string): Promise<void> {
  await client.query(`UPDATE sim_orders SET status = 'refunded', refunded_at = $2, refunded_by = $3 WHERE id = $1`, [orderId, at, actor]);
}

/** An order's term and pack took effect (at activation). */
export async function markOrderApplied(client: PoolClient, orderId: string, at: Date): Promise<void> {
  await client.query('UPDATE sim_orders SET applied_at = $2 WHERE id = $1', [orderId, at]);
}

/** Paid orders of a card whose term and pack wait for activation (the sale, DESIGN 6: "the first order's term starts at activation"). */
export async function unappliedOrders(client: PoolClient, iccid: string): Promise<OrderRow[]> {
  const { rows } = await client.query<OrderRow>(`SELECT * FROM sim_orders WHERE iccid = $1 AND status = 'paid' AND applied_at IS NULL ORDER BY id`, [iccid]);
  return rows;
}

/** The order whose plan grants the monthly pack now: the newest paid, applied order with one. */
export async function monthlyPackOrder(db: Db, iccid: string): Promise<OrderRow | null> {
  const { rows } = await db.query<OrderRow>(
    `SELECT * FROM sim_orders WHERE iccid = $1 AND status = 'paid' AND applied_at IS NOT NULL AND monthly_pack_id IS NOT NULL ORDER BY id DESC LIMIT 1`,
    [iccid],
  );
  return rows[0] ?? null;
}

/** A card's latest orders, newest first (the operator console's card and vehicle pages; index sim_orders_sim). */
export async function ordersOfCard(db: Db, iccid: string, limit: number): Promise<OrderRow[]> {
  const { rows } = await db.query<OrderRow>('SELECT * FROM sim_orders WHERE iccid = $1 ORDER BY id DESC LIMIT $2', [iccid, limit]);
  return rows;
}

/** The latest sale of a card (its buyer is the default buyer of a recharge's invoice). */
export async function latestSale(db: Db, iccid: string): Promise<OrderRow | null> {
  const { rows } = await db.query<OrderRow>(`SELECT * FROM sim_orders WHERE iccid = $1 AND kind = 'sale' ORDER BY id DESC LIMIT 1`, [iccid]);
  return rows[0] ?? null;
}

/**
 * A merchant's orders created or refunded in [fromMs, toMs), by id, after the cursor: `GET
 * /v1/merchants/{id}/orders` and the merchant portal's order pages.
 */
export async function listMerchantOrders(
  db: Db,
  merchantId: string,
  range: { fromMs: number; toMs: number },
  page: { limit: number; after: string | null },
): Promise<{ orders: OrderRow[]; nextCursor: string | null }> {
  const { rows } = await db.query<OrderRow>(
    `SELECT * FROM sim_orders WHERE merchant_id = $1 AND ((created_at >= $2 AND created_at < $3) OR (refunded_at >= $2 AND refunded_at < $3))
       AND ($4::bigint IS NULL OR id > $4) ORDER BY id LIMIT $5`,
    [merchantId, new Date(range.fromMs), new Date(range.toMs), page.after, page.limit + 1],
  );
  const orders = rows.slice(0, page.limit);
  return { orders, nextCursor: rows.length > page.limit ? orders[orders.length - 1]!.id : null };
}

/** Retail and wholesale of one order, as exact decimal strings. */
type SettlementLine = { retail: string; wholesale: string };

/** The settlement's lines of a merchant in [fromMs, toMs): orders created in it, and refunds made in it. */
export async function settlementLines(pool: Pool, merchantId: string, fromMs: number, toMs: number): Promise<{ orders: SettlementLine[]; refunds: SettlementLine[] }> {
  const range = [merchantId, new Date(fromMs), new Date(toMs)];
  const [orders, refunds] = await Promise.all([
    pool.query<SettlementLine>('SELECT retail::text AS retail, wholesale::text AS wholesale FROM sim_orders WHERE merchant_id = $1 AND created_at >= $2 AND created_at < $3', range),
    pool.query<SettlementLine>('SELECT retail::text AS retail, wholesale::text AS wholesale FROM sim_orders WHERE merchant_id = $1 AND refunded_at >= $2 AND refunded_at < $3', range),
  ]);
  return { orders: orders.rows, refunds: refunds.rows };
}

/** Records which order (and, for a monthly pack, which month) granted a pack instance. */
export async function insertPackGrant(client: PoolClient, g: { packInstanceId: string; iccid: string; orderId: string; kind: 'plan' | 'monthly'; month: string | null }): Promise<void> {
  await client.query('INSERT INTO sim_pack_grants (pack_instance_id, iccid, order_id, kind, month) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
    g.packInstanceId,
    g.iccid,
    g.orderId,
    g.kind,
    g.month,
  ]);
}

/** The pack instances an order granted (to expire them at its refund). */
export async function packsGrantedBy(client: PoolClient, orderId: string): Promise<string[]> {
  const { rows } = await client.query<{ pack_instance_id: string }>('SELECT pack_instance_id FROM sim_pack_grants WHERE order_id = $1 ORDER BY pack_instance_id', [orderId]);
  return rows.map((r) => r.pack_instance_id);
}

/** External id and card of orders, by order id (what an e-invoice reply shows of its order, src/einvoice). */
export async function orderReferences(db: Db, orderIds: readonly string[]): Promise<Map<string, { externalOrderId: string; iccid: string }>> {
  if (orderIds.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; external_order_id: string; iccid: string }>('SELECT id, external_order_id, iccid FROM sim_orders WHERE id = ANY($1::bigint[])', [orderIds]);
  return new Map(rows.map((r) => [r.id, { externalOrderId: r.external_order_id, iccid: r.iccid }]));
}

/**
 * Cards of these merchants whose service ends at or before `untilMs` (the usage alerts' serviceUntil rule,
 * src/alerts): active cards, and suspended ones (a lapsed service stays alerted until a recharge), one query.
 */
export async function cardsServiceEndingBy(db: Db, merchantIds: readonly string[], untilMs: number): Promise<Array<{ merchantId: string; iccid: string; serviceUntilMs: number }>> {
  if (merchantIds.length === 0) return [];
  const { rows } = await db.query<{ merchant_id: string; iccid: string; service_until: Date }>(
    `SELECT merchant_id, iccid, service_until FROM sims
      WHERE merchant_id = ANY($1::text[]) AND state IN ('active', 'suspended') AND service_until IS NOT NULL AND service_until <= $2
      ORDER BY merchant_id, service_until, iccid`,
    [[...merchantIds], new Date(untilMs)],
  );
  return rows.map((r) => ({ merchantId: r.merchant_id, iccid: r.iccid, serviceUntilMs: r.service_until.getTime() }));
}
