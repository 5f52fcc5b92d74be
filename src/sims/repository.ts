import type { Pool, PoolClient } from '../shared/db/pool.js';
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
  /** the VIN whose vehicle carries this card (vehicles.iccid), joined in */
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

const SIM_COLUMNS = 's.*, v.vin, v.owner_subject_id';

export async function findSim(db: Db, iccid: string): Promise<SimRow | null> {
  const { rows } = await db.query<SimRow>(`SELECT ${SIM_COLUMNS} FROM sims s LEFT JOIN vehicles v ON v.iccid = s.iccid WHERE s.iccid = $1`, [iccid]);
  return rows[0] ?? null;
}

/** The card row locked for the rest of the transaction (every change to a card starts here). */
export async function lockSim(client: PoolClient, iccid: string): Promise<SimRow | null> {
  const { rows } = await client.query<SimRow>(`SELECT ${SIM_COLUMNS} FROM sims s LEFT JOIN vehicles v ON v.iccid = s.iccid WHERE s.iccid = $1 FOR UPDATE OF s`, [iccid]);
  return rows[0] ?? null;
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

/** The vehicle user of a car (DESIGN 6): kept on the vehicle, so a SIM swap keeps it. */
export async function setVehicleOwner(client: PoolClient, vin: string, subjectId: string | null): Promise<void> {
  await client.query('UPDATE vehicles SET owner_subject_id = $2 WHERE vin = $1', [vin, subjectId]);
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

export async function insertEvent(client: PoolClient, e: EventInput): Promise<void> {
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
