import type { Breakage, CardDayJson, Reconciliation, Signal } from '../../assurance/schemas.js';
import { formatBytesExact, formatGb, formatMoney } from '../format.js';
import { html, jsonScript, type Html } from '../html.js';
import { layout, type PageContext } from './layout.js';

/**
 * The operator's revenue-assurance pages (issue 13): reconciliation with the daily-gap chart and a card's
 * drill-down, pack breakage, abuse signals (also a sponsor's own). Figures come from the very services the
 * API answers with (src/assurance), so a page and the API cannot disagree.
 */

const bytesCell = (bytes: number | null) => (bytes === null ? html`<td class="num">—</td>` : html`<td class="num" title="${formatBytesExact(bytes)}">${formatGb(bytes)}</td>`);

function monthForm(ctx: PageContext, action: string, month: string): Html {
  return html`<div class="toolbar"><form method="get" action="${action}" class="inline"><label>${ctx.t('monthLabel')}<input type="month" name="month" value="${month}" id="month"></label><button class="primary" type="submit">${ctx.t('show')}</button></form></div>`;
}

function cardDaysTable(ctx: PageContext, id: string, days: readonly CardDayJson[], month: string): Html {
  const { t } = ctx;
  return html`<table id="${id}"><thead><tr><th>${t('iccid')}</th><th>${t('day')}</th><th>${t('vin')}</th><th class="num">${t('carrierGb')}</th><th class="num">${t('ledgerGb')}</th><th class="num">${t('gapGb')}</th><th>${t('status')}</th></tr></thead>
<tbody>${days.map(
    (d) => html`<tr data-card="${d.iccid}" data-day="${d.day}" data-status="${d.status}"><td class="mono"><a href="/app/admin/reconciliation/cards/${d.iccid}?month=${month}">${d.iccid}</a></td><td>${d.day}</td><td class="mono">${d.vins.join(' ') || '—'}</td>${bytesCell(d.carrierBytes)}${bytesCell(d.ledgerBytes)}${bytesCell(d.gapBytes)}<td>${t(`status_${d.status}`)}</td></tr>`,
  )}</tbody></table>`;
}

export function reconciliationPage(ctx: PageContext, view: Reconciliation): string {
  const { t } = ctx;
  const GIB = 1_073_741_824;
  // The chart reuses the dashboard's drawing code (assets/dashboard.js): one series, the day's gap.
  const chart = {
    days: view.daily.map((d) => d.day),
    series: [{ name: t('gapSeries'), gb: view.daily.map((d) => d.gapBytes / GIB), exact: view.daily.map((d) => formatBytesExact(d.gapBytes)) }],
    labels: { gb: 'GB', bytes: t('bytesExact') },
  };
  const statuses = ['matched', 'under', 'over', 'carrier_only', 'ledger_only'] as const;
  return layout(
    ctx,
    `${t('reconciliationTitle')} · ${view.month}`,
    html`<h1>${t('reconciliationTitle')} · ${view.month}</h1>
${monthForm(ctx, '/app/admin/reconciliation', view.month)}
<div class="kpis">
  <div class="kpi" id="kpi-unexplained" data-bytes="${String(view.totals.all.unexplainedBytes)}"><div class="label">${t('unexplainedBytes')}</div><div class="value">${formatGb(view.totals.all.unexplainedBytes)} GB</div><div class="sub">${formatBytesExact(view.totals.all.unexplainedBytes)} ${t('bytesExact')}</div></div>
  <div class="kpi"><div class="label">${t('daysDelivered')}</div><div class="value">${view.daysDelivered}</div><div class="sub">${t('toleranceIs', { percent: view.tolerance.percent, floor: formatBytesExact(view.tolerance.floorBytes) })}</div></div>
</div>
<section class="card"><h2>${t('reconciliationTotals')}</h2>
<table id="reconciliation-totals"><thead><tr><th>${t('status')}</th><th class="num">${t('cardDays')}</th><th class="num">${t('cards')}</th><th class="num">${t('carrierGb')}</th><th class="num">${t('ledgerGb')}</th><th class="num">${t('gapGb')}</th></tr></thead>
<tbody>${statuses.map((s) => {
      const total = view.totals[s];
      return html`<tr data-status="${s}" data-card-days="${String(total.cardDays)}"><td>${t(`status_${s}`)}</td><td class="num">${total.cardDays}</td><td class="num">${total.cards}</td>${bytesCell(total.carrierBytes)}${bytesCell(total.ledgerBytes)}${bytesCell(total.gapBytes)}</tr>`;
    })}</tbody></table>
<p class="note">${t('reconciliationNote')}</p>
<p><a href="/app/admin/reconciliation.csv?month=${view.month}" id="reconciliation-csv">${t('downloadCsv')}</a></p></section>
<section class="card"><h2>${t('dailyGapChart')}</h2>
  <div id="daily-chart" role="img" aria-label="${t('dailyGapChart')}"></div>
  ${jsonScript('daily-data', chart)}
</section>
<section class="card"><h2>${t('largestDiscrepancies')}</h2>
${view.largest.length === 0 ? html`<p id="no-discrepancies">${t('noDiscrepancies')}</p>` : cardDaysTable(ctx, 'discrepancies', view.largest, view.month)}</section>
${
  view.corrections.length === 0
    ? html``
    : html`<section class="card"><h2>${t('correctionsTitle')}</h2><table id="corrections"><thead><tr><th>${t('iccid')}</th><th>${t('day')}</th><th class="num">${t('oldBytes')}</th><th class="num">${t('newBytes')}</th><th>${t('oldFile')}</th><th>${t('newFile')}</th><th>${t('correctedAt')}</th></tr></thead>
<tbody>${view.corrections.map((c) => html`<tr><td class="mono">${c.iccid}</td><td>${c.day}</td><td class="num">${formatBytesExact(c.oldBytes)}</td><td class="num">${formatBytesExact(c.newBytes)}</td><td class="mono">${c.oldFileId}</td><td class="mono">${c.newFileId}</td><td>${c.correctedAt}</td></tr>`)}</tbody></table></section>`
}`,
    { scripts: ['/app/assets/echarts.min.js', '/app/assets/dashboard.js'] },
  );
}

export function cardPage(ctx: PageContext, view: { month: string; iccid: string; days: CardDayJson[] }): string {
  const { t } = ctx;
  return layout(
    ctx,
    `${view.iccid} · ${view.month}`,
    html`<h1>${t('cardTitle')} <span class="mono">${view.iccid}</span> · ${view.month}</h1>
<p><a href="/app/admin/reconciliation?month=${view.month}">← ${t('reconciliationTitle')}</a></p>
<section class="card">${view.days.length === 0 ? html`<p>${t('noCardDays')}</p>` : cardDaysTable(ctx, 'card-days', view.days, view.month)}</section>`,
  );
}

export function breakagePage(ctx: PageContext, view: Breakage): string {
  const { t } = ctx;
  return layout(
    ctx,
    `${t('breakageTitle')} · ${view.month}`,
    html`<h1>${t('breakageTitle')} · ${view.month}</h1>
${monthForm(ctx, '/app/admin/breakage', view.month)}
<section class="card">
${
  view.packs.length === 0
    ? html`<p id="no-packs">${t('noPacks')}</p>`
    : html`<table id="breakage"><thead><tr><th>${t('pack')}</th><th class="num">${t('price')}</th><th class="num">${t('packsSold')}</th><th class="num">${t('soldRevenue')}</th><th class="num">${t('packsExpired')}</th><th class="num">${t('bytesUsedGb')}</th><th class="num">${t('bytesUnusedGb')}</th><th class="num">${t('unusedRevenue')}</th></tr></thead>
<tbody>${view.packs.map(
        (p) => html`<tr data-pack="${p.pack}" data-unused-revenue="${p.expired.unusedRevenue}"><td class="mono">${p.pack}</td><td class="num">${formatMoney(p.price, view.currency)}</td><td class="num">${p.sold.packs}</td><td class="num">${formatMoney(p.sold.revenue, view.currency)}</td><td class="num">${p.expired.packs}</td>${bytesCell(p.expired.bytesUsed)}${bytesCell(p.expired.bytesUnused)}<td class="num">${formatMoney(p.expired.unusedRevenue, view.currency)}</td></tr>`,
      )}</tbody>
<tfoot><tr><td colspan="3">${t('total')}</td><td class="num">${formatMoney(view.totals.soldRevenue, view.currency)}</td><td colspan="2"></td>${bytesCell(view.totals.bytesUnused)}<td class="num">${formatMoney(view.totals.unusedRevenue, view.currency)}</td></tr></tfoot></table>`
}
<p class="note">${t('breakageNote')}</p>
<p><a href="/app/admin/breakage.csv?month=${view.month}" id="breakage-csv">${t('downloadCsv')}</a></p></section>`,
  );
}

export function signalsPage(ctx: PageContext, view: { month: string; signals: Signal[]; action: string }): string {
  const { t } = ctx;
  const evidence = (s: Signal) =>
    Object.entries(s.evidence)
      .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
      .join(' · ');
  return layout(
    ctx,
    `${t('signalsTitle')} · ${view.month}`,
    html`<h1>${t('signalsTitle')} · ${view.month}</h1>
${monthForm(ctx, view.action, view.month)}
<section class="card">
${
  view.signals.length === 0
    ? html`<p id="no-signals">${t('noSignals')}</p>`
    : html`<table id="signals"><thead><tr><th>${t('day')}</th><th>${t('signalKind')}</th><th>${t('vin')}</th><th>${t('apps')}</th><th class="num">${t('gbHeader')}</th><th class="num">${t('records')}</th><th>${t('evidence')}</th></tr></thead>
<tbody>${view.signals.map((s) => html`<tr data-kind="${s.kind}" data-vin="${s.vin}"><td>${s.day}</td><td>${t(`signal_${s.kind}`)}</td><td class="mono">${s.vin}</td><td>${s.app}</td>${bytesCell(s.bytes)}<td class="num">${s.records}</td><td class="mono">${evidence(s)}</td></tr>`)}</tbody></table>`
}
<p class="note">${t('signalsNote')}</p></section>`,
  );
}
