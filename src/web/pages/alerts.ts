import type { AlertRuleView } from '../../alerts/schemas.js';
import { formatMoney } from '../format.js';
import { html, type Html } from '../html.js';
import { csrfField, layout, type PageContext } from './layout.js';

export interface AlertsView {
  alerts: AlertRuleView[];
  /** the sponsor's sponsorships with a cap (what cap rules may watch) */
  cappedSponsorships: string[];
  currency: string;
  /** why the last form was refused, shown above the forms */
  error: string | null;
}

/**
 * A sponsor's or a merchant's usage alerts: each rule with its state, a form per kind to add one (a sponsor's
 * usage kinds, a merchant's serviceUntil), a delete button per rule.
 */
export function alertsPage(ctx: PageContext, owner: { kind: 'sponsor' | 'merchant'; id: string }, view: AlertsView): string {
  const { t } = ctx;
  const base = `/app/${owner.kind}s/${owner.id}/alerts`;
  const threshold = (a: AlertRuleView): string =>
    a.kind === 'cap_share' ? `${a.percent} %` : a.kind === 'mtd_amount' ? formatMoney(a.amount ?? '0', view.currency) : a.kind === 'vehicles_at_cap' ? String(a.count) : `${a.days} d`;
  const rows = view.alerts.map(
    (a) => html`<tr data-alert-id="${a.id}" data-kind="${a.kind}" data-state="${a.state}">
  <td>${t(`alertKind_${a.kind}`)}</td>
  <td class="mono">${a.sponsorshipId ?? ''}</td>
  <td class="num">${threshold(a)}</td>
  <td><span class="badge ${a.state}">${t(`alertState_${a.state}`)}</span></td>
  <td class="mono">${a.period ?? ''}</td>
  <td class="num">${a.state === 'resolved' ? (a.resolvedValue ?? '') : (a.triggeredValue ?? '')}</td>
  <td>${a.state === 'resolved' ? (a.resolvedAt ?? '') : (a.triggeredAt ?? '')}</td>
  <td><form method="post" action="${base}/${a.id}/delete" class="inline">${csrfField(ctx)}<button type="submit" class="delete-alert">${t('deleteAlert')}</button></form></td>
</tr>`,
  );
  const table =
    view.alerts.length === 0
      ? html`<p id="no-alerts">${t('noAlerts')}</p>`
      : html`<table id="alerts"><thead><tr><th>${t('alertKind')}</th><th>${t('alertSponsorship')}</th><th class="num">${t('alertThreshold')}</th><th>${t('alertState')}</th><th>${t('alertPeriod')}</th><th class="num">${t('alertValue')}</th><th>${t('alertAt')}</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  const sponsorships = html`<select name="sponsorshipId">${view.cappedSponsorships.map((id) => html`<option value="${id}">${id}</option>`)}</select>`;
  const form = (kind: string, fields: Html) =>
    html`<form method="post" action="${base}" class="inline" id="add-${kind}">${csrfField(ctx)}<input type="hidden" name="kind" value="${kind}"><strong>${t(`alertKind_${kind as 'cap_share'}`)}</strong> ${fields} <button class="primary" type="submit">${t('addAlert')}</button></form>`;
  const capForms =
    view.cappedSponsorships.length === 0
      ? html`<p class="note">${t('noCappedSponsorships')}</p>`
      : html`${form('cap_share', html`<label>${t('alertSponsorship')} ${sponsorships}</label> <label>${t('alertPercent')} <input type="number" name="percent" min="1" max="100" step="1" value="80" required></label>`)}
${form('vehicles_at_cap', html`<label>${t('alertSponsorship')} ${sponsorships}</label> <label>${t('alertCount')} <input type="number" name="count" min="1" step="1" value="1" required></label>`)}`;
  const forms =
    owner.kind === 'merchant'
      ? form('service_until_within', html`<label>${t('alertDays')} <input type="number" name="days" min="1" max="366" step="1" value="30" required></label>`)
      : html`${capForms}
${form('mtd_amount', html`<label>${t('alertAmount')} <input type="text" name="amount" inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?" value="1000.00" required></label> ${view.currency}`)}`;
  const body = html`<h1>${t('alertsTitle')}</h1>
${view.error ? html`<div class="alert error" role="alert" id="alert-error">${view.error}</div>` : html``}
<section class="card">${table}<p class="note">${t(owner.kind === 'merchant' ? 'merchantAlertsNote' : 'alertsNote')}</p></section>
<section class="card" id="add-alert">
${forms}
</section>`;
  return layout(ctx, t('alertsTitle'), body);
}
