import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IccidSchema, IdSchema, RowIdSchema } from '../api/schemas.js';
import type { Merchant } from '../merchants/schemas.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { isMonth, monthOf, nextMonth, previousMonth, startOfMonth } from '../shared/time.js';
import { findOrder, findSim, listEvents, listMerchantOrders } from '../sims/repository.js';
import { ExternalOrderIdSchema } from '../sims/schemas.js';
import { merchantSettlement } from '../sims/settlement.js';
import { SIM_STATES } from '../sims/state-machine.js';
import type { MessageKey } from './i18n.js';
import { mapLimited, type MerchantReaders } from './merchant-query.js';
import { errorPage, type PageContext } from './pages/layout.js';
import { orderPage, ordersPage, simPage, simsPage, statementPage, type MerchantPageContext, type MonthNavigation } from './pages/merchant.js';
import type { WebSession } from './session.js';
import { forMerchants, refuse, type PageKit } from './page-kit.js';

/**
 * The merchant portal's pages under `/app/merchants/:id` (issue 5): cards, orders, monthly statements.
 * Scoping is the merchant API's (DESIGN 5/6): a merchant session on another merchant's path is 403 (known or
 * not: no probing for ids), another merchant's card or order under its own path is 404 like an unknown one;
 * sponsor sessions get 403 on every merchant page; the admin sees every merchant (unknown → 404).
 */

export interface MerchantPageDeps {
  pool: Pool;
  readers: MerchantReaders;
  clock: Clock;
  timezone(): string;
  currency(): string;
}

/** Rows per page: each card's masked real-name view costs a few primary-key reads. */
export const SIMS_PER_PAGE = 50;
export const ORDERS_PER_PAGE = 50;
/** Per-row reads in flight at once for one page, so a page view never occupies the whole pool. */
const ROW_CONCURRENCY = 4;

const MerchantParams = z.object({ id: IdSchema });
const SimParams = MerchantParams.extend({ iccid: IccidSchema });
const OrderParams = MerchantParams.extend({ externalOrderId: ExternalOrderIdSchema });
// Filters from links and forms: a malformed value is ignored (the first page, every state), never an error.
const SimsQuery = z.object({
  state: z.enum(SIM_STATES).optional().catch(undefined),
  after: IccidSchema.optional().catch(undefined),
});
const MonthQuery = z.object({ month: z.string().max(20).optional().catch(undefined) });
const OrdersQuery = MonthQuery.extend({ after: RowIdSchema.optional().catch(undefined) });


/** DESIGN 5 scoping for `/app/merchants/:id…` (the audience guard already refused another merchant's id); finds the merchant. */
export async function merchantScope(readers: Pick<MerchantReaders, 'merchants'>, request: FastifyRequest, session: WebSession): Promise<Merchant> {
  if (session.kind === 'sponsor') throw refuse('forbidden', 403);
  const params = MerchantParams.safeParse(request.params);
  if (session.kind === 'merchant' && (!params.success || params.data.id !== session.merchantId)) throw refuse('forbidden', 403);
  const merchant = params.success ? await readers.merchants.find(params.data.id) : null;
  if (!merchant) throw refuse('notFound', 404);
  return merchant;
}

export function merchantPages(web: FastifyInstance, kit: PageKit, deps: MerchantPageDeps): void {
  const { pool, readers } = deps;

  /** Signed in and allowed on this merchant: the merchant and the page context, or null after a redirect. */
  async function open(request: FastifyRequest, reply: FastifyReply, current: PageContext['current']): Promise<{ merchant: Merchant; ctx: MerchantPageContext } | null> {
    const session = kit.requireSession(request, reply);
    if (!session) return null;
    const merchant = await merchantScope(readers, request, session);
    const shown = { id: merchant.id, name: merchant.name };
    return { merchant, ctx: { ...kit.context(request, { merchant: shown, timeZone: deps.timezone(), ...(current ? { current } : {}) }), merchant: shown } };
  }

  /**
   * The month asked for (default: the current one, billing timezone) and its [from, to), or the reason it
   * cannot be shown — the settlement API's rule: a month not yet started is 422.
   */
  function resolveMonth(asked: string | undefined): { nav: MonthNavigation; fromMs: number; toMs: number } | { problem: MessageKey; month: string } {
    const tz = deps.timezone();
    const now = deps.clock.now();
    const month = asked || monthOf(now, tz);
    if (!isMonth(month)) return { problem: 'badMonth', month };
    const fromMs = startOfMonth(month, tz);
    if (fromMs > now) return { problem: 'monthNotStarted', month };
    const following = nextMonth(month);
    const toMs = startOfMonth(following, tz);
    return { nav: { month, previousMonth: previousMonth(month), nextMonth: toMs <= now ? following : null }, fromMs, toMs };
  }

  const monthProblem = (reply: FastifyReply, ctx: PageContext, resolved: { problem: MessageKey; month: string }) =>
    kit.sendPage(reply, errorPage(ctx, ctx.t(resolved.problem, { month: resolved.month })), 422);

  web.get('/merchants/:id', forMerchants, async (request, reply) => {
    const opened = await open(request, reply, undefined);
    if (!opened) return reply;
    return reply.redirect(`/app/merchants/${opened.merchant.id}/sims`, 303);
  });

  web.get('/merchants/:id/sims', forMerchants, async (request, reply) => {
    const opened = await open(request, reply, 'sims');
    if (!opened) return reply;
    const { merchant, ctx } = opened;
    const query = SimsQuery.parse(request.query ?? {});
    const listed = await readers.inventory.list(merchant.id, { state: query.state, limit: SIMS_PER_PAGE, cursor: query.after });
    // The list gives the page's cards; each is then shown through the API's masked view (real-name included).
    const views = await mapLimited(listed.sims, ROW_CONCURRENCY, async (item) => {
      const row = await findSim(pool, item.iccid);
      return row && row.merchant_id === merchant.id ? readers.views.sim(pool, row) : null;
    });
    const base = `/app/merchants/${merchant.id}/sims`;
    const withState = (extra: Record<string, string>) => {
      const search = new URLSearchParams({ ...(query.state ? { state: query.state } : {}), ...extra }).toString();
      return search ? `${base}?${search}` : base;
    };
    return kit.sendPage(
      reply,
      simsPage(ctx, {
        sims: views.filter((v) => v !== null),
        state: query.state ?? null,
        page: { nextHref: listed.nextCursor ? withState({ after: listed.nextCursor }) : null, firstHref: query.after ? withState({}) : null },
      }),
    );
  });

  web.get('/merchants/:id/sims/:iccid', forMerchants, async (request, reply) => {
    const opened = await open(request, reply, 'sims');
    if (!opened) return reply;
    const params = SimParams.safeParse(request.params);
    const row = params.success ? await findSim(pool, params.data.iccid) : null;
    // Another merchant's card is exactly as absent as a card that does not exist.
    if (!row || row.merchant_id !== opened.merchant.id) throw refuse('notFound', 404);
    const [sim, events] = await Promise.all([readers.views.sim(pool, row), listEvents(pool, row.iccid)]);
    return kit.sendPage(reply, simPage(opened.ctx, sim, events.map((e) => readers.views.event(e))));
  });

  web.get('/merchants/:id/orders', forMerchants, async (request, reply) => {
    const opened = await open(request, reply, 'orders');
    if (!opened) return reply;
    const { merchant, ctx } = opened;
    const query = OrdersQuery.parse(request.query ?? {});
    const resolved = resolveMonth(query.month);
    if ('problem' in resolved) return monthProblem(reply, ctx, resolved);
    const listed = await listMerchantOrders(pool, merchant.id, resolved, { limit: ORDERS_PER_PAGE, after: query.after ?? null });
    const orders = await mapLimited(listed.orders, ROW_CONCURRENCY, async (order) => readers.views.order(order, await readers.einvoices.forOrder(pool, order.id)));
    const base = `/app/merchants/${merchant.id}/orders?month=${resolved.nav.month}`;
    return kit.sendPage(
      reply,
      ordersPage(ctx, { nav: resolved.nav, orders, page: { nextHref: listed.nextCursor ? `${base}&after=${listed.nextCursor}` : null, firstHref: query.after ? base : null } }),
    );
  });

  web.get('/merchants/:id/orders/:externalOrderId', forMerchants, async (request, reply) => {
    const opened = await open(request, reply, 'orders');
    if (!opened) return reply;
    const params = OrderParams.safeParse(request.params);
    // Looked up within this merchant only: another merchant's order id is not found, like an unknown one.
    const order = params.success ? await findOrder(pool, opened.merchant.id, params.data.externalOrderId) : null;
    if (!order) throw refuse('notFound', 404);
    return kit.sendPage(reply, orderPage(opened.ctx, readers.views.order(order, await readers.einvoices.forOrder(pool, order.id))));
  });

  web.get('/merchants/:id/statements', forMerchants, async (request, reply) => {
    const opened = await open(request, reply, 'statements');
    if (!opened) return reply;
    const { merchant, ctx } = opened;
    const resolved = resolveMonth(MonthQuery.parse(request.query ?? {}).month);
    if ('problem' in resolved) return monthProblem(reply, ctx, resolved);
    // The settlement API's own computation over the same [from, to): the page cannot disagree with it.
    const [totals, einvoices] = await Promise.all([
      merchantSettlement(pool, merchant.id, resolved.fromMs, resolved.toMs),
      readers.einvoices.listForMerchant(merchant.id, resolved.fromMs, resolved.toMs),
    ]);
    return kit.sendPage(reply, statementPage(ctx, { nav: resolved.nav, currency: deps.currency(), totals, einvoices }));
  });
}
