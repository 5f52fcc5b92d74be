import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { ApiKeyStore } from '../api/api-keys.js';
import { decideAudience } from '../api/audience.js';
import { EpochSchema, IdSchema, RowIdSchema, SeqSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import { renderInvoiceHtml } from '../billing/invoice-html.js';
import type { InvoiceQueries } from '../billing/invoices.js';
import type { DayLine } from '../billing/schemas.js';
import { createUsageQuery } from '../billing/usage-query.js';
import type { Catalog } from '../catalog/index.js';
import { listDeadLetters } from '../ledger/dead-letter-routes.js';
import { findRecordExplanation, sponsorView } from '../ledger/explain-query.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { AppError } from '../shared/errors.js';
import { checkVin } from '../shared/identifiers.js';
import { PROJECT_ROOT } from '../shared/paths.js';
import { dayOf, daysInMonth, formatInstant, isMonth, monthOf, nextMonth, parseMonth, previousMonth, startOfMonth } from '../shared/time.js';
import { capUtilisation, createTopVehiclesCache, ingestHealth } from './dashboard-query.js';
import { isLanguage, languageFromAcceptLanguage, translator, type Language, type MessageKey } from './i18n.js';
import { invoiceLinesCsv, invoiceVehicleUsageCsv } from '../billing/invoice-csv.js';
import { merchantPages } from './merchant-routes.js';
import { assurancePages, type AssurancePageDeps } from './assurance-routes.js';
import type { MerchantReaders } from './merchant-query.js';
import { adminPage, deadLettersPage } from './pages/admin.js';
import { dashboardPage, type DailySeries } from './pages/dashboard.js';
import { explainPage, type ExplainForm } from './pages/explain.js';
import { invoicesPage } from './pages/invoices.js';
import { errorPage, homeOf, type PageContext } from './pages/layout.js';
import { loginPage } from './pages/login.js';
import { createSessionStore } from './session-store.js';
import { createSessionCodec, isSameOrigin, safeReturnPath, SESSION_TTL_MS, type WebIdentity, type WebSession } from './session.js';
import { STYLESHEET } from './styles.js';

/**
 * The sponsor dashboard and the admin view (issue 4), server-rendered under `/app`: month-to-date usage by
 * app, a daily chart, cap utilisation, top vehicles, invoices (printable, CSV) and "explain this charge";
 * and the merchant portal (issue 5, merchant-routes.ts): cards, orders, monthly statements.
 * Reads only what the JSON API reads (rollups, invoices, one record for explain) through the same queries,
 * so the page and the API cannot disagree. Signed-in state is a signed cookie (session.ts) naming a row of
 * `web_sessions` (session-store.ts), so logging out ends a session on the server.
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
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The browser session under /app (null when signed out); distinct from the API's bearer `principal`. */
    webSession: WebSession | null;
    /** A session cookie came with the request but no longer holds (expired, forged, key revoked). */
    webSessionEnded: boolean;
  }
}

export const SESSION_COOKIE = 'tbx_session';
export const LANGUAGE_COOKIE = 'tbx_lang';
const TOP_VEHICLES = 10;
const DEAD_LETTERS_PER_PAGE = 50;

// 'unsafe-inline' for styles only: ECharts and the invoice's print stylesheet set styles inline; no inline script runs.
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SponsorParams = z.object({ id: IdSchema });
const InvoiceParams = SponsorParams.extend({ invoiceId: RowIdSchema });
// Query strings come from links and forms: a parameter that is not one string (absent, repeated) counts as
// absent, never as an error; what a value means is then judged by the API's own schemas and rules.
const QueryText = z.string().optional().catch(undefined);
const LoginQuery = z.object({ next: QueryText, ended: QueryText, bye: QueryText });
const MonthQuery = z.object({ month: QueryText });
const ExplainQuery = z.object({ vin: QueryText, seq: QueryText, epoch: QueryText });
const DeadLettersQuery = z.object({ before: z.string().regex(/^[1-9]\d{0,17}$/).optional().catch(undefined) });
/** Error codes whose message is the page's own translation. */
const PAGE_ERRORS = ['forbidden', 'notFound', 'csrfRefused'] as const satisfies readonly MessageKey[];
const LoginBody = z.object({ key: z.string().max(200).default(''), next: z.string().max(512).optional() });
const CsrfBody = z.object({ csrf: z.string().max(100).optional() });
const LanguageBody = CsrfBody.extend({ lang: z.string().max(10), back: z.string().max(512).optional() });

const digest = (value: string) => createHash('sha256').update(value).digest();
const refuse = (code: MessageKey, status: number) => new AppError(code, code, status);

export function webRoutes(app: FastifyZodInstance, deps: WebDeps): void {
  app.register(async (web) => webPlugin(web, deps), { prefix: '/app' });
}

async function webPlugin(web: FastifyInstance, deps: WebDeps): Promise<void> {
  const codec = createSessionCodec(deps.adminToken);
  const sessions = createSessionStore(deps.pool);
  const adminDigest = digest(deps.adminToken);
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

  // ---- page context, guards, errors -------------------------------------------------------------------

  function languageOf(request: FastifyRequest): Language {
    // cookies is null when a hook before the cookie parser failed and the error page is being drawn
    const chosen = request.cookies?.[LANGUAGE_COOKIE];
    return isLanguage(chosen) ? chosen : languageFromAcceptLanguage(request.headers['accept-language']);
  }

  function context(request: FastifyRequest, extra: Partial<PageContext> = {}): PageContext {
    const lang = languageOf(request);
    const session = request.webSession;
    return { t: translator(lang), lang, session, csrf: session ? codec.csrfToken(session) : null, here: request.url, ...extra };
  }

  /** The host as the browser addressed it: `Host`, or `X-Forwarded-Host` from a proxy named in TRUST_PROXY. */
  function sameOrigin(request: FastifyRequest): boolean {
    return isSameOrigin({ origin: request.headers.origin, referer: request.headers.referer, host: request.host });
  }

  /** `Secure` when the browser came over https: the socket's TLS, or X-Forwarded-Proto from a trusted proxy. */
  function cookieOptions(request: FastifyRequest) {
    return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: request.protocol === 'https' };
  }

  /** Signed in, or a redirect to the sign-in page that comes back here afterwards. */
  function requireSession(request: FastifyRequest, reply: FastifyReply): WebSession | null {
    if (request.webSession) return request.webSession;
    const query = new URLSearchParams({ next: request.url });
    if (request.webSessionEnded) query.set('ended', '1');
    void reply.redirect(`/app/login?${query.toString()}`, 303);
    return null;
  }

  /**
   * DESIGN 5 scoping, as the API does it: another sponsor's page is 403; an unknown sponsor is 404 (admin).
   * A merchant session has no sponsor pages at all (403).
   */
  function sponsorScope(request: FastifyRequest, session: WebSession): { id: string; name: string } {
    const params = SponsorParams.safeParse(request.params);
    if (session.kind === 'merchant') throw refuse('forbidden', 403);
    if (session.kind === 'sponsor' && (!params.success || params.data.id !== session.sponsorId)) throw refuse('forbidden', 403);
    const sponsor = params.success ? deps.catalog().sponsors.find((s) => s.id === params.data.id) : undefined;
    if (!sponsor) throw refuse('notFound', 404);
    return { id: sponsor.id, name: sponsor.name };
  }

  function requireAdminSession(session: WebSession): void {
    if (session.kind !== 'admin') throw refuse('forbidden', 403);
  }

  /** Every state-changing request: same-origin headers, and the session's token when signed in. */
  function checkCsrf(request: FastifyRequest, body: { csrf?: string | undefined }): void {
    if (!sameOrigin(request)) throw refuse('csrfRefused', 403);
    if (request.webSession && !codec.checkCsrfToken(request.webSession, body.csrf)) throw refuse('csrfRefused', 403);
  }

  const sendPage = (reply: FastifyReply, page: string, status = 200) => reply.status(status).type('text/html; charset=utf-8').send(page);

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

  // Who may open each page (src/api/audience.ts); hidden from the OpenAPI document.
  const forAnyone = { schema: { hide: true }, config: { audience: ['public'] as const } };
  const forSponsors = { schema: { hide: true }, config: { audience: ['admin', 'sponsor'] as const } };
  const forAdmin = { schema: { hide: true }, config: { audience: ['admin'] as const } };

  // ---- sign-in, sign-out, language ------------------------------------------------------------------

  web.get('/', forAnyone, async (request, reply) => reply.redirect(request.webSession ? homeOf(request.webSession) : '/app/login', 303));

  web.get('/login', forAnyone, async (request, reply) => {
    const query = LoginQuery.parse(request.query ?? {});
    const next = safeReturnPath(query.next, '');
    if (request.webSession) return reply.redirect(next || homeOf(request.webSession), 303);
    const ctx = context(request);
    const info = query.ended === '1' || request.webSessionEnded ? ctx.t('sessionEnded') : query.bye === '1' ? ctx.t('loggedOut') : undefined;
    return sendPage(reply, loginPage(ctx, { next, ...(info ? { info } : {}) }));
  });

  web.post('/login', forAnyone, async (request, reply) => {
    // Login CSRF: only a form of this site may sign a browser in.
    if (!sameOrigin(request)) throw refuse('csrfRefused', 403);
    const body = LoginBody.safeParse(request.body ?? {});
    const key = body.success ? body.data.key.trim() : '';
    const next = safeReturnPath(body.success ? body.data.next : undefined, '');
    let who: WebIdentity | null = null;
    if (key && timingSafeEqual(digest(key), adminDigest)) who = { kind: 'admin' };
    else if (key) {
      const owner = await deps.apiKeys.verify(key);
      if (owner?.ownerKind === 'sponsor' && deps.catalog().sponsors.some((s) => s.id === owner.ownerId)) who = { kind: 'sponsor', sponsorId: owner.ownerId, keyId: owner.keyId };
      // A merchant key opens the portal of its merchant, when this instance has one and the merchant exists.
      if (owner?.ownerKind === 'merchant' && deps.merchantPortal && (await deps.merchantPortal.merchants.find(owner.ownerId))) who = { kind: 'merchant', merchantId: owner.ownerId, keyId: owner.keyId };
    }
    if (!who) {
      request.log.info({ event: 'web_sign_in_failed' }, 'web sign-in refused');
      const ctx = context(request);
      return sendPage(reply, loginPage(ctx, { next, error: ctx.t('loginFailed') }), 401);
    }
    const now = deps.clock.now();
    const { token, session } = codec.issue(who, now);
    await sessions.open(session, now);
    const tenant = who.kind === 'sponsor' ? { sponsor: who.sponsorId, keyId: who.keyId } : who.kind === 'merchant' ? { merchant: who.merchantId, keyId: who.keyId } : {};
    request.log.info({ event: 'web_sign_in', kind: who.kind, ...tenant }, 'web sign-in');
    reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions(request), maxAge: SESSION_TTL_MS / 1000 });
    request.webSessionEnded = false;
    return reply.redirect(next || homeOf(session), 303);
  });

  web.post('/logout', forAnyone, async (request, reply) => {
    checkCsrf(request, CsrfBody.safeParse(request.body ?? {}).data ?? {});
    // Ended on the server: the cookie, should a copy of it survive, opens nothing any more.
    if (request.webSession) {
      await sessions.revoke(request.webSession, deps.clock.now());
      request.log.info({ event: 'web_sign_out', kind: request.webSession.kind }, 'web sign-out');
    }
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    return reply.redirect('/app/login?bye=1', 303);
  });

  web.post('/lang', forAnyone, async (request, reply) => {
    const body = LanguageBody.safeParse(request.body ?? {});
    checkCsrf(request, body.data ?? {});
    if (body.success && isLanguage(body.data.lang)) {
      reply.setCookie(LANGUAGE_COOKIE, body.data.lang, { ...cookieOptions(request), maxAge: 365 * 86_400 });
    }
    return reply.redirect(safeReturnPath(body.data?.back, '/app'), 303);
  });

  // ---- sponsor pages ----------------------------------------------------------------------------------

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
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${invoice.number}-lines.csv"`).send(invoiceLinesCsv(invoice));
  });

  web.get('/sponsors/:id/invoices/:invoiceId/usage.csv', forSponsors, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    const invoice = await loadInvoice(request, session);
    reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${invoice.number}-usage.csv"`);
    return reply.send(Readable.from(invoiceVehicleUsageCsv(deps.pool, invoice)));
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

  // ---- merchant portal (merchant-routes.ts) ----------------------------------------------------------

  if (deps.merchantPortal) {
    merchantPages(web, { context, requireSession, sendPage }, { pool: deps.pool, readers: deps.merchantPortal, clock: deps.clock, timezone, currency: () => deps.catalog().billing.currency });
  }

  if (deps.assurance) {
    assurancePages(web, { context, requireSession, sendPage }, { ...deps.assurance, clock: deps.clock, billingTimezone: timezone, sponsorName: (id) => deps.catalog().sponsors.find((s) => s.id === id)?.name ?? null });
  }

  // ---- admin pages ------------------------------------------------------------------------------------

  web.get('/admin', forAdmin, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    requireAdminSession(session);
    const catalog = deps.catalog();
    const month = monthOf(deps.clock.now(), catalog.billing.timezone);
    const [sponsors, merchants, health] = await Promise.all([
      Promise.all(
        catalog.sponsors.map(async (s) => {
          const u = await usage.appUsage(s.id, month);
          return { id: s.id, name: s.name, kind: s.kind, totalBytes: u.totalBytes, totalAmount: u.totalAmount };
        }),
      ),
      deps.merchantPortal ? deps.merchantPortal.merchants.list() : null,
      ingestHealth(deps.pool, deps.metrics),
    ]);
    return sendPage(reply, adminPage(context(request, { current: 'admin' }), { month, currency: catalog.billing.currency, sponsors, merchants, health }));
  });

  web.get('/admin/dead-letters', forAdmin, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    requireAdminSession(session);
    const beforeId = DeadLettersQuery.parse(request.query ?? {}).before ?? null;
    const page = await listDeadLetters(deps.pool, { limit: DEAD_LETTERS_PER_PAGE, before: beforeId, timezone: timezone() });
    const last = page.deadLetters.at(-1);
    return sendPage(
      reply,
      deadLettersPage(context(request, { current: 'dead-letters' }), {
        deadLetters: page.deadLetters,
        olderHref: page.nextCursor && last ? `/app/admin/dead-letters?before=${last.id}` : null,
        first: beforeId === null,
      }),
    );
  });

  // ---- assets -----------------------------------------------------------------------------------------

  const assets = new Map<string, Promise<Buffer>>();
  const asset = (file: string) => {
    let content = assets.get(file);
    if (!content) {
      content = readFile(file);
      // A failed read is not cached: the next request tries again.
      content.catch(() => assets.delete(file));
      assets.set(file, content);
    }
    return content;
  };
  const echartsFile = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');
  // Plain browser JavaScript, served from the source tree (tsc does not copy it to dist/).
  const dashboardFile = path.join(PROJECT_ROOT, 'src', 'web', 'assets', 'dashboard.js');
  const serveAsset = (file: string) => async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(await asset(file));

  web.get('/assets/echarts.min.js', forAnyone, serveAsset(echartsFile));
  web.get('/assets/dashboard.js', forAnyone, serveAsset(dashboardFile));
  web.get('/assets/app.css', forAnyone, async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET));
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
