import fastifyCookie from '@fastify/cookie';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ApiKeyStore } from '../api/api-keys.js';
import { decideAudience } from '../api/audience.js';
import type { FastifyZodInstance } from '../api/types.js';
import { createSessionStore } from '../api/web-sessions.js';
import type { InvoiceQueries } from '../billing/invoices.js';
import { createUsageQuery } from '../billing/usage-query.js';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { AppError } from '../shared/errors.js';
import { adminPages } from './admin-routes.js';
import type { AlertRules } from '../alerts/rules.js';
import { alertPages } from './alert-routes.js';
import { assetRoutes } from './assets.js';
import { createConsoleReaders } from './console-query.js';
import { consolePages } from './console-routes.js';
import { createTopVehiclesCache } from './dashboard-query.js';
import type { MessageKey } from './i18n.js';
import { assurancePages, type AssurancePageDeps } from './assurance-routes.js';
import type { MerchantReaders } from './merchant-query.js';
import { merchantPages } from './merchant-routes.js';
import { createPageKit, refuse, SESSION_COOKIE } from './page-kit.js';
import { errorPage } from './pages/layout.js';
import { createSessionCodec, type WebSession } from './session.js';
import { signInPages } from './sign-in-routes.js';
import { sponsorPages } from './sponsor-routes.js';
import { webhookPages } from './webhook-routes.js';
import type { WebhookService } from '../webhooks/service.js';

/**
 * The sponsor dashboard and the admin view (issue 4), server-rendered under `/app`: month-to-date usage by
 * app, a daily chart, cap utilisation, top vehicles, invoices (printable, CSV) and "explain this charge";
 * and the merchant portal (issue 5, merchant-routes.ts): cards, orders, monthly statements.
 * Reads only what the JSON API reads (rollups, invoices, one record for explain) through the same queries,
 * so the page and the API cannot disagree. Signed-in state is a signed cookie (session.ts) naming a row of
 * `web_sessions` (src/api/web-sessions.ts), so logging out ends a session on the server.
 *
 * This file holds what every page shares — cookies, the session and audience hooks, security headers,
 * error pages — and registers the groups of pages: sign-in-routes.ts, sponsor-routes.ts,
 * merchant-routes.ts, admin-routes.ts and assets.ts, each lent the page kit (page-kit.ts).
 */

export interface WebDeps {
  pool: Pool;
  apiKeys: Pick<ApiKeyStore, 'verify'>;
  adminToken: string;
  catalog(): Catalog;
  invoices: InvoiceQueries;
  metrics: Registry;
  clock: Clock;
  /**
   * The merchant side's readers (`createSimModule(…).readers`). Without them there is no merchant portal:
   * merchant keys cannot sign in and the admin view lists no merchants.
   */
  merchantPortal?: MerchantReaders | undefined;
  /** Revenue assurance (issue 13): the operator's reconciliation, breakage and abuse-signal pages. */
  assurance?: Omit<AssurancePageDeps, 'clock' | 'billingTimezone' | 'sponsorName'> | undefined;
  /** Issue 14: the tenants' webhook endpoints and delivery logs (`src/webhooks/service.ts`). */
  webhooks?: WebhookService | undefined;
  /** Usage alerts (issue 14): a sponsor's rules and their states. */
  alerts?: AlertRules | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The browser session under /app (null when signed out); distinct from the API's bearer `principal`. */
    webSession: WebSession | null;
    /** A session cookie came with the request but no longer holds (expired, forged, key revoked). */
    webSessionEnded: boolean;
  }
}

// 'unsafe-inline' for styles only: ECharts and the invoice's print stylesheet set styles inline; no inline script runs.
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Error codes whose message is the page's own translation. */
const PAGE_ERRORS = ['forbidden', 'notFound', 'csrfRefused'] as const satisfies readonly MessageKey[];

export function webRoutes(app: FastifyZodInstance, deps: WebDeps): void {
  app.register(async (web) => webPlugin(web, deps), { prefix: '/app' });
}

async function webPlugin(web: FastifyInstance, deps: WebDeps): Promise<void> {
  const codec = createSessionCodec(deps.adminToken);
  const sessions = createSessionStore(deps.pool);
  const kit = createPageKit(codec, deps.catalog);
  const { context, requireSession, sendPage, cookieOptions } = kit;
  const usage = createUsageQuery({ pool: deps.pool, catalog: deps.catalog, clock: deps.clock });
  const timezone = () => deps.catalog().billing.timezone;
  const topVehicles = createTopVehiclesCache(deps.pool);

  await web.register(fastifyCookie);
  // HTML forms post application/x-www-form-urlencoded; parsed here only, the JSON API is unaffected.
  web.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
  web.decorateRequest('webSession', null);
  web.decorateRequest('webSessionEnded', false);

  web.addHook('onRequest', async (request) => {
    request.webSession = null;
    request.webSessionEnded = false;
    if (request.url.startsWith('/app/assets/')) return;
    const token = request.cookies[SESSION_COOKIE];
    if (token === undefined) return;
    const now = deps.clock.now();
    const session = codec.read(token, now);
    // The signature is checked first (a forged cookie costs no query), then the server's word: not logged
    // out, and for a sponsor or merchant its key not revoked — either is seen on the next request.
    const live = session && (await sessions.isLive(session, now));
    if (session && live) request.webSession = session;
    else request.webSessionEnded = true;
  });

  // Every page's declared audience (src/api/audience.ts), judged on the session, not on a bearer token (the
  // API's own guard leaves these routes alone): signed out → the sign-in page; outside the audience or on
  // another tenant's id → 403. The handlers' scope checks below then find the objects (404).
  web.addHook('onRoute', (route) => {
    route.config = { ...route.config, sessionGuard: true };
  });
  web.addHook('onRequest', async (request, reply) => {
    const audience = request.routeOptions.config.audience;
    if (!audience) {
      if (request.is404) return;
      throw refuse('forbidden', 403);
    }
    const decision = decideAudience(audience, request.routeOptions.url ?? '', request.webSession, request.params);
    if (decision === 'forbidden') throw refuse('forbidden', 403);
    if (decision === 'unauthenticated') {
      requireSession(request, reply);
      return reply;
    }
  });

  web.addHook('onSend', async (request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-frame-options', 'DENY');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    if (!request.url.startsWith('/app/assets/')) reply.header('cache-control', 'no-store');
    if (request.webSessionEnded) reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
  });

  web.setErrorHandler((error: FastifyError, request, reply) => {
    const ctx = context(request);
    if (error instanceof AppError) {
      const known = PAGE_ERRORS.find((code) => code === error.code);
      // The API's rate limiter (an app-wide hook) also guards these pages; its message is the API's.
      const message = known ? ctx.t(known) : error.code === 'RATE_LIMITED' ? ctx.t('rateLimited') : error.message;
      return sendPage(reply, errorPage(ctx, message), error.statusCode);
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'web request failed');
    return sendPage(reply, errorPage(ctx, status >= 500 ? ctx.t('internalError', { id: request.id }) : error.message), status);
  });
  web.setNotFoundHandler((request, reply) => sendPage(reply, errorPage(context(request), context(request).t('notFound')), 404));

  signInPages(web, kit, deps, sessions, codec);
  sponsorPages(web, kit, deps, usage, topVehicles);
  if (deps.merchantPortal) {
    merchantPages(web, kit, { pool: deps.pool, readers: deps.merchantPortal, clock: deps.clock, timezone, currency: () => deps.catalog().billing.currency });
  }
  if (deps.assurance) {
    assurancePages(web, kit, { ...deps.assurance, clock: deps.clock, billingTimezone: timezone, sponsorName: (id) => deps.catalog().sponsors.find((s) => s.id === id)?.name ?? null });
  }
  if (deps.webhooks) webhookPages(web, kit, deps.webhooks, deps.merchantPortal);
  if (deps.alerts) alertPages(web, kit, { rules: deps.alerts, catalog: deps.catalog, merchants: deps.merchantPortal });
  adminPages(web, kit, deps, usage);
  // Issue 14: the operator console (admin) and a sponsor's search, vehicle pages and accrual.
  consolePages(web, kit, deps, usage, createConsoleReaders({ pool: deps.pool, readers: deps.merchantPortal, catalog: deps.catalog }));
  assetRoutes(web);
}
