import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { EpochSchema, SeqSchema, VinSchema } from '../api/schemas.js';
import type { UsageQuery } from '../billing/usage-query.js';
import { formatPricePerGiB } from '../billing/usage-query.js';
import { findRecordExplanation } from '../ledger/explain-query.js';
import type { RecentRecord } from '../ledger/vehicle-records.js';
import { checkIccid, checkVin } from '../shared/identifiers.js';
import { formatMinor, lineAmountMinor } from '../shared/money.js';
import { monthOf, previousMonth } from '../shared/time.js';
import type { OrderRow } from '../sims/repository.js';
import { ExternalOrderIdSchema } from '../sims/schemas.js';
import { accrualOf } from './console-accrual.js';
import type { ConsoleReaders } from './console-query.js';
import { forAdmin, forSponsors, QueryText, refuse, type PageKit } from './page-kit.js';
import { accrualPage, cardPage, merchantsListPage, searchPage, sponsorsListPage, sponsorVehiclePage, vehiclePage, type SearchOutcome } from './pages/console.js';
import { explainPage, type ExplainForm } from './pages/explain.js';
import type { PageContext } from './pages/layout.js';
import type { WebDeps } from './routes.js';

/**
 * The operator console (issue 14) under `/app/console` (admin) and the sponsor's share of it under
 * `/app/sponsors/:id/{search,vehicles/:vin,accrual}`: one search box for a VIN, an ICCID or an external order
 * id; the vehicle page; a merchant's card; the sponsor and merchant lists; a sponsor's accrual. Reads go
 * through console-query.ts (each table's owner); nothing here runs SQL.
 *
 * Search: a 17-character VIN (check digit valid) goes to its vehicle page; 19–20 digits (Luhn valid) to the
 * vehicle holding that ICCID, else to the merchant's card (admin); anything else is looked up as an external
 * order id (admin: every merchant's) and as a VIN prefix (3–16 characters); one hit goes straight to its page,
 * none or several give the results page. Input is judged by the API's own rules (`checkVin`, `checkIccid`,
 * `ExternalOrderIdSchema`); a query that is none of these gets a message, never an error page.
 */

/** The longest query looked at: longer than any VIN, ICCID or order id worth searching for (128). */
const MAX_QUERY = 128;
const SearchQuery = z.object({ q: QueryText });
const ExplainQuery = z.object({ vin: QueryText, seq: QueryText, epoch: QueryText });
const VehicleParams = z.object({ vin: VinSchema });
const CardParams = z.object({ iccid: z.string() });
const VIN_PREFIX = /^[A-HJ-NPR-Z0-9]{3,16}$/;

type Classified =
  | { kind: 'empty' }
  | { kind: 'invalid'; message: string }
  | { kind: 'vin'; vin: string }
  | { kind: 'iccid'; iccid: string }
  | { kind: 'text'; text: string; orderId: string | null; prefix: string | null; badVin: string | null };

/** What a search box query is, by the API's rules; the message is the page's own (i18n). */
export function classifyQuery(raw: string | undefined, t: PageContext['t']): Classified {
  const q = (raw ?? '').trim();
  if (q === '') return { kind: 'empty' };
  if (q.length > MAX_QUERY) return { kind: 'invalid', message: t('consoleQueryTooLong', { n: MAX_QUERY }) };
  if (/^\d{19,20}$/.test(q)) {
    const check = checkIccid(q);
    return check.ok ? { kind: 'iccid', iccid: q } : { kind: 'invalid', message: t('consoleInvalidIccid', { reason: check.reason }) };
  }
  const upper = q.toUpperCase();
  let badVin: string | null = null;
  if (/^[A-Z0-9]{17}$/.test(upper)) {
    const check = checkVin(upper);
    if (check.ok) return { kind: 'vin', vin: upper };
    badVin = t('invalidVin', { reason: check.reason });
  }
  const orderId = ExternalOrderIdSchema.safeParse(q).success ? q : null;
  const prefix = VIN_PREFIX.test(upper) ? upper : null;
  if (!orderId && !prefix) return { kind: 'invalid', message: badVin ?? t('consoleQueryUnknown') };
  return { kind: 'text', text: q, orderId, prefix, badVin };
}

export function consolePages(web: FastifyInstance, kit: PageKit, deps: WebDeps, usage: UsageQuery, readers: ConsoleReaders): void {
  const { context, requireSession, sendPage, requireAdminSession, sponsorScope } = kit;
  const timezone = () => deps.catalog().billing.timezone;
  const currentMonth = () => monthOf(deps.clock.now(), timezone());
  const adminLinks = { vehicle: (vin: string) => `/app/console/vehicles/${vin}`, card: (iccid: string) => `/app/console/cards/${iccid}` };

  function admin(request: FastifyRequest, reply: FastifyReply) {
    const session = requireSession(request, reply);
    if (!session) return null;
    requireAdminSession(session);
    return session;
  }

  // ---- admin ----------------------------------------------------------------------------------------------

  web.get('/console', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    return sendPage(reply, searchPage(context(request, { current: 'console' }), { kind: 'empty' }, adminLinks, ''));
  });

  web.get('/console/search', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    const ctx = context(request, { current: 'console' });
    const raw = SearchQuery.parse(request.query ?? {}).q;
    const query = (raw ?? '').slice(0, MAX_QUERY);
    const classified = classifyQuery(raw, ctx.t);
    const show = (outcome: SearchOutcome) => sendPage(reply, searchPage(ctx, outcome, adminLinks, query));
    switch (classified.kind) {
      case 'empty':
      case 'invalid':
        return show(classified);
      case 'vin': {
        const found = await readers.vinsWithPrefix(classified.vin);
        if (found.includes(classified.vin)) return reply.redirect(adminLinks.vehicle(classified.vin), 303);
        return show({ kind: 'results', query: classified.vin, vehicles: [], cards: [], orders: [] });
      }
      case 'iccid': {
        const vin = await readers.vehicleOfIccid(classified.iccid);
        if (vin) return reply.redirect(adminLinks.vehicle(vin), 303);
        if (await readers.card(classified.iccid)) return reply.redirect(adminLinks.card(classified.iccid), 303);
        return show({ kind: 'results', query: classified.iccid, vehicles: [], cards: [], orders: [] });
      }
      case 'text': {
        const [orders, vehicles] = await Promise.all([
          classified.orderId ? readers.ordersWithId(classified.orderId) : Promise.resolve<OrderRow[]>([]),
          classified.prefix ? readers.vinsWithPrefix(classified.prefix) : Promise.resolve<string[]>([]),
        ]);
        if (orders.length === 1 && vehicles.length === 0) {
          const vin = await readers.vehicleOfIccid(orders[0]!.iccid);
          return reply.redirect(vin ? adminLinks.vehicle(vin) : adminLinks.card(orders[0]!.iccid), 303);
        }
        if (vehicles.length === 1 && orders.length === 0) return reply.redirect(adminLinks.vehicle(vehicles[0]!), 303);
        if (orders.length === 0 && vehicles.length === 0 && classified.badVin) return show({ kind: 'invalid', message: classified.badVin });
        return show({ kind: 'results', query: classified.text, vehicles, cards: [], orders });
      }
    }
  });

  web.get('/console/vehicles/:vin', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    const params = VehicleParams.safeParse(request.params);
    const view = params.success ? await readers.vehicle(params.data.vin) : null;
    if (!view) throw refuse('notFound', 404);
    const explain = (r: RecentRecord) => `/app/console/explain?${new URLSearchParams({ vin: view.vehicle.vin, epoch: r.epoch, seq: String(r.seq) }).toString()}`;
    return sendPage(reply, vehiclePage(context(request, { current: 'console', timeZone: timezone() }), view, explain));
  });

  web.get('/console/cards/:iccid', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    const params = CardParams.safeParse(request.params);
    const iccid = params.success && checkIccid(params.data.iccid).ok ? params.data.iccid : null;
    const card = iccid ? await readers.card(iccid) : null;
    if (!card) {
      // A platform card (no merchant holds it) is its vehicle's: that page shows it.
      const vin = iccid ? await readers.vehicleOfIccid(iccid) : null;
      if (vin) return reply.redirect(adminLinks.vehicle(vin), 303);
      throw refuse('notFound', 404);
    }
    return sendPage(reply, cardPage(context(request, { current: 'console', timeZone: timezone() }), card.sim, card.events, card.orders));
  });

  web.get('/console/explain', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    const ctx = context(request, { current: 'console' });
    const query = ExplainQuery.parse(request.query ?? {});
    const form: ExplainForm = { vin: (query.vin ?? '').trim().toUpperCase().slice(0, 64), seq: (query.seq ?? '').trim().slice(0, 64), epoch: ((query.epoch ?? '').trim() || '0').slice(0, 64) };
    const page = (outcome: Parameters<typeof explainPage>[3]) => explainPage(ctx, '', form, outcome, '/app/console/explain');
    if (!form.vin && !form.seq) return sendPage(reply, page({ kind: 'none' }));
    const vinCheck = checkVin(form.vin);
    const seq = SeqSchema.safeParse(form.seq);
    const epochOk = EpochSchema.safeParse(form.epoch).success;
    if (!vinCheck.ok || !seq.success || !epochOk) {
      const message = !vinCheck.ok ? ctx.t('invalidVin', { reason: vinCheck.reason }) : !seq.success ? ctx.t('invalidSeq') : ctx.t('invalidEpoch');
      return sendPage(reply, page({ kind: 'invalid', message }), 422);
    }
    const explanation = await findRecordExplanation(deps.pool, { vin: form.vin, epoch: form.epoch, seq: seq.data }, timezone());
    if (!explanation) return sendPage(reply, page({ kind: 'missing', message: ctx.t('explainNotFound', { vin: form.vin, epoch: form.epoch, seq: form.seq }) }), 404);
    return sendPage(reply, page({ kind: 'found', explanation, currency: deps.catalog().billing.currency }));
  });

  web.get('/console/sponsors', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    const catalog = deps.catalog();
    const sponsors = catalog.sponsors.map((s) => ({
      id: s.id,
      name: s.name,
      kind: s.kind,
      sponsorships: catalog.sponsorships.filter((p) => p.sponsor === s.id).map((p) => ({ id: p.id, app: p.app, pricePerGiB: p.pricePerGiB })),
    }));
    return sendPage(reply, sponsorsListPage(context(request, { current: 'console-sponsors' }), sponsors));
  });

  web.get('/console/merchants', forAdmin, async (request, reply) => {
    if (!admin(request, reply)) return reply;
    const merchants = deps.merchantPortal ? await deps.merchantPortal.merchants.list() : null;
    return sendPage(reply, merchantsListPage(context(request, { current: 'console-merchants' }), merchants));
  });

  // ---- a sponsor's share: its own vehicles (console-query.ts: the scope), its accrual ------------------------

  web.get('/sponsors/:id/search', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const ctx = context(request, { sponsor, current: 'console' });
    const raw = SearchQuery.parse(request.query ?? {}).q;
    const query = (raw ?? '').slice(0, MAX_QUERY);
    const classified = classifyQuery(raw, ctx.t);
    const month = currentMonth();
    const link = { vehicle: (vin: string) => `/app/sponsors/${sponsor.id}/vehicles/${vin}` };
    const show = (outcome: SearchOutcome) => sendPage(reply, searchPage(ctx, outcome, link, query));
    // Out of scope is exactly "not found": nothing tells another sponsor's vehicle from no vehicle.
    const none = (q: string) => show({ kind: 'results', query: q, vehicles: [], cards: [], orders: [] });
    switch (classified.kind) {
      case 'empty':
      case 'invalid':
        return show(classified);
      case 'vin':
        if (await readers.inSponsorScope(sponsor.id, classified.vin, month)) return reply.redirect(link.vehicle(classified.vin), 303);
        return none(classified.vin);
      case 'iccid': {
        const vin = await readers.vehicleOfIccid(classified.iccid);
        if (vin && (await readers.inSponsorScope(sponsor.id, vin, month))) return reply.redirect(link.vehicle(vin), 303);
        return none(classified.iccid);
      }
      case 'text': {
        const vehicles = classified.prefix ? await readers.sponsorVinsWithPrefix(sponsor.id, month, classified.prefix) : [];
        if (vehicles.length === 1) return reply.redirect(link.vehicle(vehicles[0]!), 303);
        if (vehicles.length === 0 && classified.badVin) return show({ kind: 'invalid', message: classified.badVin });
        return show({ kind: 'results', query: classified.text, vehicles, cards: [], orders: [] });
      }
    }
  });

  web.get('/sponsors/:id/vehicles/:vin', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const params = VehicleParams.safeParse(request.params);
    const view = params.success ? await readers.sponsorVehicle(sponsor.id, params.data.vin, currentMonth()) : null;
    if (!view) throw refuse('notFound', 404);
    const explain = (r: RecentRecord) => `/app/sponsors/${sponsor.id}/explain?${new URLSearchParams({ vin: view.vehicle.vin, epoch: r.epoch, seq: String(r.seq) }).toString()}`;
    const amounts = view.usage.map((u) => ({ month: u.month, app: u.app, kind: u.kind, price: formatPricePerGiB(u.price), bytes: BigInt(u.bytes), amount: formatMinor(lineAmountMinor(BigInt(u.bytes), u.price)) }));
    return sendPage(reply, sponsorVehiclePage(context(request, { sponsor, current: 'console', timeZone: timezone() }), view, deps.catalog().billing.currency, explain, amounts));
  });

  web.get('/sponsors/:id/accrual', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const catalog = deps.catalog();
    const month = currentMonth();
    const months = [month, previousMonth(month)];
    const [documents, ...usages] = await Promise.all([deps.invoices.list(sponsor.id), ...months.map((m) => usage.appUsage(sponsor.id, m))]);
    const view = {
      sponsorId: sponsor.id,
      currency: catalog.billing.currency,
      months: months.map((m, i) => accrualOf(m, sponsor.id, usages[i]!.lines, documents, catalog)),
      invoices: documents.map((d) => ({ id: d.id, number: d.number, month: d.month, kind: d.kind, status: d.status, issuedAt: d.issuedAt, subtotal: d.subtotal, total: d.total })),
    };
    return sendPage(reply, accrualPage(context(request, { sponsor, current: 'accrual' }), view));
  });
}
