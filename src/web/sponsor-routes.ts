import { sendCsv } from '../api/csv-reply.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { EpochSchema, IdSchema, RowIdSchema, SeqSchema } from '../api/schemas.js';
import { invoiceLinesCsv, invoiceVehicleUsageCsv } from '../billing/invoice-csv.js';
import { renderInvoiceHtml } from '../billing/invoice-html.js';
import type { DayLine } from '../billing/schemas.js';
import type { UsageQuery } from '../billing/usage-query.js';
import { findRecordExplanation, sponsorView } from '../ledger/explain-query.js';
import { checkVin } from '../shared/identifiers.js';
import { dayOf, daysInMonth, formatInstant, isMonth, monthOf, nextMonth, parseMonth, previousMonth, startOfMonth } from '../shared/time.js';
import { capUtilisation, type TopVehicle } from './dashboard-query.js';
import { forSponsors, QueryText, refuse, type PageKit } from './page-kit.js';
import { dashboardPage, type DailySeries } from './pages/dashboard.js';
import { explainPage, type ExplainForm } from './pages/explain.js';
import { invoicesPage } from './pages/invoices.js';
import { errorPage } from './pages/layout.js';
import type { WebDeps } from './routes.js';
import type { WebSession } from './session.js';

/** A sponsor's pages (issue 4): month-to-date usage, the daily chart, caps, top vehicles, invoices, explain. */

const TOP_VEHICLES = 10;
const SponsorParams = z.object({ id: IdSchema });
const InvoiceParams = SponsorParams.extend({ invoiceId: RowIdSchema });
const MonthQuery = z.object({ month: QueryText });
const ExplainQuery = z.object({ vin: QueryText, seq: QueryText, epoch: QueryText });

export function sponsorPages(
  web: FastifyInstance,
  kit: PageKit,
  deps: WebDeps,
  usage: UsageQuery,
  topVehicles: (sponsor: string, month: string, limit: number) => Promise<TopVehicle[]>,
): void {
  const { context, requireSession, sendPage, sponsorScope } = kit;
  const timezone = () => deps.catalog().billing.timezone;

  web.get('/sponsors/:id', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const ctx = context(request, { sponsor, current: 'dashboard' });
    const now = deps.clock.now();
    const tz = timezone();
    const currentMonth = monthOf(now, tz);
    const asked = MonthQuery.parse(request.query ?? {}).month;
    const month = asked || currentMonth;
    if (!isMonth(month)) return sendPage(reply, errorPage(ctx, ctx.t('badMonth')), 422);
    if (startOfMonth(month, tz) > now) return sendPage(reply, errorPage(ctx, ctx.t('monthNotStarted', { month })), 422);

    const [byApp, byDay, caps, top] = await Promise.all([
      usage.appUsage(sponsor.id, month),
      usage.dayUsage(sponsor.id, month),
      capUtilisation(deps.pool, deps.catalog(), sponsor.id, month),
      topVehicles(sponsor.id, month, TOP_VEHICLES),
    ]);
    const following = nextMonth(month);
    const page = dashboardPage(ctx, {
      month,
      previousMonth: previousMonth(month),
      nextMonth: startOfMonth(following, tz) <= now ? following : null,
      asOf: formatInstant(now, tz).replace(/^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):\d{2}\.\d{3}(.*)$/, '$1 $2 ($3)'),
      usage: byApp,
      daily: dailySeries(month, byDay.lines, month === currentMonth ? dayOf(now, tz) : null),
      caps,
      top,
    });
    return sendPage(reply, page);
  });

  web.get('/sponsors/:id/invoices', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const invoices = await deps.invoices.list(sponsor.id);
    return sendPage(reply, invoicesPage(context(request, { sponsor, current: 'invoices' }), sponsor.id, invoices, deps.catalog().billing.closeAfterDays));
  });

  /** Another sponsor's invoice id under one's own path is 404, like an unknown one (DESIGN 5). */
  async function loadInvoice(request: FastifyRequest, session: WebSession) {
    const sponsor = sponsorScope(request, session);
    const params = InvoiceParams.safeParse(request.params);
    const invoice = params.success ? await deps.invoices.get(sponsor.id, params.data.invoiceId) : null;
    if (!invoice) throw refuse('notFound', 404);
    return invoice;
  }

  web.get('/sponsors/:id/invoices/:invoiceId', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    return sendPage(reply, renderInvoiceHtml(await loadInvoice(request, session)));
  });

  web.get('/sponsors/:id/invoices/:invoiceId/lines.csv', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const invoice = await loadInvoice(request, session);
    return sendCsv(reply, `${invoice.number}-lines.csv`, invoiceLinesCsv(invoice));
  });

  web.get('/sponsors/:id/invoices/:invoiceId/usage.csv', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const invoice = await loadInvoice(request, session);
    return sendCsv(reply, `${invoice.number}-usage.csv`, invoiceVehicleUsageCsv(deps.pool, invoice));
  });

  web.get('/sponsors/:id/explain', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const ctx = context(request, { sponsor, current: 'explain' });
    const query = ExplainQuery.parse(request.query ?? {});
    const form: ExplainForm = { vin: (query.vin ?? '').trim().toUpperCase(), seq: (query.seq ?? '').trim(), epoch: (query.epoch ?? '').trim() || '0' };
    if (!form.vin && !form.seq) return sendPage(reply, explainPage(ctx, sponsor.id, form, { kind: 'none' }));

    // The API's rules (VIN check digit, DESIGN 3.1 seq and epoch), with the page's own messages.
    const vinCheck = checkVin(form.vin);
    const seq = SeqSchema.safeParse(form.seq);
    const epochOk = EpochSchema.safeParse(form.epoch).success;
    if (!vinCheck.ok || !seq.success || !epochOk) {
      const message = !vinCheck.ok ? ctx.t('invalidVin', { reason: vinCheck.reason }) : !seq.success ? ctx.t('invalidSeq') : ctx.t('invalidEpoch');
      return sendPage(reply, explainPage(ctx, sponsor.id, form, { kind: 'invalid', message }), 422);
    }

    // The one place the UI reads a single usage record and its allocations, by primary key.
    const explanation = await findRecordExplanation(deps.pool, { vin: form.vin, epoch: form.epoch, seq: seq.data }, timezone());
    // A sponsor sees the record only if it pays for part of it, and other payers only as "other".
    const view = explanation && (session.kind === 'admin' ? explanation : sponsorView(explanation, sponsor.id));
    if (!view) return sendPage(reply, explainPage(ctx, sponsor.id, form, { kind: 'missing', message: ctx.t('explainNotFound', { vin: form.vin, epoch: form.epoch, seq: form.seq }) }), 404);
    return sendPage(reply, explainPage(ctx, sponsor.id, form, { kind: 'found', explanation: view, currency: deps.catalog().billing.currency }));
  });
}

/** Bytes per app per day for the chart: every day of the month (through `today` for the current month). */
export function dailySeries(month: string, lines: DayLine[], today: string | null): DailySeries {
  const { year, month: monthNumber } = parseMonth(month);
  // Through today, or through the last day with data should a record start a little ahead of the clock.
  const through = today === null ? null : lines.reduce((last, line) => (line.day > last ? line.day : last), today);
  const days = Array.from({ length: daysInMonth(year, monthNumber) }, (_, i) => `${month}-${String(i + 1).padStart(2, '0')}`).filter((day) => through === null || day <= through);
  const index = new Map(days.map((day, i) => [day, i]));
  const apps = new Map<string, bigint[]>();
  for (const line of lines) {
    const i = index.get(line.day);
    if (i === undefined) continue;
    let bytes = apps.get(line.app);
    if (!bytes) apps.set(line.app, (bytes = days.map(() => 0n)));
    bytes[i]! += BigInt(line.bytes);
  }
  return { days, apps: [...apps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([app, bytes]) => ({ app, bytes })) };
}
