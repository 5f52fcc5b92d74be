import { sendCsv } from '../api/csv-reply.js';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IccidSchema, IdSchema } from '../api/schemas.js';
import type { AbuseSignals } from '../assurance/abuse-signals.js';
import { breakageCsv, type BreakageReport } from '../assurance/breakage-report.js';
import { cardDaysCsv, type ReconciliationService } from '../assurance/reconciliation.js';
import type { Clock } from '../shared/clock.js';
import { AppError } from '../shared/errors.js';
import { isMonth, monthOf, startOfMonth } from '../shared/time.js';
import type { PageKit } from './page-kit.js';
import { breakagePage, cardPage, reconciliationPage, signalsPage } from './pages/assurance.js';
import { errorPage } from './pages/layout.js';

/**
 * Revenue assurance under `/app` (issue 13): the operator's reconciliation (with the daily-gap chart, a card's
 * days, CSV), pack breakage (CSV) and abuse signals; a sponsor's own abuse signals under its path. The
 * audience of each page is enforced by the plugin's guard (routes.ts) before the handler runs.
 */

export interface AssurancePageDeps {
  reconciliation: ReconciliationService;
  breakage: BreakageReport;
  signals: AbuseSignals;
  clock: Clock;
  /** the zone of the month a page opens on by default: the carrier's for reconciliation, the billing one otherwise */
  carrierTimezone: string;
  billingTimezone(): string;
  /** the sponsor's name, null when the catalog has no such sponsor */
  sponsorName(id: string): string | null;
}

const MonthQuery = z.object({ month: z.string().max(20).optional().catch(undefined) });
const forAdmin = { schema: { hide: true }, config: { audience: ['admin'] as const } };
const forSponsors = { schema: { hide: true }, config: { audience: ['admin', 'sponsor'] as const } };

export function assurancePages(web: FastifyInstance, kit: PageKit, deps: AssurancePageDeps): void {
  /** The asked month (default: the current one in `timezone`), or null after answering 422 with the page's own message. */
  function monthOr422(request: Parameters<PageKit['context']>[0], timezone: string): { month: string } | { error: string } {
    const ctx = kit.context(request);
    const month = MonthQuery.parse(request.query ?? {}).month || monthOf(deps.clock.now(), timezone);
    if (!isMonth(month)) return { error: ctx.t('badMonth') };
    if (startOfMonth(month, timezone) > deps.clock.now()) return { error: ctx.t('monthNotStarted', { month }) };
    return { month };
  }

  web.get('/admin/reconciliation', forAdmin, async (request, reply) => {
    if (!kit.requireSession(request, reply)) return reply;
    const ctx = kit.context(request, { current: 'reconciliation' });
    const asked = monthOr422(request, deps.carrierTimezone);
    if ('error' in asked) return kit.sendPage(reply, errorPage(ctx, asked.error), 422);
    return kit.sendPage(reply, reconciliationPage(ctx, await deps.reconciliation.month(asked.month, 50)));
  });

  web.get('/admin/reconciliation.csv', forAdmin, async (request, reply) => {
    if (!kit.requireSession(request, reply)) return reply;
    const asked = monthOr422(request, deps.carrierTimezone);
    if ('error' in asked) return kit.sendPage(reply, errorPage(kit.context(request), asked.error), 422);
    const { cardDays } = await deps.reconciliation.cardDays(asked.month);
    return sendCsv(reply, `reconciliation-${asked.month}.csv`, cardDaysCsv(cardDays));
  });

  web.get('/admin/reconciliation/cards/:iccid', forAdmin, async (request, reply) => {
    if (!kit.requireSession(request, reply)) return reply;
    const ctx = kit.context(request, { current: 'reconciliation' });
    const params = z.object({ iccid: IccidSchema }).safeParse(request.params);
    if (!params.success) throw new AppError('notFound', 'notFound', 404);
    const asked = monthOr422(request, deps.carrierTimezone);
    if ('error' in asked) return kit.sendPage(reply, errorPage(ctx, asked.error), 422);
    return kit.sendPage(reply, cardPage(ctx, await deps.reconciliation.card(asked.month, params.data.iccid)));
  });

  web.get('/admin/breakage', forAdmin, async (request, reply) => {
    if (!kit.requireSession(request, reply)) return reply;
    const ctx = kit.context(request, { current: 'breakage' });
    const asked = monthOr422(request, deps.billingTimezone());
    if ('error' in asked) return kit.sendPage(reply, errorPage(ctx, asked.error), 422);
    return kit.sendPage(reply, breakagePage(ctx, await deps.breakage.month(asked.month)));
  });

  web.get('/admin/breakage.csv', forAdmin, async (request, reply) => {
    if (!kit.requireSession(request, reply)) return reply;
    const asked = monthOr422(request, deps.billingTimezone());
    if ('error' in asked) return kit.sendPage(reply, errorPage(kit.context(request), asked.error), 422);
    const report = await deps.breakage.month(asked.month);
    return sendCsv(reply, `breakage-${asked.month}.csv`, breakageCsv(report));
  });

  web.get('/admin/abuse-signals', forAdmin, async (request, reply) => {
    if (!kit.requireSession(request, reply)) return reply;
    const ctx = kit.context(request, { current: 'signals' });
    const asked = monthOr422(request, deps.billingTimezone());
    if ('error' in asked) return kit.sendPage(reply, errorPage(ctx, asked.error), 422);
    const found = await deps.signals.month(asked.month);
    return kit.sendPage(reply, signalsPage(ctx, { ...found, action: '/app/admin/abuse-signals' }));
  });

  web.get('/sponsors/:id/abuse-signals', forSponsors, async (request, reply) => {
    const session = kit.requireSession(request, reply);
    if (!session) return reply;
    const params = z.object({ id: IdSchema }).safeParse(request.params);
    // Another sponsor's path was refused by the guard (403); an unknown sponsor (the admin asking) is 404.
    const name = params.success ? deps.sponsorName(params.data.id) : null;
    if (!params.success || name === null) throw new AppError('notFound', 'notFound', 404);
    const ctx = kit.context(request, { sponsor: { id: params.data.id, name }, current: 'signals' });
    const asked = monthOr422(request, deps.billingTimezone());
    if ('error' in asked) return kit.sendPage(reply, errorPage(ctx, asked.error), 422);
    const found = await deps.signals.month(asked.month, params.data.id);
    return kit.sendPage(reply, signalsPage(ctx, { ...found, action: `/app/sponsors/${params.data.id}/abuse-signals` }));
  });
}
