import type { SponsorKind } from '../../catalog/index.js';
import type { DeadLetterView } from '../../ledger/schemas.js';
import type { IngestHealth } from '../dashboard-query.js';
import { formatGb, formatMoney } from '../format.js';
import { html, type Html } from '../html.js';
import { layout, type PageContext } from './layout.js';

export interface SponsorSummary {
  id: string;
  name: string;
  kind: SponsorKind;
  totalBytes: number;
  totalAmount: string;
}

export interface MerchantSummary {
  id: string;
  name: string;
  taxId: string;
}

function merchantsSection(ctx: PageContext, merchants: MerchantSummary[]): Html {
  const { t } = ctx;
  const body =
    merchants.length === 0
      ? html`<p id="no-merchants">${t('noMerchants')}</p>`
      : html`<table id="merchants"><thead><tr><th>${t('sponsorId')}</th><th>${t('sponsorName')}</th><th>${t('merchantTaxId')}</th><th></th></tr></thead>
<tbody>${merchants.map((m) => html`<tr data-merchant="${m.id}"><td class="mono">${m.id}</td><td>${m.name}</td><td class="mono">${m.taxId}</td><td><a href="/app/merchants/${m.id}">${t('openPortal')}</a></td></tr>`)}</tbody></table>`;
  return html`<section class="card"><h2>${t('merchantsTitle')}</h2>${body}</section>`;
}

/** `merchants` is null when this instance has no merchant portal (no SIM module wired in). */
export function adminPage(ctx: PageContext, view: { month: string; currency: string; sponsors: SponsorSummary[]; merchants: MerchantSummary[] | null; health: IngestHealth }): string {
  const { t } = ctx;
  const { health } = view;
  return layout(
    ctx,
    t('adminTitle'),
    html`<h1>${t('adminTitle')}</h1>
<section class="card"><h2>${t('sponsorsTitle')} · ${t('monthToDate')} ${view.month}</h2>
<table id="sponsors"><thead><tr><th>${t('sponsorId')}</th><th>${t('sponsorName')}</th><th>${t('sponsorKind')}</th><th class="num">${t('totalTraffic')} (GB)</th><th class="num">${t('totalAmount')}</th><th></th></tr></thead>
<tbody>${view.sponsors.map(
      (s) => html`<tr data-sponsor="${s.id}" data-amount="${s.totalAmount}"><td class="mono">${s.id}</td><td>${s.name}</td><td>${t(`sponsorKind_${s.kind}`)}</td><td class="num">${formatGb(s.totalBytes)}</td><td class="num">${formatMoney(s.totalAmount, view.currency)}</td>
  <td><a href="/app/sponsors/${s.id}">${t('openDashboard')}</a></td></tr>`,
    )}</tbody></table></section>
${view.merchants ? merchantsSection(ctx, view.merchants) : html``}
<div class="grid">
<section class="card" id="ingest-health"><h2>${t('ingestHealth')}</h2>
<table><thead><tr><th>${t('metric')}</th><th class="num">${t('value')}</th></tr></thead><tbody>
<tr><td>${t('database')}</td><td class="num" id="database-status">${health.databaseUp ? t('healthy') : t('unhealthy')}</td></tr>
${health.metrics.map((m) => html`<tr data-metric="${m.key}"><td>${t(`metric_${m.key}`)}</td><td class="num">${m.value}</td></tr>`)}
</tbody></table><p class="note">${t('ingestHealthNote')}</p></section>
<section class="card"><h2>${t('deadLettersByCode', { n: health.deadLetterWindow })}</h2>
${
  health.deadLettersByCode.length === 0
    ? html`<p>${t('noDeadLetters')}</p>`
    : html`<table id="dead-letter-codes"><thead><tr><th>${t('code')}</th><th class="num">${t('count')}</th></tr></thead><tbody>${health.deadLettersByCode.map((c) => html`<tr><td class="mono">${c.code}</td><td class="num">${c.count}</td></tr>`)}</tbody></table>`
}
<p><a href="/app/admin/dead-letters">${t('deadLettersTitle')} →</a></p></section>
</div>`,
  );
}

export const PAYLOAD_PREVIEW_CHARS = 2000;

export function deadLettersPage(ctx: PageContext, view: { deadLetters: DeadLetterView[]; olderHref: string | null; first: boolean }): string {
  const { t } = ctx;
  const rows = view.deadLetters.map(
    (d) => html`<tr data-dead-letter="${d.id}"><td class="num">${d.id}</td><td>${d.receivedAt}</td><td class="mono">${d.vin ?? '—'}</td><td class="mono">${d.topic}</td><td class="mono">${d.code}</td>
  <td class="num">${d.index ?? '—'}</td><td class="num">${d.seq ?? '—'}</td><td>${d.reason}</td>
  <td><pre class="payload">${d.payload.length > PAYLOAD_PREVIEW_CHARS ? `${d.payload.slice(0, PAYLOAD_PREVIEW_CHARS)}…` : d.payload}</pre><small>${d.payloadBytes} B · ${d.payloadEncoding}</small></td></tr>`,
  );
  return layout(
    ctx,
    t('deadLettersTitle'),
    html`<h1>${t('deadLettersTitle')}</h1>
<section class="card">
${
  view.deadLetters.length === 0
    ? html`<p>${t('noDeadLetters')}</p>`
    : html`<table id="dead-letters"><thead><tr><th class="num">#</th><th>${t('receivedAt')}</th><th>${t('vin')}</th><th>${t('topic')}</th><th>${t('code')}</th><th class="num">${t('index')}</th><th class="num">seq</th><th>${t('reason')}</th><th>${t('payload')}</th></tr></thead><tbody>${rows}</tbody></table>`
}
<p class="toolbar">${view.first ? html`` : html`<a href="/app/admin/dead-letters">${t('newestPage')}</a>`}${view.olderHref ? html`<a href="${view.olderHref}" id="older">${t('olderPage')}</a>` : html``}</p>
<p class="note">${t('deadLettersNote', { n: PAYLOAD_PREVIEW_CHARS })}</p>
</section>`,
  );
}
