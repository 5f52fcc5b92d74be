import { html, type Html } from '../html.js';
import { LANGUAGE_NAMES, LANGUAGES, type Language, type Translate } from '../i18n.js';
import type { WebSession } from '../session.js';

/** What every page needs to render its frame: the language, who is signed in, and where we are. */
export interface PageContext {
  t: Translate;
  lang: Language;
  session: WebSession | null;
  /** The session's anti-CSRF token for forms that change state; null when signed out. */
  csrf: string | null;
  /** This request's path and query, where a language switch returns to. */
  here: string;
  /** The sponsor whose pages are shown, for the navigation. */
  sponsor?: { id: string; name: string };
  /** The merchant whose portal is shown, for the navigation. */
  merchant?: { id: string; name: string };
  /** The billing timezone, for instants shown to people (pages that show instants set it). */
  timeZone?: string;
  /** Which navigation entry is current. */
  current?: 'dashboard' | 'invoices' | 'explain' | 'admin' | 'dead-letters' | 'sims' | 'orders' | 'statements' | 'reconciliation' | 'breakage' | 'signals' | 'webhooks' | 'alerts' | 'console' | 'console-sponsors' | 'console-merchants' | 'accrual';
}

/** Where a session starts: the admin view, or the sponsor's dashboard, or the merchant's portal. */
export function homeOf(session: WebSession | null): string {
  if (!session) return '/app/login';
  if (session.kind === 'admin') return '/app/admin';
  return session.kind === 'sponsor' ? `/app/sponsors/${session.sponsorId}` : `/app/merchants/${session.merchantId}`;
}

export const csrfField = (ctx: PageContext): Html => (ctx.csrf ? html`<input type="hidden" name="csrf" value="${ctx.csrf}">` : html``);

function navigation(ctx: PageContext): Html {
  const { t } = ctx;
  const link = (key: PageContext['current'], href: string, label: string) => html`<a href="${href}"${key === ctx.current ? html` aria-current="page"` : html``}>${label}</a>`;
  const items: Html[] = [];
  if (ctx.session?.kind === 'admin') {
    items.push(link('admin', '/app/admin', t('navAdmin')), link('dead-letters', '/app/admin/dead-letters', t('navDeadLetters')));
    items.push(link('console', '/app/console', t('navConsole')), link('console-sponsors', '/app/console/sponsors', t('navConsoleSponsors')), link('console-merchants', '/app/console/merchants', t('navConsoleMerchants')));
    items.push(link('reconciliation', '/app/admin/reconciliation', t('navReconciliation')), link('breakage', '/app/admin/breakage', t('navBreakage')), link('signals', '/app/admin/abuse-signals', t('navSignals')));
  }
  if (ctx.sponsor) {
    const base = `/app/sponsors/${ctx.sponsor.id}`;
    items.push(link('dashboard', base, t('navDashboard')), link('invoices', `${base}/invoices`, t('navInvoices')), link('explain', `${base}/explain`, t('navExplain')));
    items.push(link('signals', `${base}/abuse-signals`, t('navSignals')), link('webhooks', `${base}/webhooks`, t('navWebhooks')));
    items.push(link('alerts', `${base}/alerts`, t('navAlerts')));
    items.push(link('accrual', `${base}/accrual`, t('navAccrual')));
  }
  if (ctx.merchant) {
    const base = `/app/merchants/${ctx.merchant.id}`;
    items.push(link('sims', `${base}/sims`, t('navSims')), link('orders', `${base}/orders`, t('navOrders')), link('statements', `${base}/statements`, t('navStatements')));
    items.push(link('alerts', `${base}/alerts`, t('navAlerts')), link('webhooks', `${base}/webhooks`, t('navWebhooks')));
  }
  return html`<nav>${items}</nav>`;
}

function who(ctx: PageContext): Html {
  const { t, session } = ctx;
  if (!session) return html``;
  const viewing = ctx.sponsor ? ` · ${t('viewingSponsor', { sponsor: ctx.sponsor.id })}` : ctx.merchant ? ` · ${t('viewingMerchant', { merchant: ctx.merchant.id })}` : '';
  const text =
    session.kind === 'admin' ? t('signedInAsAdmin') + viewing : session.kind === 'sponsor' ? t('signedInAsSponsor', { sponsor: session.sponsorId }) : t('signedInAsMerchant', { merchant: session.merchantId });
  return html`<span class="who" id="who">${text}</span>
    <form method="post" action="/app/logout">${csrfField(ctx)}<button type="submit" id="logout">${t('logout')}</button></form>`;
}

/** Where a search goes: the admin's console or the sponsor's own pages. */
export function searchAction(ctx: PageContext): string | null {
  const session = ctx.session;
  if (!session) return null;
  if (session.kind === 'admin') return '/app/console/search';
  if (session.kind === 'sponsor') return `/app/sponsors/${session.sponsorId}/search`;
  return null;
}

/** The search box of the page header (signed-in admin and sponsor). */
export function searchBox(ctx: PageContext, value = '', id = 'console-search'): Html {
  const action = searchAction(ctx);
  if (!action) return html``;
  return html`<form method="get" action="${action}" class="search" role="search" id="${id}-form"><input type="search" name="q" id="${id}" value="${value}" maxlength="128" placeholder="${ctx.t('consoleSearchPlaceholder')}" aria-label="${ctx.t('consoleSearchLabel')}"><button type="submit" id="${id}-go">${ctx.t('consoleSearchGo')}</button></form>`;
}

function languageSwitch(ctx: PageContext): Html {
  const buttons = LANGUAGES.map(
    (lang) => html`<button type="submit" name="lang" value="${lang}" id="lang-${lang}" lang="${lang}" aria-pressed="${lang === ctx.lang ? 'true' : 'false'}">${LANGUAGE_NAMES[lang]}</button>`,
  );
  return html`<form method="post" action="/app/lang" aria-label="${ctx.t('languageLabel')}">${csrfField(ctx)}<input type="hidden" name="back" value="${ctx.here}">${buttons}</form>`;
}

export function layout(ctx: PageContext, title: string, body: Html, options: { scripts?: string[] } = {}): string {
  const home = homeOf(ctx.session);
  return html`<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${ctx.t('appTitle')}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app/assets/app.css">
</head>
<body>
<header class="top">
  <a class="brand" href="${home}">${ctx.t('appTitle')}</a>
  ${navigation(ctx)}
  ${searchBox(ctx)}
  ${ctx.session ? who(ctx) : html`<span class="who"></span>`}
  ${languageSwitch(ctx)}
</header>
<main>
${body}
</main>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</body>
</html>`.value;
}

export function errorPage(ctx: PageContext, message: string): string {
  return layout(ctx, ctx.t('errorTitle'), html`<h1>${ctx.t('errorTitle')}</h1><div class="alert error" role="alert" id="error">${message}</div>`);
}
