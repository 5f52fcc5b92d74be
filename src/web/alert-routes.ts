import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NewMerchantAlertSchema, NewSponsorAlertSchema, type AlertRules } from '../alerts/rules.js';
import type { Catalog } from '../catalog/index.js';
import { AppError } from '../shared/errors.js';
import { CsrfBody, type PageKit } from './page-kit.js';
import type { MerchantReaders } from './merchant-query.js';
import { alertsPage } from './pages/alerts.js';
import { openTenantPage, tenantPages, type TenantKind } from './tenant-pages.js';

/**
 * The usage alerts of a sponsor or a merchant (issue 14) on the dashboard: the API's rules and checks, as
 * forms. Scoping as on every tenant page: another tenant's path is 403, its alert under one's own path 404.
 */

const AlertParams = z.object({ id: z.string(), alertId: z.string().regex(/^al_[0-9a-f]{24}$/) });
const AddBody = CsrfBody.extend({
  kind: z.string().max(40).optional(),
  sponsorshipId: z.string().max(80).optional(),
  percent: z.string().max(20).optional(),
  count: z.string().max(20).optional(),
  amount: z.string().max(40).optional(),
  days: z.string().max(20).optional(),
});
/** A whole number typed in a form, as the API's JSON number; anything else stays a string (and is refused). */
const integer = (text: string | undefined) => (text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : text);

type Form = z.output<typeof AddBody>;

/** What a form asks for, as the API's body for that tenant's kinds of alert. */
function candidateOf(kind: TenantKind, form: Form) {
  if (kind === 'merchant') return NewMerchantAlertSchema.safeParse({ kind: form.kind, days: integer(form.days) });
  const { kind: alert, sponsorshipId, percent, count, amount } = form;
  return NewSponsorAlertSchema.safeParse(
    alert === 'cap_share' ? { kind: alert, sponsorshipId, percent: integer(percent) } : alert === 'vehicles_at_cap' ? { kind: alert, sponsorshipId, count: integer(count) } : { kind: alert, amount },
  );
}

export function alertPages(web: FastifyInstance, kit: PageKit, deps: { rules: AlertRules; catalog(): Catalog; merchants?: Pick<MerchantReaders, 'merchants'> | undefined }): void {
  const { sendPage, checkCsrf } = kit;
  const { merchants } = deps;

  for (const tenant of tenantPages(kit, merchants)) {
    const { kind, guard } = tenant;
    const open = (request: FastifyRequest, reply: FastifyReply) => openTenantPage(kit, tenant, 'alerts', request, reply);
    const render = async (reply: FastifyReply, page: NonNullable<Awaited<ReturnType<typeof open>>>, error: string | null, status = 200) => {
      const catalog = deps.catalog();
      const capped = kind === 'sponsor' ? catalog.sponsorships.filter((s) => s.sponsor === page.owner.id && (s.capMiBPerVehicleMonth ?? 0) > 0).map((s) => s.id) : [];
      const alerts = await deps.rules.list(page.owner);
      return sendPage(reply, alertsPage(page.ctx, page.owner, { alerts, cappedSponsorships: capped, currency: catalog.billing.currency, error }), status);
    };

    web.get(`/${kind}s/:id/alerts`, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      return render(reply, page, null);
    });

    web.post(`/${kind}s/:id/alerts`, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      const form = AddBody.safeParse(request.body ?? {});
      checkCsrf(request, form.success ? form.data : {});
      const { t } = page.ctx;
      if (!form.success) return render(reply, page, t('alertNotAdded', { reason: 'malformed form' }), 422);
      const params = candidateOf(kind, form.data);
      if (!params.success) {
        const issue = params.error.issues[0];
        const reason = issue ? `${issue.path.join('.') || 'kind'}: ${issue.message}` : 'invalid';
        return render(reply, page, t('alertNotAdded', { reason }), 422);
      }
      try {
        await deps.rules.create(page.owner, params.data);
      } catch (error) {
        if (error instanceof AppError && error.statusCode === 422) return render(reply, page, t('alertNotAdded', { reason: error.message }), 422);
        throw error;
      }
      return reply.redirect(page.base, 303);
    });

    /** Another tenant's alert under one's own path is 404, like an unknown one (DESIGN 5). */
    web.post(`/${kind}s/:id/alerts/:alertId/delete`, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      // The scope first: another tenant's (or an unknown) alert is 404 whatever the form; nothing changes before the CSRF check.
      const params = AlertParams.safeParse(request.params);
      if (!params.success || !(await deps.rules.exists(page.owner, params.data.alertId))) throw new AppError('notFound', 'notFound', 404);
      const form = CsrfBody.safeParse(request.body ?? {});
      checkCsrf(request, form.success ? form.data : {});
      await deps.rules.remove(page.owner, params.data.alertId);
      return reply.redirect(page.base, 303);
    });
  }
}
