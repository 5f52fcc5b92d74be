import type { SponsorKind } from '../../catalog/index.js';
import type { ControlRevision } from '../../controls/repository.js';
import type { ControlView } from '../../controls/schemas.js';
import type { RecentRecord } from '../../ledger/vehicle-records.js';
import type { OrderRow } from '../../sims/repository.js';
import type { OrderView, SimEventView, SimView } from '../../sims/schemas.js';
import type { VehicleBinding } from '../../vehicles/card-history.js';
import type { PackInstanceView } from '../../vehicles/schemas.js';
import type { SponsorVehicleConsole, VehicleConsole } from '../console-query.js';
import { formatBytesExact, formatMoney, formatPrice } from '../format.js';
import { html, type Html } from '../html.js';
import type { MessageKey } from '../i18n.js';
import { bytesCell } from './dashboard.js';
import { layout, searchBox, type PageContext } from './layout.js';
import { stateBadge, subjectFacts, when } from './merchant.js';

/**
 * The operator console (issue 14): search by VIN, ICCID or external order id; a vehicle page with its card,
 * real-name status (masked by the SIM module's views), packs, controls, recent records with their explain
 * links and the audit trail; a merchant's card; the lists of sponsors and merchants. A sponsor gets the
 * search and a vehicle page within its own scope, and its accrual. Every value is escaped by `html`.
 */

export type SearchOutcome =
  | { kind: 'empty' }
  | { kind: 'invalid'; message: string }
  | { kind: 'results'; query: string; vehicles: string[]; cards: string[]; orders: OrderRow[] };

export function searchPage(ctx: PageContext, outcome: SearchOutcome, links: { vehicle(vin: string): string; card?: (iccid: string) => string }, query: string): string {
  const { t } = ctx;
  let body: Html;
  if (outcome.kind === 'empty') body = html`<p class="note">${t('consoleSearchHelp')}</p>`;
  else if (outcome.kind === 'invalid') body = html`<div class="alert error" role="alert" id="search-error">${outcome.message}</div>`;
  else {
    const none = outcome.vehicles.length === 0 && outcome.cards.length === 0 && outcome.orders.length === 0;
    body = none
      ? html`<p id="no-results" class="alert info">${t('consoleNoResults', { query: outcome.query })}</p>`
      : html`<ul id="results">
${outcome.vehicles.map((vin) => html`<li data-result="vehicle" data-vin="${vin}">${t('vin')} <a class="mono" href="${links.vehicle(vin)}">${vin}</a></li>`)}
${outcome.cards.map((iccid) => html`<li data-result="card" data-iccid="${iccid}">${t('iccid')} ${links.card ? html`<a class="mono" href="${links.card(iccid)}">${iccid}</a>` : html`<span class="mono">${iccid}</span>`}</li>`)}
${outcome.orders.map(
  (o) =>
    html`<li data-result="order" data-order="${o.external_order_id}" data-merchant="${o.merchant_id}">${t('externalOrderId')} <a class="mono" href="/app/merchants/${o.merchant_id}/orders/${encodeURIComponent(o.external_order_id)}">${o.external_order_id}</a> · ${o.merchant_id} · ${t('iccid')} ${links.card ? html`<a class="mono" href="${links.card(o.iccid)}">${o.iccid}</a>` : o.iccid}</li>`,
)}
</ul>`;
  }
  return layout(ctx, t('consoleSearchTitle'), html`<h1>${t('consoleSearchTitle')}</h1><section class="card">${searchBox(ctx, query, 'page-search')}</section><section class="card" id="search-outcome">${body}</section>`);
}

const fact = (label: string, value: Html | string | number | null, id?: string) => html`<dt>${label}</dt><dd${id ? html` id="${id}"` : html``}>${value ?? '—'}</dd>`;

function reasonsCell(ctx: PageContext, reasons: readonly string[]): Html {
  if (reasons.length === 0) return html`—`;
  const known = (r: string): r is 'FUNDS_EXHAUSTED' | 'REALNAME_REQUIRED' | 'SIM_SUSPENDED' => r === 'FUNDS_EXHAUSTED' || r === 'REALNAME_REQUIRED' || r === 'SIM_SUSPENDED';
  return html`${reasons.map((r) => html`<div data-reason="${r}"><span class="mono">${r}</span>${known(r) ? html`<br><small>${ctx.t(`reason_${r}` as MessageKey)}</small>` : html``}</div>`)}`;
}

function controlsTable(ctx: PageContext, controls: ControlView[]): Html {
  const { t } = ctx;
  if (controls.length === 0) return html`<p id="no-controls">${t('consoleNoControls')}</p>`;
  return html`<table id="controls"><thead><tr><th>${t('app')}</th><th>${t('consoleAction')}</th><th>${t('reason')}</th><th class="num">rev</th><th>${t('consoleChangedAt')}</th></tr></thead>
<tbody>${controls.map(
    (c) => html`<tr data-app="${c.app}" data-action="${c.action}" data-rev="${c.rev}"><td class="mono">${c.app}</td><td><span class="badge ${c.action === 'block' ? 'state-suspended' : 'state-active'}">${t(c.action === 'block' ? 'consoleBlock' : 'consoleAllow')}</span></td><td>${reasonsCell(ctx, c.reasons)}</td><td class="num">${c.rev}</td><td>${when(ctx, c.changedAt)}</td></tr>`,
  )}</tbody></table>`;
}

function historyTable(ctx: PageContext, history: ControlRevision[]): Html {
  const { t } = ctx;
  if (history.length === 0) return html`<p id="no-control-history">${t('consoleNoControlHistory')}</p>`;
  return html`<table id="control-history"><thead><tr><th>${t('consoleChangedAt')}</th><th>${t('app')}</th><th class="num">rev</th><th>${t('consoleAction')}</th><th>${t('reason')}</th></tr></thead>
<tbody>${history.map(
    (h) => html`<tr data-app="${h.app}" data-rev="${h.rev}" data-reasons="${h.reasons.join(',')}"><td>${when(ctx, h.changedAt)}</td><td class="mono">${h.app}</td><td class="num">${h.rev}</td><td>${t(h.reasons.length > 0 ? 'consoleBlock' : 'consoleAllow')}</td><td>${h.reasons.length === 0 ? '—' : h.reasons.map((r) => html`<span class="mono">${r}</span> `)}</td></tr>`,
  )}</tbody></table>`;
}

function packsTable(ctx: PageContext, packs: PackInstanceView[]): Html {
  const { t } = ctx;
  if (packs.length === 0) return html`<p id="no-packs">${t('consoleNoPacks')}</p>`;
  return html`<table id="packs"><thead><tr><th>${t('pack')}</th><th>${t('consolePurchasedAt')}</th><th>${t('consoleExpiresAt')}</th><th class="num">${t('consoleSize')}</th><th class="num">${t('consoleBalance')}</th><th>${t('externalOrderId')}</th></tr></thead>
<tbody>${packs.map(
    (p) => html`<tr data-pack="${p.id}" data-balance="${p.balanceBytes}"><td class="mono">${p.pack}</td><td>${when(ctx, p.purchasedAt)}</td><td>${when(ctx, p.expiresAt)}</td>${bytesCell(p.sizeBytes)}${bytesCell(p.balanceBytes)}<td class="mono">${p.externalOrderId ?? '—'}</td></tr>`,
  )}</tbody></table>`;
}

function recordsTable(ctx: PageContext, records: Array<RecentRecord & { ownBytes?: bigint }>, explainHref: (r: RecentRecord) => string, sponsorView: boolean): Html {
  const { t } = ctx;
  if (records.length === 0) return html`<p id="no-records">${t('consoleNoRecords')}</p>`;
  return html`<table id="records"><thead><tr><th>${t('epoch')}</th><th class="num">seq</th><th>${t('start')}</th><th>${t('app')}</th>${bytesHeader(ctx)}<th>${sponsorView ? t('consoleOwnShare') : t('payer')}</th><th></th></tr></thead>
<tbody>${records.map(
    (r) => html`<tr data-epoch="${r.epoch}" data-seq="${r.seq}" data-app="${r.app}"><td class="mono">${r.epoch}</td><td class="num">${r.seq}</td><td>${when(ctx, r.start)}</td><td class="mono">${r.app}</td>${bytesCell(r.bytes)}
  <td>${sponsorView && r.ownBytes !== undefined ? html`<span class="num own-bytes">${formatBytesExact(r.ownBytes)}</span>` : r.payers.length === 0 ? '—' : html`${r.payers.map((p) => html`<div data-payer="${p.payer}"><span class="mono">${p.payer}</span> <small>${formatBytesExact(p.bytes)}</small></div>`)}`}</td>
  <td><a class="explain-link" href="${explainHref(r)}">${t('consoleExplain')}</a></td></tr>`,
  )}</tbody></table>`;
}

const bytesHeader = (ctx: PageContext) => html`<th class="num">${ctx.t('gbHeader')}</th>`;

function eventsTable(ctx: PageContext, events: SimEventView[]): Html {
  const { t } = ctx;
  if (events.length === 0) return html`<p id="no-events">${t('noEvents')}</p>`;
  return html`<table id="events"><thead><tr><th>${t('when')}</th><th>${t('event')}</th><th>${t('transition')}</th><th>${t('actor')}</th><th>${t('reason')}</th></tr></thead>
<tbody>${events.map((e) => html`<tr data-event="${e.event}"><td>${when(ctx, e.at)}</td><td class="mono">${e.event}</td><td>${e.from ? html`${stateBadge(ctx, e.from)} → ` : html``}${stateBadge(ctx, e.to)}</td><td class="mono">${e.actor}</td><td>${e.reason}</td></tr>`)}</tbody></table>`;
}

function ordersTable(ctx: PageContext, orders: OrderView[]): Html {
  const { t } = ctx;
  if (orders.length === 0) return html`<p id="no-orders">${t('noOrders')}</p>`;
  return html`<table id="card-orders"><thead><tr><th>${t('externalOrderId')}</th><th>${t('kind')}</th><th>${t('plan')}</th><th>${t('createdAt')}</th><th class="num">${t('retail')}</th><th>${t('status')}</th><th>${t('buyer')}</th></tr></thead>
<tbody>${orders.map(
    (o) => html`<tr data-order="${o.externalOrderId}" data-status="${o.status}"><td class="mono"><a href="/app/merchants/${o.merchant}/orders/${encodeURIComponent(o.externalOrderId)}">${o.externalOrderId}</a></td><td>${t(`orderKind_${o.kind}`)}</td><td class="mono">${o.plan}</td><td>${when(ctx, o.createdAt)}</td><td class="num">${formatMoney(o.retail, o.currency)}</td><td>${t(`orderStatus_${o.status}`)}</td><td>${o.buyer.name} · ${o.buyer.phone}</td></tr>`,
  )}</tbody></table>`;
}

function bindingsTable(ctx: PageContext, bindings: VehicleBinding[]): Html {
  const { t } = ctx;
  const at = (d: Date | null) => (d ? when(ctx, d.toISOString()) : html`—`);
  return html`<table id="bindings"><thead><tr><th>${t('iccid')}</th><th>${t('consoleBoundFrom')}</th><th>${t('consoleBoundTo')}</th><th>${t('actor')}</th><th>${t('consoleBoundAt')}</th><th>${t('reason')}</th></tr></thead>
<tbody>${bindings.map((b) => html`<tr data-binding="${b.iccid}"><td class="mono">${b.iccid}</td><td>${at(b.validFrom)}</td><td>${at(b.validTo)}</td><td class="mono">${b.boundBy}</td><td>${at(b.boundAt)}</td><td>${b.reason}</td></tr>`)}</tbody></table>`;
}

function cardSection(ctx: PageContext, iccid: string, sim: SimView | null): Html {
  const { t } = ctx;
  if (!sim) {
    return html`<section class="card" id="card" data-iccid="${iccid}" data-holder="platform"><h2>${t('consoleCard')}</h2><dl class="facts">${fact(t('iccid'), html`<span class="mono">${iccid}</span>`)}${fact(t('state'), t('consolePlatformCard'), 'card-state')}</dl>
<p class="note" id="real-name-platform">${t('consolePlatformRealName')}</p></section>`;
  }
  return html`<section class="card" id="card" data-iccid="${sim.iccid}" data-holder="${sim.merchant}" data-state="${sim.state}" data-service-until="${sim.serviceUntil ?? ''}"><h2>${t('consoleCard')}</h2><dl class="facts">
  ${fact(t('iccid'), html`<a class="mono" href="/app/console/cards/${sim.iccid}">${sim.iccid}</a>`)}
  ${fact(t('consoleMerchant'), html`<a class="mono" href="/app/merchants/${sim.merchant}">${sim.merchant}</a>`)}
  ${fact(t('state'), stateBadge(ctx, sim.state), 'card-state')}${fact(t('serviceUntil'), when(ctx, sim.serviceUntil), 'service-until')}
  ${fact(t('activatedAt'), when(ctx, sim.activatedAt))}${fact(t('msisdn'), sim.msisdn)}
</dl></section>`;
}

export function vehiclePage(ctx: PageContext, view: VehicleConsole, explainHref: (r: RecentRecord) => string): string {
  const { t } = ctx;
  const v = view.vehicle;
  return layout(
    ctx,
    t('consoleVehicleTitle', { vin: v.vin }),
    html`<h1>${t('consoleVehicleTitle', { vin: v.vin })}</h1>
<div class="grid">
<section class="card" id="vehicle" data-vin="${v.vin}" data-iccid="${v.iccid}"><h2>${t('consoleVehicle')}</h2><dl class="facts">
  ${fact(t('vin'), html`<span class="mono">${v.vin}</span>`)}${fact(t('consoleAutomaker'), v.automaker)}${fact(t('consoleModel'), v.model)}
  ${fact(t('activatedAt'), v.activatedAt ? when(ctx, v.activatedAt.toISOString()) : null)}${fact(t('createdAt'), when(ctx, v.createdAt.toISOString()))}
</dl></section>
${cardSection(ctx, v.iccid, view.sim)}
</div>
${
  view.sim
    ? html`<div class="grid" id="real-name">${subjectFacts(ctx, t('responsibleSubject'), view.sim.realName, 'real-name-holder')}${view.sim.owner ? subjectFacts(ctx, t('vehicleUser'), view.sim.owner, 'real-name-owner') : html``}</div>`
    : html``
}
<section class="card"><h2>${t('consolePacks')}</h2>${packsTable(ctx, view.packs)}</section>
<section class="card"><h2>${t('consoleControls')}</h2>${controlsTable(ctx, view.controls)}<h3>${t('consoleControlHistory')}</h3>${historyTable(ctx, view.history)}<p class="note">${t('consoleControlsNote')}</p></section>
<section class="card"><h2>${t('consoleRecords', { n: view.records.length })}</h2>${recordsTable(ctx, view.records, explainHref, false)}<p class="note">${t('consoleRecordsNote')}</p></section>
<section class="card" id="audit"><h2>${t('auditTrail')}</h2>
<h3>${t('consoleBindings')}</h3>${bindingsTable(ctx, view.bindings)}
<h3>${t('consoleCardEvents')}</h3>${view.sim ? eventsTable(ctx, view.events) : html`<p id="no-events">${t('consolePlatformNoEvents')}</p>`}
${view.sim ? html`<h3>${t('ordersTitle')}</h3>${ordersTable(ctx, view.orders)}` : html``}
</section>`,
  );
}

export function sponsorVehiclePage(ctx: PageContext, view: SponsorVehicleConsole, currency: string, explainHref: (r: RecentRecord) => string, amounts: Array<{ month: string; app: string; kind: string; price: string; bytes: bigint; amount: string }>): string {
  const { t } = ctx;
  const v = view.vehicle;
  const usage = html`<table id="vehicle-usage"><thead><tr><th>${t('consoleMonth')}</th><th>${t('app')}</th><th>${t('kind')}</th><th class="num">${t('pricePerGb')}</th>${bytesHeader(ctx)}<th class="num">${t('totalAmount')}</th></tr></thead>
<tbody>${amounts.map((a) => html`<tr data-month="${a.month}" data-app="${a.app}" data-amount="${a.amount}"><td>${a.month}</td><td class="mono">${a.app}</td><td>${a.kind}</td><td class="num">${formatPrice(a.price, currency)}</td>${bytesCell(a.bytes)}<td class="num">${formatMoney(a.amount, currency)}</td></tr>`)}</tbody></table>`;
  return layout(
    ctx,
    t('consoleVehicleTitle', { vin: v.vin }),
    html`<h1>${t('consoleVehicleTitle', { vin: v.vin })}</h1>
<section class="card" id="vehicle" data-vin="${v.vin}"><dl class="facts">${fact(t('vin'), html`<span class="mono">${v.vin}</span>`)}${fact(t('consoleAutomaker'), v.automaker)}${fact(t('consoleModel'), v.model)}</dl></section>
<section class="card"><h2>${t('consoleSponsorUsage')}</h2>${usage}</section>
<section class="card"><h2>${t('consoleControls')}</h2>${controlsTable(ctx, view.controls)}<h3>${t('consoleControlHistory')}</h3>${historyTable(ctx, view.history)}</section>
<section class="card"><h2>${t('consoleRecords', { n: view.records.length })}</h2>${recordsTable(ctx, view.records, explainHref, true)}<p class="note">${t('consoleSponsorRecordsNote')}</p></section>`,
  );
}

export function cardPage(ctx: PageContext, sim: SimView, events: SimEventView[], orders: OrderView[]): string {
  const { t } = ctx;
  return layout(
    ctx,
    t('simTitle', { iccid: sim.iccid }),
    html`<h1>${t('simTitle', { iccid: sim.iccid })}</h1>
<div class="grid">
${cardSection(ctx, sim.iccid, sim)}
<section class="card" id="card-vehicle"><h2>${t('consoleVehicle')}</h2>${sim.vin ? html`<a class="mono" id="vehicle-link" href="/app/console/vehicles/${sim.vin}">${sim.vin}</a>` : html`<p>${t('consoleNoVehicle')}</p>`}</section>
</div>
<div class="grid" id="real-name">${subjectFacts(ctx, t('responsibleSubject'), sim.realName, 'real-name-holder')}${sim.owner ? subjectFacts(ctx, t('vehicleUser'), sim.owner, 'real-name-owner') : html``}</div>
<section class="card"><h2>${t('ordersTitle')}</h2>${ordersTable(ctx, orders)}</section>
<section class="card" id="audit"><h2>${t('auditTrail')}</h2>${eventsTable(ctx, events)}</section>
<p class="note">${t('simsNote')}</p>`,
  );
}

export interface ConsoleSponsor {
  id: string;
  name: string;
  kind: SponsorKind;
  sponsorships: Array<{ id: string; app: string; pricePerGiB: string }>;
}

export function sponsorsListPage(ctx: PageContext, sponsors: ConsoleSponsor[]): string {
  const { t } = ctx;
  return layout(
    ctx,
    t('sponsorsTitle'),
    html`<h1>${t('sponsorsTitle')}</h1><section class="card"><table id="sponsor-list"><thead><tr><th>${t('sponsorId')}</th><th>${t('sponsorName')}</th><th>${t('sponsorKind')}</th><th>${t('consoleSponsorships')}</th><th></th></tr></thead>
<tbody>${sponsors.map(
      (s) => html`<tr data-sponsor="${s.id}"><td class="mono">${s.id}</td><td>${s.name}</td><td>${t(`sponsorKind_${s.kind}`)}</td><td>${s.sponsorships.map((p) => html`<div><span class="mono">${p.id}</span> <small>${p.app} · ${p.pricePerGiB}</small></div>`)}</td>
  <td><a href="/app/sponsors/${s.id}">${t('openDashboard')}</a> · <a href="/app/sponsors/${s.id}/accrual">${t('navAccrual')}</a></td></tr>`,
    )}</tbody></table></section>`,
  );
}

export function merchantsListPage(ctx: PageContext, merchants: Array<{ id: string; name: string; taxId: string }> | null): string {
  const { t } = ctx;
  const body =
    !merchants || merchants.length === 0
      ? html`<p id="no-merchants">${t('noMerchants')}</p>`
      : html`<table id="merchant-list"><thead><tr><th>${t('sponsorId')}</th><th>${t('sponsorName')}</th><th>${t('merchantTaxId')}</th><th></th></tr></thead>
<tbody>${merchants.map((m) => html`<tr data-merchant="${m.id}"><td class="mono">${m.id}</td><td>${m.name}</td><td class="mono">${m.taxId}</td><td><a href="/app/merchants/${m.id}/sims">${t('navSims')}</a> · <a href="/app/merchants/${m.id}/orders">${t('navOrders')}</a> · <a href="/app/merchants/${m.id}/statements">${t('navStatements')}</a></td></tr>`)}</tbody></table>`;
  return layout(ctx, t('merchantsTitle'), html`<h1>${t('merchantsTitle')}</h1><section class="card">${body}</section>`);
}

export interface AccrualMonth {
  month: string;
  /** tax-exclusive amounts, exact decimal strings */
  accrued: string;
  invoiced: string;
  notInvoiced: string;
  lines: Array<{ label: string; accrued: string; invoiced: string; notInvoiced: string; bytes: bigint }>;
}

export function accrualPage(ctx: PageContext, view: { currency: string; months: AccrualMonth[]; invoices: Array<{ id: string; number: string; month: string; kind: string; status: string; issuedAt: string; subtotal: string; total: string }>; sponsorId: string }): string {
  const { t } = ctx;
  const money = (amount: string) => formatMoney(amount, view.currency);
  const months = view.months.map(
    (m) => html`<section class="card accrual-month" data-month="${m.month}" data-accrued="${m.accrued}" data-invoiced="${m.invoiced}" data-not-invoiced="${m.notInvoiced}"><h2>${m.month}</h2>
<div class="kpis"><div class="kpi"><div class="label">${t('consoleAccrued')}</div><div class="value">${money(m.accrued)}</div></div>
<div class="kpi"><div class="label">${t('consoleInvoiced')}</div><div class="value">${money(m.invoiced)}</div></div>
<div class="kpi"><div class="label">${t('consoleNotInvoiced')}</div><div class="value">${money(m.notInvoiced)}</div></div></div>
${
  m.lines.length === 0
    ? html`<p>${t('consoleNoAccrual')}</p>`
    : html`<table><thead><tr><th>${t('sponsorship')}</th>${bytesHeader(ctx)}<th class="num">${t('consoleAccrued')}</th><th class="num">${t('consoleInvoiced')}</th><th class="num">${t('consoleNotInvoiced')}</th></tr></thead>
<tbody>${m.lines.map((l) => html`<tr data-sponsorship="${l.label}" data-not-invoiced="${l.notInvoiced}"><td class="mono">${l.label}</td>${bytesCell(l.bytes)}<td class="num">${money(l.accrued)}</td><td class="num">${money(l.invoiced)}</td><td class="num">${money(l.notInvoiced)}</td></tr>`)}</tbody></table>`
}</section>`,
  );
  const invoices =
    view.invoices.length === 0
      ? html`<p id="no-invoices">${t('consoleNoInvoicesYet')}</p>`
      : html`<table id="accrual-invoices"><thead><tr><th>${t('number')}</th><th>${t('documentKind')}</th><th>${t('period')}</th><th>${t('issuedAt')}</th><th>${t('status')}</th><th class="num">${t('subtotal')}</th><th class="num">${t('totalInclTax')}</th></tr></thead>
<tbody>${view.invoices.map((i) => html`<tr data-number="${i.number}" data-subtotal="${i.subtotal}"><td class="mono"><a href="/app/sponsors/${view.sponsorId}/invoices/${i.id}">${i.number}</a></td><td>${i.kind === 'credit_note' ? t('doc_credit_note') : t('doc_invoice')}</td><td>${i.month}</td><td>${i.issuedAt}</td><td>${i.status === 'void' ? t('status_void') : t('status_issued')}</td><td class="num">${money(i.subtotal)}</td><td class="num">${money(i.total)}</td></tr>`)}</tbody></table>`;
  return layout(
    ctx,
    t('consoleAccrualTitle'),
    html`<h1>${t('consoleAccrualTitle')}</h1><p class="note">${t('consoleAccrualNote')}</p>${months}<section class="card"><h2>${t('consoleIssuedInvoices')}</h2>${invoices}</section>`,
  );
}
