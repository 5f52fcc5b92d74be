import type { InvoiceView } from '../../einvoice/schemas.js';
import type { SettlementTotals } from '../../sims/settlement.js';
import type { MaskedSubject } from '../../realname/schemas.js';
import { SIM_STATES, type SimState } from '../../sims/state-machine.js';
import type { OrderView, SimEventView, SimView } from '../../sims/schemas.js';
import { formatMoney, formatRate, formatWhen } from '../format.js';
import { html, type Html } from '../html.js';
import { layout, type PageContext } from './layout.js';

/**
 * The merchant portal (DESIGN 6, issue 5): cards, orders and monthly statements of one merchant. Every value
 * comes from the API's own views (`sims/views.ts`, `einvoice/service.ts`), which mask personal data; these
 * templates add no personal data of their own and escape everything they print.
 */

/** The page context of a merchant's portal: the merchant is always known there. */
export type MerchantPageContext = PageContext & Required<Pick<PageContext, 'merchant'>>;

export interface MonthNavigation {
  month: string;
  previousMonth: string;
  /** null when the next month has not started */
  nextMonth: string | null;
}

export interface Pagination {
  /** the next page's URL, null on the last page */
  nextHref: string | null;
  /** the first page's URL, null on the first page */
  firstHref: string | null;
}


export const when = (ctx: PageContext, instant: string | null | undefined): Html => (instant ? html`<time datetime="${instant}">${formatWhen(instant, ctx.timeZone)}</time>` : html`—`);

function heading(ctx: PageContext, title: string): Html {
  const merchant = ctx.merchant;
  return html`<h1>${title}${merchant ? html` <small>${merchant.name} · <span class="mono">${merchant.id}</span></small>` : html``}</h1>`;
}

function monthToolbar(ctx: PageContext, base: string, nav: MonthNavigation): Html {
  const { t } = ctx;
  return html`<div class="toolbar">
  <a href="${base}?month=${nav.previousMonth}" id="previous-month">${t('previousMonth')}</a>
  <form method="get" action="${base}" class="inline"><label>${t('monthLabel')}<input type="month" name="month" value="${nav.month}" id="month"></label><button class="primary" type="submit" id="show-month">${t('show')}</button></form>
  ${nav.nextMonth ? html`<a href="${base}?month=${nav.nextMonth}" id="next-month">${t('nextMonth')}</a>` : html``}
</div>`;
}

function pager(ctx: PageContext, page: Pagination): Html {
  if (!page.firstHref && !page.nextHref) return html``;
  return html`<p class="toolbar">${page.firstHref ? html`<a href="${page.firstHref}" id="first-page">${ctx.t('firstPage')}</a>` : html``}${page.nextHref ? html`<a href="${page.nextHref}" id="next-page">${ctx.t('nextPage')}</a>` : html``}</p>`;
}

const isSimState = (value: string): value is SimState => (SIM_STATES as readonly string[]).includes(value);
const INVOICE_STATUSES = ['pending', 'issued', 'rejected'] as const;
const isInvoiceStatus = (value: string): value is (typeof INVOICE_STATUSES)[number] => (INVOICE_STATUSES as readonly string[]).includes(value);

/** A card state (audit rows carry it as text: an unknown one is shown as stored). */
export const stateBadge = (ctx: PageContext, state: string): Html => html`<span class="badge state-${state}">${isSimState(state) ? ctx.t(`state_${state}`) : state}</span>`;
const invoiceStatus = (ctx: PageContext, status: string): Html => html`<span class="badge einv-${status}">${isInvoiceStatus(status) ? ctx.t(`einvStatus_${status}`) : status}</span>`;

/** Status and type of a real-name subject, with its masked name and number when there is one. */
function subjectSummary(ctx: PageContext, subject: MaskedSubject): Html {
  const { t } = ctx;
  return html`<span class="badge rn-${subject.status}">${t(`rn_${subject.status}`)}</span>${subject.type ? html` ${t(`subject_${subject.type}`)}` : html``}${
    subject.name ? html`<br><small>${subject.name}${subject.idNumber ? html` · <span class="mono">${subject.idNumber}</span>` : html``}</small>` : html``
  }`;
}

export function subjectFacts(ctx: PageContext, title: string, subject: MaskedSubject, id: string): Html {
  const { t } = ctx;
  return html`<section class="card" id="${id}" data-status="${subject.status}"><h2>${title}</h2><dl class="facts">
  <dt>${t('status')}</dt><dd><span class="badge rn-${subject.status}">${t(`rn_${subject.status}`)}</span>${subject.reason ? html` <small>${t('rejectedBecause', { reason: subject.reason })}</small>` : html``}</dd>
  <dt>${t('kind')}</dt><dd>${subject.type ? t(`subject_${subject.type}`) : '—'}</dd>
  <dt>${t('subjectName')}</dt><dd>${subject.name ?? '—'}</dd>
  <dt>${t('idNumber')}</dt><dd class="mono">${subject.idNumber ?? '—'}</dd>
  ${subject.agent ? html`<dt>${t('agent')}</dt><dd>${subject.agent.name} · <span class="mono">${subject.agent.idNumber}</span></dd>` : html``}
  <dt>${t('verifiedAt')}</dt><dd>${when(ctx, subject.verifiedAt)}</dd>
</dl></section>`;
}

export function simsPage(ctx: MerchantPageContext, view: { sims: SimView[]; state: SimState | null; page: Pagination }): string {
  const { t } = ctx;
  const base = `/app/merchants/${ctx.merchant.id}/sims`;
  const options = [html`<option value="">${t('allStates')}</option>`, ...SIM_STATES.map((s) => html`<option value="${s}"${s === view.state ? html` selected` : html``}>${t(`state_${s}`)}</option>`)];
  const body =
    view.sims.length === 0
      ? html`<p id="no-sims">${t('noSims')}</p>`
      : html`<table id="sims"><thead><tr><th>${t('iccid')}</th><th>${t('state')}</th><th>${t('vin')}</th><th>${t('serviceUntil')}</th><th>${t('responsibleSubject')}</th><th>${t('vehicleUser')}</th></tr></thead>
<tbody>${view.sims.map(
          (sim) => html`<tr data-iccid="${sim.iccid}" data-state="${sim.state}" data-service-until="${sim.serviceUntil ?? ''}" data-real-name="${sim.realName.status}"${sim.owner ? html` data-owner="${sim.owner.status}"` : html``}>
  <td class="mono"><a href="${base}/${sim.iccid}">${sim.iccid}</a></td><td>${stateBadge(ctx, sim.state)}</td><td class="mono">${sim.vin ?? '—'}</td><td>${when(ctx, sim.serviceUntil)}</td>
  <td>${subjectSummary(ctx, sim.realName)}</td><td>${sim.owner ? subjectSummary(ctx, sim.owner) : '—'}</td></tr>`,
        )}</tbody></table>`;
  return layout(
    ctx,
    t('simsTitle'),
    html`${heading(ctx, t('simsTitle'))}
<form method="get" action="${base}" class="inline toolbar"><label>${t('stateFilter')}<select name="state" id="state">${options}</select></label><button class="primary" type="submit" id="filter">${t('filter')}</button></form>
<section class="card">${body}${pager(ctx, view.page)}<p class="note">${t('simsNote')}</p></section>`,
  );
}

export function simPage(ctx: PageContext, sim: SimView, events: SimEventView[]): string {
  const { t } = ctx;
  const fact = (label: string, value: Html | string | null, id?: string) => html`<dt>${label}</dt><dd${id ? html` id="${id}"` : html``}>${value ?? '—'}</dd>`;
  const trail =
    events.length === 0
      ? html`<p>${t('noEvents')}</p>`
      : html`<table id="events"><thead><tr><th>${t('when')}</th><th>${t('event')}</th><th>${t('transition')}</th><th>${t('actor')}</th><th>${t('reason')}</th></tr></thead>
<tbody>${events.map((e) => html`<tr data-event="${e.event}"><td>${when(ctx, e.at)}</td><td class="mono">${e.event}</td><td>${e.from ? html`${stateBadge(ctx, e.from)} → ` : html``}${stateBadge(ctx, e.to)}</td><td class="mono">${e.actor}</td><td>${e.reason}</td></tr>`)}</tbody></table>`;
  return layout(
    ctx,
    t('simTitle', { iccid: sim.iccid }),
    html`${heading(ctx, t('simTitle', { iccid: sim.iccid }))}
<div class="grid">
<section class="card" id="sim" data-iccid="${sim.iccid}" data-state="${sim.state}" data-service-until="${sim.serviceUntil ?? ''}"><h2>${t('iccid')} <span class="mono">${sim.iccid}</span></h2><dl class="facts">
  ${fact(t('state'), stateBadge(ctx, sim.state), 'sim-state')}
  ${fact(t('vin'), sim.vin)}${fact(t('imsi'), sim.imsi)}${fact(t('msisdn'), sim.msisdn)}
  ${fact(t('activatedAt'), when(ctx, sim.activatedAt))}${fact(t('serviceUntil'), when(ctx, sim.serviceUntil), 'service-until')}
</dl></section>
${subjectFacts(ctx, t('responsibleSubject'), sim.realName, 'real-name')}
${sim.owner ? subjectFacts(ctx, t('vehicleUser'), sim.owner, 'owner') : html``}
</div>
<section class="card"><h2>${t('auditTrail')}</h2>${trail}</section>
<p class="note">${t('simsNote')}</p>`,
  );
}

function invoiceBadges(ctx: PageContext, einvoices: OrderView['einvoices']): Html {
  const { t } = ctx;
  if (einvoices.length === 0) return html`—`;
  return html`${einvoices.map(
    (e) => html`<div class="einvoice" data-einvoice-kind="${e.kind}" data-einvoice-status="${e.status}" data-einvoice-number="${e.number ?? ''}">${t(`einvKind_${e.kind}`)} ${invoiceStatus(ctx, e.status)}${e.number ? html` <span class="mono">${e.number}</span>` : html``}</div>`,
  )}`;
}

const orderStatus = (ctx: PageContext, order: OrderView): Html =>
  html`<span class="badge order-${order.status}">${ctx.t(`orderStatus_${order.status}`)}</span>${order.refundedAt ? html`<br><small>${when(ctx, order.refundedAt)}</small>` : html``}`;

export function ordersPage(ctx: MerchantPageContext, view: { nav: MonthNavigation; orders: OrderView[]; page: Pagination }): string {
  const { t } = ctx;
  const base = `/app/merchants/${ctx.merchant.id}`;
  const body =
    view.orders.length === 0
      ? html`<p id="no-orders">${t('noOrders')}</p>`
      : html`<table id="orders"><thead><tr><th>${t('externalOrderId')}</th><th>${t('kind')}</th><th>${t('iccid')}</th><th>${t('plan')}</th><th>${t('createdAt')}</th><th class="num">${t('retail')}</th><th class="num">${t('wholesale')}</th><th>${t('status')}</th><th>${t('einvoices')}</th></tr></thead>
<tbody>${view.orders.map(
          (o) => html`<tr data-order="${o.externalOrderId}" data-status="${o.status}" data-retail="${o.retail}" data-wholesale="${o.wholesale}">
  <td class="mono"><a href="${base}/orders/${encodeURIComponent(o.externalOrderId)}">${o.externalOrderId}</a></td><td>${t(`orderKind_${o.kind}`)}</td>
  <td class="mono"><a href="${base}/sims/${o.iccid}">${o.iccid}</a></td><td class="mono">${o.plan}</td><td>${when(ctx, o.createdAt)}</td>
  <td class="num">${formatMoney(o.retail, o.currency)}</td><td class="num">${formatMoney(o.wholesale, o.currency)}</td>
  <td>${orderStatus(ctx, o)}</td><td>${invoiceBadges(ctx, o.einvoices)}</td></tr>`,
        )}</tbody></table>`;
  return layout(
    ctx,
    `${t('ordersTitle')} · ${view.nav.month}`,
    html`${heading(ctx, `${t('ordersTitle')} · ${view.nav.month}`)}
${monthToolbar(ctx, `${base}/orders`, view.nav)}
<section class="card">${body}${pager(ctx, view.page)}<p class="note">${t('ordersNote')}</p></section>`,
  );
}

export function orderPage(ctx: MerchantPageContext, order: OrderView): string {
  const { t } = ctx;
  const base = `/app/merchants/${ctx.merchant.id}`;
  const fact = (label: string, value: Html | string | number | null) => html`<dt>${label}</dt><dd>${value ?? '—'}</dd>`;
  const invoices =
    order.einvoices.length === 0
      ? html`<p>${t('noEinvoicesForOrder')}</p>`
      : html`<table id="order-einvoices"><thead><tr><th>${t('documentKind')}</th><th>${t('number')}</th><th>${t('status')}</th><th class="num">${t('totalInclTax')}</th></tr></thead>
<tbody>${order.einvoices.map((e) => html`<tr data-einvoice-kind="${e.kind}" data-einvoice-status="${e.status}" data-einvoice-number="${e.number ?? ''}"><td>${t(`einvKind_${e.kind}`)}</td><td class="mono">${e.number ?? '—'}</td><td>${invoiceStatus(ctx, e.status)}</td><td class="num">${formatMoney(e.total, order.currency)}</td></tr>`)}</tbody></table>`;
  return layout(
    ctx,
    t('orderTitle', { id: order.externalOrderId }),
    html`${heading(ctx, t('orderTitle', { id: order.externalOrderId }))}
<div class="grid">
<section class="card" id="order" data-order="${order.externalOrderId}" data-status="${order.status}" data-retail="${order.retail}"><dl class="facts">
  ${fact(t('externalOrderId'), html`<span class="mono">${order.externalOrderId}</span>`)}${fact(t('kind'), t(`orderKind_${order.kind}`))}
  ${fact(t('iccid'), html`<a class="mono" href="${base}/sims/${order.iccid}">${order.iccid}</a>`)}
  ${fact(t('plan'), order.plan)}${fact(t('termMonths'), order.termMonths)}${fact(t('pack'), order.pack)}${fact(t('monthlyPack'), order.monthlyPack)}
  ${fact(t('retail'), formatMoney(order.retail, order.currency))}${fact(t('wholesale'), formatMoney(order.wholesale, order.currency))}${fact(t('taxRate'), formatRate(order.taxRate))}
  ${fact(t('buyer'), order.buyer.name)}${fact(t('buyerPhone'), order.buyer.phone)}
  ${fact(t('createdAt'), when(ctx, order.createdAt))}${fact(t('status'), orderStatus(ctx, order))}
</dl></section>
<section class="card"><h2>${t('einvoices')}</h2>${invoices}</section>
</div>`,
  );
}

export function statementPage(ctx: MerchantPageContext, view: { nav: MonthNavigation; currency: string; totals: SettlementTotals; einvoices: InvoiceView[] }): string {
  const { t } = ctx;
  const base = `/app/merchants/${ctx.merchant.id}`;
  const { totals, currency } = view;
  const money = (amount: string) => formatMoney(amount, currency);
  const figures: Array<[string, string, string]> = [
    ['gross', t('gross'), totals.gross],
    ['wholesale-cost', t('wholesaleCost'), totals.wholesaleCost],
    ['margin', t('margin'), totals.margin],
    ['refunds', t('refunds'), totals.refunds],
  ];
  const invoices =
    view.einvoices.length === 0
      ? html`<p id="no-einvoices">${t('noEinvoices')}</p>`
      : html`<table id="einvoices"><thead><tr><th>${t('number')}</th><th>${t('documentKind')}</th><th>${t('status')}</th><th>${t('externalOrderId')}</th><th>${t('buyer')}</th><th>${t('issuedAt')}</th><th class="num">${t('subtotal')}</th><th class="num">${t('tax')}</th><th class="num">${t('totalInclTax')}</th></tr></thead>
<tbody>${view.einvoices.map(
          (e) => html`<tr data-einvoice-number="${e.number ?? ''}" data-einvoice-kind="${e.kind}" data-einvoice-status="${e.status}" data-total="${e.total}">
  <td class="mono">${e.number ?? '—'}</td><td>${t(`einvKind_${e.kind}`)}${e.originalNumber ? html`<br><small>${t('reverses', { number: e.originalNumber })}</small>` : html``}</td>
  <td>${invoiceStatus(ctx, e.status)}</td>
  <td class="mono"><a href="${base}/orders/${encodeURIComponent(e.externalOrderId)}">${e.externalOrderId}</a></td><td>${e.buyer.name}</td><td>${when(ctx, e.issuedAt)}</td>
  <td class="num">${formatMoney(e.amount, e.currency)}</td><td class="num">${formatMoney(e.tax, e.currency)}</td><td class="num">${formatMoney(e.total, e.currency)}</td></tr>`,
        )}</tbody></table>`;
  return layout(
    ctx,
    t('statementTitle', { month: view.nav.month }),
    html`${heading(ctx, t('statementTitle', { month: view.nav.month }))}
${monthToolbar(ctx, `${base}/statements`, view.nav)}
<div class="kpis" id="statement" data-month="${view.nav.month}" data-currency="${currency}" data-orders="${totals.orders}" data-gross="${totals.gross}" data-wholesale-cost="${totals.wholesaleCost}" data-margin="${totals.margin}" data-refunds="${totals.refunds}">
  <div class="kpi" id="kpi-orders"><div class="label">${t('ordersCount')}</div><div class="value">${totals.orders}</div></div>
  ${figures.map(([id, label, amount]) => html`<div class="kpi" id="kpi-${id}" data-amount="${amount}"><div class="label">${label}</div><div class="value">${money(amount)}</div></div>`)}
</div>
<section class="card"><p class="note">${t('statementNote')}</p></section>
<section class="card"><h2>${t('monthEinvoices')}</h2>${invoices}</section>`,
  );
}
