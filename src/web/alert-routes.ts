import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NewSponsorAlertSchema, type AlertRules } from '../alerts/rules.js';
import type { Catalog } from '../catalog/index.js';
import { AppError } from '../shared/errors.js';
import { CsrfBody, forSponsors, type PageKit } from './page-kit.js';
import { alertsPage } from './pages/alerts.js';
import type { WebSession } from './session.js';

/** The usage alerts of a sponsor (issue 14) on the dashboard: the API's rules and checks, as forms. */

const AlertParams = z.object({ id: z.string(), alertId: z.string().regex(/^al_[0-9a-f]{24}$/) });
const AddBody = CsrfBody.extend({
  kind: z.string().max(40).optional(),
  sponsorshipId: z.string().max(80).optional(),
  percent: z.string().max(20).optional(),
  count: z.string().max(20).optional(),
  amount: z.string().max(40).optional(),
});
/** A whole number typed in a form, as the API's JSON number; anything else stays a string (and is refused). */
const integer = (text: string | undefined) => (text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : text);

export function alertPages(web: FastifyInstance, kit: PageKit, deps: { rules: AlertRules; catalog(): Catalog }): void {
  const { context, requireSession, sendPage, sponsorScope, checkCsrf } = kit;

  const render = async (request: FastifyRequest, reply: FastifyReply, session: WebSession, error: string | null, status = 200) => {
    const sponsor = sponsorScope(request, session);
    const catalog = deps.catalog();
    const capped = catalog.sponsorships.filter((s) => s.sponsor === sponsor.id && (s.capMiBPerVehicleMonth ?? 0) > 0).map((s) => s.id);
    const alerts = await deps.rules.list({ kind: 'sponsor', id: sponsor.id });
    return sendPage(reply, alertsPage(context(request, { sponsor }), sponsor.id, { alerts, cappedSponsorships: capped, currency: catalog.billing.currency, error }), status);
  };

  web.get('/sponsors/:id/alerts', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    return render(request, reply, session, null);
  });

  web.post('/sponsors/:id/alerts', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    const form = AddBody.safeParse(request.body ?? {});
    checkCsrf(request, form.success ? form.data : {});
    if (!form.success) return render(request, reply, session, context(request).t('alertNotAdded', { reason: 'malformed form' }), 422);
    const { kind, sponsorshipId, percent, count, amount } = form.data;
    const candidate = kind === 'cap_share' ? { kind, sponsorshipId, percent: integer(percent) } : kind === 'vehicles_at_cap' ? { kind, sponsorshipId, count: integer(count) } : { kind, amount };
    const params = NewSponsorAlertSchema.safeParse(candidate);
    if (!params.success) {
      const issue = params.error.issues[0];
      const reason = issue ? `${issue.path.join('.') || 'kind'}: ${issue.message}` : 'invalid';
      return render(request, reply, session, context(request).t('alertNotAdded', { reason }), 422);
    }
    try {
      await deps.rules.create({ kind: 'sponsor', id: sponsor.id }, params.data);
    } catch (error) {
      if (error instanceof AppError && error.statusCode === 422) return render(request, reply, session, context(request).t('alertNotAdded', { reason: error.message }), 422);
      throw error;
    }
    return reply.redirect(`/app/sponsors/${sponsor.id}/alerts`, 303);
  });

  /** Another sponsor's alert under one's own path is 404, like an unknown one (DESIGN 5). */
  web.post('/sponsors/:id/alerts/:alertId/delete', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const sponsor = sponsorScope(request, session);
    // The scope first: another sponsor's (or an unknown) alert is 404 whatever the form; nothing changes before the CSRF check.
    const params = AlertParams.safeParse(request.params);
    if (!params.success || !(await deps.rules.exists({ kind: 'sponsor', id: sponsor.id }, params.data.alertId))) throw new AppError('notFound', 'notFound', 404);
    const form = CsrfBody.safeParse(request.body ?? {});
    checkCsrf(request, form.success ? form.data : {});
    await deps.rules.remove({ kind: 'sponsor', id: sponsor.id }, params.data.alertId);
    return reply.redirect(`/app/sponsors/${sponsor.id}/alerts`, 303);
  });
}
