import type { InvoiceDocument } from '../../billing/invoices.js';
import { formatMoney } from '../format.js';
import { html } from '../html.js';
import { layout, type PageContext } from './layout.js';

export function invoicesPage(ctx: PageContext, sponsorId: string, invoices: InvoiceDocument[], closeAfterDays: number): string {
  const { t } = ctx;
  const base = `/app/sponsors/${sponsorId}/invoices`;
  const body =
    invoices.length === 0
      ? html`<p id="no-invoices">${t('noInvoices', { days: closeAfterDays })}</p>`
      : html`<table id="invoices">
<thead><tr><th>${t('number')}</th><th>${t('documentKind')}</th><th>${t('period')}</th><th>${t('issuedAt')}</th><th>${t('status')}</th><th class="num">${t('subtotal')}</th><th class="num">${t('tax')}</th><th class="num">${t('totalInclTax')}</th><th></th></tr></thead>
<tbody>${invoices.map((invoice) => {
          const adjustments = invoice.lines.some((l) => l.usageMonth !== invoice.month);
          return html`<tr data-invoice-id="${invoice.id}" data-number="${invoice.number}" data-total="${invoice.total}" data-status="${invoice.status}">
  <td class="mono">${invoice.number}</td>
  <td>${t(`doc_${invoice.kind}`)}${invoice.creditsNumber ? html`<br><small>↦ ${invoice.creditsNumber}</small>` : html``}</td>
  <td>${invoice.month}${adjustments ? html` <span class="badge adj">±</span>` : html``}</td>
  <td>${invoice.issuedAt}</td>
  <td><span class="badge ${invoice.status}">${t(`status_${invoice.status}`)}</span></td>
  <td class="num">${formatMoney(invoice.subtotal, invoice.currency)}</td>
  <td class="num">${formatMoney(invoice.tax, invoice.currency)}</td>
  <td class="num">${formatMoney(invoice.total, invoice.currency)}</td>
  <td><a class="open-invoice" href="${base}/${invoice.id}" target="_blank" rel="noopener">${t('openInvoice')}</a> · <a href="${base}/${invoice.id}/lines.csv">${t('linesCsv')}</a> · <a href="${base}/${invoice.id}/usage.csv">${t('usageCsv')}</a></td>
</tr>`;
        })}</tbody></table>`;
  return layout(ctx, t('invoicesTitle'), html`<h1>${t('invoicesTitle')}</h1><section class="card">${body}<p class="note">${t('invoicesNote')}</p></section>`);
}
