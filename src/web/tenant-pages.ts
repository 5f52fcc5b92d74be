import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Audience } from '../api/audience.js';
import { forMerchants, forSponsors, type PageKit } from './page-kit.js';
import type { MerchantReaders } from './merchant-query.js';
import { merchantScope } from './merchant-routes.js';
import type { PageContext } from './pages/layout.js';
import type { WebSession } from './session.js';

export type TenantKind = 'sponsor' | 'merchant';

/** One kind of tenant whose pages a group serves under `/{kind}s/:id/…`: who may open them, and its scope. */
export interface TenantPages {
  kind: TenantKind;
  guard: { schema: { hide: boolean }; config: { audience: readonly Audience[] } };
  /** DESIGN 5 scoping (another tenant's path 403, an unknown one 404): the page context's sponsor or merchant. */
  scope(request: FastifyRequest, session: WebSession): Promise<Pick<PageContext, 'sponsor' | 'merchant'>>;
}

/**
 * The tenants a page group that both sponsors and merchants have (alerts, webhooks) is served for: sponsors
 * always, merchants when this instance has a merchant portal.
 */
export function tenantPages(kit: PageKit, merchants: Pick<MerchantReaders, 'merchants'> | undefined): TenantPages[] {
  const sponsor: TenantPages = { kind: 'sponsor', guard: forSponsors, scope: async (request, session) => ({ sponsor: kit.sponsorScope(request, session) }) };
  if (!merchants) return [sponsor];
  const merchant: TenantPages = {
    kind: 'merchant',
    guard: forMerchants,
    scope: async (request, session) => {
      const found = await merchantScope(merchants, request, session);
      return { merchant: { id: found.id, name: found.name } };
    },
  };
  return [sponsor, merchant];
}

/**
 * Signed in and in `tenant`'s scope: the owner, the base path of its `section` pages and the page context
 * (that section current); null after a redirect to the sign-in page.
 */
export async function openTenantPage(kit: PageKit, tenant: TenantPages, section: 'alerts' | 'webhooks', request: FastifyRequest, reply: FastifyReply) {
  const session = kit.requireSession(request, reply);
  if (!session) return null;
  const shown = await tenant.scope(request, session);
  const owner = { kind: tenant.kind, id: (shown.sponsor ?? shown.merchant)!.id };
  return { owner, base: `/app/${tenant.kind}s/${owner.id}/${section}`, ctx: kit.context(request, { ...shown, current: section }) };
}
