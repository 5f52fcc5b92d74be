import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { forbidden, unauthorized } from '../shared/errors.js';

/**
 * Who may call a route (DESIGN 5), declared on every route as `config: { audience: [...] }` and enforced from
 * that declaration, so what a route says and what it does cannot drift apart:
 * - `public`: anyone, no credential (alone: a public route admits everyone anyway);
 * - `admin`: the operator (ADMIN_TOKEN);
 * - `sponsor`, `merchant`: that tenant's key (or, on the dashboard, its session). On a tenant's top-level
 *   path (`/v1/sponsors/:id/…`, `/app/merchants/:id/…`) only its own id; an object inside its scope
 *   (another sponsor's invoice, another merchant's card) is the handler's to refuse with 404.
 * A route without a declaration does not register: `buildApp` throws at startup.
 */
export const AUDIENCES = ['public', 'admin', 'sponsor', 'merchant'] as const;
export type Audience = (typeof AUDIENCES)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    audience?: readonly Audience[];
    /**
     * Set by the dashboard's plugin on its own routes, never declared: the caller is its cookie session, and
     * that plugin enforces the audience (a signed-out visitor is sent to sign in rather than answered 401).
     */
    sessionGuard?: true;
  }
}

/** A caller as the audience sees it: an API principal and a dashboard session both have this shape. */
export type AudienceCaller = { kind: 'admin' } | { kind: 'sponsor'; sponsorId: string } | { kind: 'merchant'; merchantId: string };

/** The top-level path of each tenant kind, under the API and under the dashboard. */
const TENANT_PATH: Record<'sponsor' | 'merchant', RegExp> = {
  sponsor: /^\/(?:v1|app)\/sponsors\/:id(?:\/|$)/,
  merchant: /^\/(?:v1|app)\/merchants\/:id(?:\/|$)/,
};

/** One registered route and who may call it (`buildApp`'s `routeTable`). */
export interface DeclaredRoute {
  method: string;
  url: string;
  audience: readonly Audience[];
}

/**
 * The audience a route declares, checked when it registers: a non-empty list of known audiences, `public`
 * alone, no tenant on the other tenant's top-level path. Throws (startup fails) otherwise.
 */
export function declaredAudience(method: string, url: string, config: unknown): readonly Audience[] {
  const where = `${method} ${url}`;
  const declared = (config as { audience?: unknown } | undefined)?.audience;
  if (declared === undefined) throw new Error(`route ${where} declares no audience: add config: { audience: [...] } (one or more of ${AUDIENCES.join(', ')})`);
  if ((config as { sessionGuard?: unknown }).sessionGuard !== undefined) throw new Error(`route ${where}: sessionGuard is set by the dashboard's plugin, not declared`);
  if (!Array.isArray(declared) || declared.length === 0) throw new Error(`route ${where}: audience must be a non-empty list`);
  for (const who of declared) if (!(AUDIENCES as readonly unknown[]).includes(who)) throw new Error(`route ${where}: unknown audience ${String(who)}`);
  if (new Set(declared).size !== declared.length) throw new Error(`route ${where}: audience lists a caller twice`);
  if (declared.includes('public') && declared.length > 1) throw new Error(`route ${where}: a public route admits everyone; declare ['public'] alone`);
  if (declared.includes('sponsor') && TENANT_PATH.merchant.test(url)) throw new Error(`route ${where}: a sponsor on a merchant's path`);
  if (declared.includes('merchant') && TENANT_PATH.sponsor.test(url)) throw new Error(`route ${where}: a merchant on a sponsor's path`);
  return Object.freeze([...(declared as Audience[])]);
}

export type AudienceDecision = 'allow' | 'unauthenticated' | 'forbidden';

/**
 * May `caller` call the route `url` declared for `audience`, with these path parameters? Pure. No caller is
 * `unauthenticated`; a caller outside the audience, or a tenant on another tenant's top-level id, `forbidden`.
 */
export function decideAudience(audience: readonly Audience[], url: string, caller: AudienceCaller | null, params: unknown): AudienceDecision {
  if (audience.includes('public')) return 'allow';
  if (!caller) return 'unauthenticated';
  if (!audience.includes(caller.kind)) return 'forbidden';
  if (caller.kind === 'admin') return 'allow';
  const own = caller.kind === 'sponsor' ? caller.sponsorId : caller.merchantId;
  if (TENANT_PATH[caller.kind].test(url) && (params as { id?: unknown } | undefined)?.id !== own) return 'forbidden';
  return 'allow';
}

/**
 * onRequest for the JSON API (before the body is read): the bearer principal against the route's audience,
 * 401 without a valid token, 403 outside the audience. Dashboard routes are left to their own guard.
 */
export async function enforceAudience(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const config = request.routeOptions.config;
  if (config.sessionGuard) return;
  const audience = config.audience;
  // Only the not-found handler has none (a route without one does not register); anything else fails closed.
  if (!audience) {
    if (request.is404) return;
    throw forbidden();
  }
  const decision = decideAudience(audience, request.routeOptions.url ?? '', request.principal, request.params);
  if (decision === 'unauthenticated') throw unauthorized();
  if (decision === 'forbidden') throw forbidden();
}

const DEFAULT_AUDIENCE = 'tbxDefaultAudience';

/**
 * Registers a third-party plugin whose route options cannot be set (@fastify/swagger-ui): every route it adds
 * gets `audience`. Scoped to that plugin's routes only, through an encapsulated decoration.
 */
export async function registerWithAudience(app: FastifyInstance, audience: readonly Audience[], register: (scope: FastifyInstance) => PromiseLike<unknown>): Promise<void> {
  await app.register(async (scope) => {
    scope.decorate(DEFAULT_AUDIENCE, Object.freeze([...audience]));
    await register(scope);
  });
}

/**
 * The onRoute hook of `buildApp`: every route declares its audience (or inherits the one of
 * {@link registerWithAudience}); the route is recorded for the read-only route table.
 */
export function auditRoutes(record: (route: DeclaredRoute) => void) {
  return function auditRoute(this: FastifyInstance, route: RouteOptions): void {
    const inherited = this.hasDecorator(DEFAULT_AUDIENCE) ? (this as unknown as Record<string, readonly Audience[]>)[DEFAULT_AUDIENCE] : undefined;
    if (route.config?.audience === undefined && inherited) route.config = { ...route.config, audience: inherited };
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) record({ method, url: route.url, audience: declaredAudience(method, route.url, route.config) });
  };
}
