import type { AppLine, UsageOf } from '../../billing/schemas.js';
import type { CapUtilisation, TopVehicle } from '../dashboard-query.js';
import { formatBytesExact, formatGb, formatMoney, formatPercent, formatPrice } from '../format.js';
import { html, jsonScript, type Html } from '../html.js';
import { layout, type PageContext } from './layout.js';

export interface DailySeries {
  /** "YYYY-MM-DD", every day of the month shown (up to today for the current month) */
  days: string[];
  /** bytes per app per day, aligned with `days` */
  apps: Array<{ app: string; bytes: bigint[] }>;
}

export interface DashboardView {
  month: string;
  previousMonth: string;
  /** null when the next month has not started */
  nextMonth: string | null;
  asOf: string;
  usage: UsageOf<AppLine>;
  daily: DailySeries;
  caps: CapUtilisation[];
  top: TopVehicle[];
}

/** Bytes as "1,234.567" GB with the exact count beside it. */
export const bytesCell = (bytes: bigint | number): Html => html`<td class="num" data-bytes="${String(bytes)}">${formatGb(bytes)}<br><small>${formatBytesExact(bytes)}</small></td>`;

function byAppTable(ctx: PageContext, usage: UsageOf<AppLine>): Html {
  const { t } = ctx;
  const lines = usage.lines;
  if (lines.length === 0) return html`<p id="no-usage">${t('noUsage')}</p>`;
  return html`<table id="by-app">
  <thead><tr><th>${t('app')}</th><th>${t('kind')}</th><th class="num">${t('pricePerGb')}</th><th class="num">${t('gbHeader')}</th><th class="num">${t('amount')}</th></tr></thead>
  <tbody>${lines.map(
    (line) => html`<tr data-app="${line.app}" data-kind="${line.kind}" data-price="${line.pricePerGiB}" data-amount="${line.amount}">
      <td>${line.app}</td><td>${t(`kind_${line.kind}`)}</td><td class="num">${formatPrice(line.pricePerGiB, usage.currency)}</td>
      ${bytesCell(line.bytes)}<td class="num">${formatMoney(line.amount, usage.currency)}</td></tr>`,
  )}</tbody>
  <tfoot><tr><td colspan="3">${t('total')}</td>${bytesCell(usage.totalBytes)}<td class="num">${formatMoney(usage.totalAmount, usage.currency)}</td></tr></tfoot>
</table>
<p class="note">${t('amountsNote')}</p>`;
}

function dailySection(ctx: PageContext, daily: DailySeries): Html {
  const { t } = ctx;
  const GIB = 1_073_741_824;
  // Chart heights only (display): the exact figures are in the table below and in the tooltip.
  const chart = {
    days: daily.days,
    series: daily.apps.map((a) => ({ name: a.app, gb: a.bytes.map((b) => Number(b) / GIB), exact: a.bytes.map((b) => formatBytesExact(b)) })),
    labels: { gb: 'GB', bytes: t('bytesExact') },
  };
  const totals = daily.days.map((_, i) => daily.apps.reduce((sum, a) => sum + a.bytes[i]!, 0n));
  return html`<section class="card">
  <h2>${t('dailyChart')}</h2>
  <div id="daily-chart" role="img" aria-label="${t('dailyChart')}"></div>
  ${jsonScript('daily-data', chart)}
  <details><summary>${t('dailyTableSummary')}</summary>
  <table id="daily-table"><thead><tr><th>${t('day')}</th>${daily.apps.map((a) => html`<th class="num">${a.app}</th>`)}<th class="num">${t('total')}</th></tr></thead>
  <tbody>${daily.days.map((day, i) => html`<tr><td>${day}</td>${daily.apps.map((a) => bytesCell(a.bytes[i]!))}${bytesCell(totals[i]!)}</tr>`)}</tbody></table>
  </details>
</section>`;
}

function capsSection(ctx: PageContext, caps: CapUtilisation[]): Html {
  const { t } = ctx;
  const body =
    caps.length === 0
      ? html`<p>${t('noCaps')}</p>`
      : html`<table id="caps"><thead><tr><th>${t('sponsorship')}</th><th>${t('app')}</th><th class="num">${t('capPerVehicle')}</th><th class="num">${t('vehiclesUsing')}</th><th class="num">${t('atCap')}</th><th class="num">${t('nearCap')}</th><th class="num">${t('usedTotal')}</th><th class="num">${t('capTotal')}</th><th>${t('utilisation')}</th></tr></thead>
<tbody>${caps.map((c) => {
          const tenths = c.capTotalBytes > 0n ? Number((c.usedBytes * 1000n) / c.capTotalBytes) : 0;
          return html`<tr data-sponsorship="${c.sponsorship}" data-vehicles="${c.vehicles.toString()}" data-at-cap="${c.atCap.toString()}" data-used="${c.usedBytes.toString()}">
  <td>${c.sponsorship}</td><td>${c.app}</td><td class="num">${formatGb(c.capBytes)} GB</td><td class="num">${formatBytesExact(c.vehicles)}</td><td class="num">${formatBytesExact(c.atCap)}</td><td class="num">${formatBytesExact(c.nearCap)}</td>
  ${bytesCell(c.usedBytes)}${bytesCell(c.capTotalBytes)}
  <td><div class="bar${tenths >= 900 ? ' hot' : ''}"><span style="width:${Math.min(100, tenths / 10)}%"></span></div><small>${formatPercent(c.usedBytes, c.capTotalBytes)}</small></td></tr>`;
        })}</tbody></table>`;
  return html`<section class="card"><h2>${t('capsTitle')}</h2>${body}<p class="note">${t('capsNote')}</p></section>`;
}

function topSection(ctx: PageContext, top: TopVehicle[], total: number, currency: string): Html {
  const { t } = ctx;
  const body =
    top.length === 0
      ? html`<p>${t('noUsage')}</p>`
      : html`<table id="top-vehicles"><thead><tr><th>${t('vin')}</th><th>${t('apps')}</th><th class="num">${t('gbHeader')}</th><th class="num">${t('share')}</th><th class="num">${t('amount')}</th></tr></thead>
<tbody>${top.map((v) => html`<tr data-vin="${v.vin}"><td class="mono">${v.vin}</td><td>${v.apps.join(', ')}</td>${bytesCell(v.bytes)}<td class="num">${formatPercent(v.bytes, BigInt(total))}</td><td class="num">${formatMoney(v.amount, currency)}</td></tr>`)}</tbody></table>
<p class="note">${t('topVehiclesNote')}</p>`;
  return html`<section class="card"><h2>${t('topVehicles')}</h2>${body}</section>`;
}

export function dashboardPage(ctx: PageContext, view: DashboardView): string {
  const { t } = ctx;
  const { usage } = view;
  const base = `/app/sponsors/${usage.sponsor}`;
  const title = `${ctx.sponsor?.name ?? usage.sponsor} · ${t('monthToDate')} ${view.month}`;
  return layout(
    ctx,
    title,
    html`<h1>${ctx.sponsor?.name ?? usage.sponsor} <small class="mono">${usage.sponsor}</small></h1>
<div class="toolbar">
  <a href="${base}?month=${view.previousMonth}" id="previous-month">${t('previousMonth')}</a>
  <form method="get" action="${base}" class="inline"><label>${t('monthLabel')}<input type="month" name="month" value="${view.month}" id="month"></label><button class="primary" type="submit">${t('show')}</button></form>
  ${view.nextMonth ? html`<a href="${base}?month=${view.nextMonth}" id="next-month">${t('nextMonth')}</a>` : html``}
</div>
<div class="kpis">
  <div class="kpi" id="kpi-bytes" data-bytes="${String(usage.totalBytes)}"><div class="label">${t('totalTraffic')} · ${view.month}</div><div class="value">${formatGb(usage.totalBytes)} GB</div><div class="sub">${formatBytesExact(usage.totalBytes)} ${t('bytesExact')}</div></div>
  <div class="kpi" id="kpi-amount" data-amount="${usage.totalAmount}"><div class="label">${t('totalAmount')} · ${view.month}</div><div class="value">${formatMoney(usage.totalAmount, usage.currency)}</div><div class="sub">${t('asOf', { time: view.asOf })}</div></div>
</div>
<section class="card"><h2>${t('byApp')}</h2>${byAppTable(ctx, usage)}</section>
${dailySection(ctx, view.daily)}
${capsSection(ctx, view.caps)}
${topSection(ctx, view.top, usage.totalBytes, usage.currency)}`,
    { scripts: ['/app/assets/echarts.min.js', '/app/assets/dashboard.js'] },
  );
}
