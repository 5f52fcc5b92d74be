import type { ExplainedAllocation, HiddenAllocation, RecordExplanation } from '../../ledger/schemas.js';
import { formatBytesExact, formatPrice } from '../format.js';
import { html, type Html } from '../html.js';
import { layout, type PageContext } from './layout.js';
import { bytesCell } from './dashboard.js';

export interface ExplainForm {
  vin: string;
  seq: string;
  epoch: string;
}

const isHidden = (a: ExplainedAllocation | HiddenAllocation): a is HiddenAllocation => a.payer === 'other' && !('kind' in a);

function result(ctx: PageContext, explanation: RecordExplanation<ExplainedAllocation | HiddenAllocation>, currency: string): Html {
  const { t } = ctx;
  const r = explanation.record;
  const fact = (label: string, value: string | number | null, id?: string) => html`<dt>${label}</dt><dd${id ? html` id="${id}"` : html``}>${value === null ? '—' : value}</dd>`;
  const allocations =
    explanation.allocations.length === 0
      ? html`<p>${t('noAllocations')}</p>`
      : html`<table id="allocations"><thead><tr><th>${t('part')}</th><th>${t('payer')}</th><th>${t('kind')}</th><th>${t('sponsorship')}</th><th class="num">${t('pricePerGb')}</th><th>${t('usageMonth')}</th><th class="num">${t('gbHeader')}</th></tr></thead>
<tbody>${explanation.allocations.map((a, i) =>
          isHidden(a)
            ? html`<tr class="other" data-payer="other" data-bytes="${a.bytes}"><td>${i + 1}</td><td>${t('otherPayer')}</td><td>—</td><td>—</td><td class="num">—</td><td>—</td>${bytesCell(a.bytes)}</tr>`
            : html`<tr data-payer="${a.payer}" data-bytes="${a.bytes}"><td>${i + 1}</td><td>${a.payer}</td><td>${t(`kind_${a.kind}`)}</td><td>${a.sponsorship ?? (a.packInstance ? `pack #${a.packInstance}` : '—')}</td><td class="num">${a.pricePerGiB ? formatPrice(a.pricePerGiB, currency) : '—'}</td><td>${a.usageMonth}</td>${bytesCell(a.bytes)}</tr>`,
        )}</tbody></table>`;
  return html`<div class="grid" id="explanation">
<section class="card"><h2>${t('rawRecord')}</h2><dl class="facts">
  ${fact(t('vin'), explanation.vin)}${fact(t('epoch'), explanation.epoch)}${fact(t('seq'), explanation.seq)}
  ${fact(t('start'), r.start)}${fact(t('end'), r.end)}
  ${fact(t('up'), formatBytesExact(r.up))}${fact(t('down'), formatBytesExact(r.down))}
  ${fact(t('host'), r.host)}${fact(t('ip'), r.ip)}${fact(t('port'), r.port)}${fact(t('proto'), r.proto)}${fact(t('iface'), r.iface)}${fact(t('pkg'), r.pkg)}
  ${fact(t('receivedAt'), explanation.receivedAt)}
</dl></section>
<section class="card"><h2>${t('classification')}</h2><dl class="facts">
  ${fact(t('matchedApp'), explanation.app, 'explained-app')}${fact(t('ruleId'), explanation.ruleId, 'rule-id')}${fact(t('catalogVersion'), explanation.catalogVersion, 'catalog-version')}
</dl></section>
</div>
<section class="card"><h2>${t('allocations')}</h2>${allocations}<p class="note">${t('explainOthersNote')}</p></section>`;
}

export function explainPage(
  ctx: PageContext,
  sponsorId: string,
  form: ExplainForm,
  outcome: { kind: 'none' } | { kind: 'invalid'; message: string } | { kind: 'missing'; message: string } | { kind: 'found'; explanation: RecordExplanation<ExplainedAllocation | HiddenAllocation>; currency: string },
  /** where the form goes (the operator console's explain: `/app/console/explain`); the sponsor's page by default */
  action = `/app/sponsors/${sponsorId}/explain`,
): string {
  const { t } = ctx;
  return layout(
    ctx,
    t('explainTitle'),
    html`<h1>${t('explainTitle')}</h1>
<section class="card">
  <p>${t('explainIntro')}</p>
  <form method="get" action="${action}" class="inline" id="explain-form">
    <label>${t('vin')}<input name="vin" id="vin" value="${form.vin}" maxlength="17" size="20" required class="mono"></label>
    <label>${t('seq')}<input name="seq" id="seq" value="${form.seq}" inputmode="numeric" maxlength="16" size="12" required></label>
    <label>${t('epoch')}<input name="epoch" id="epoch" value="${form.epoch}" maxlength="36" size="10"></label>
    <button class="primary" type="submit" id="explain">${t('explainSubmit')}</button>
  </form>
</section>
${outcome.kind === 'invalid' || outcome.kind === 'missing' ? html`<div class="alert error" role="alert" id="explain-error">${outcome.message}</div>` : html``}
${outcome.kind === 'found' ? result(ctx, outcome.explanation, outcome.currency) : html``}`,
  );
}
