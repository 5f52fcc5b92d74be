import type { WebhookDeliveryView, WebhookEndpointView } from '../../webhooks/schemas.js';
import { html } from '../html.js';
import { csrfField, layout, type PageContext } from './layout.js';

/** The event types offered in the form, per kind of tenant (the API accepts any of them). */
export const OFFERED_EVENT_TYPES = {
  sponsor: ['invoice.issued', 'credit_note.issued', 'alert.triggered', 'alert.resolved'],
  merchant: ['sim.state_changed', 'order.paid', 'einvoice.issued', 'alert.triggered', 'alert.resolved'],
} as const;

export interface WebhooksPageData {
  kind: 'sponsor' | 'merchant';
  /** `/app/sponsors/{id}/webhooks` or `/app/merchants/{id}/webhooks` */
  base: string;
  endpoints: WebhookEndpointView[];
  /** A just-created endpoint's secret: shown on this one page, never again. */
  created?: { id: string; secret: string };
  /** Why the form was refused, with what was typed. */
  problem?: { message: string; url: string };
}

/** A tenant's webhook endpoints: add one (the secret shown once), delete one, open its delivery log. */
export function webhooksPage(ctx: PageContext, data: WebhooksPageData): string {
  const { t } = ctx;
  const created = data.created
    ? html`<section class="card" id="new-endpoint"><h2>${t('webhookCreated')}</h2><p>${t('webhookSecretOnce')}</p><pre id="new-secret" class="mono">${data.created.secret}</pre></section>`
    : html``;
  const list =
    data.endpoints.length === 0
      ? html`<p id="no-endpoints">${t('noWebhookEndpoints')}</p>`
      : html`<table id="endpoints"><thead><tr><th>${t('webhookUrl')}</th><th>${t('webhookEvents')}</th><th>${t('createdAt')}</th><th></th></tr></thead>
<tbody>${data.endpoints.map(
          (e) => html`<tr data-endpoint-id="${e.id}"><td class="mono">${e.url}</td><td>${e.eventTypes.join(', ')}</td><td>${e.createdAt}</td>
<td><a class="delivery-log" href="${data.base}/${e.id}">${t('webhookDeliveryLog')}</a>
<form method="post" action="${data.base}/${e.id}/delete" class="inline">${csrfField(ctx)}<button type="submit">${t('webhookDelete')}</button></form></td></tr>`,
        )}</tbody></table>`;
  const form = html`<form method="post" action="${data.base}" id="add-endpoint">${csrfField(ctx)}
<label>${t('webhookUrl')} <input type="url" name="url" required maxlength="2048" value="${data.problem?.url ?? ''}" placeholder="https://hooks.example.com/tbox"></label>
<fieldset><legend>${t('webhookEvents')}</legend>${OFFERED_EVENT_TYPES[data.kind].map(
    (type) => html`<label><input type="checkbox" name="event.${type}" value="on"> <span class="mono">${type}</span></label> `,
  )}</fieldset>
<button type="submit">${t('webhookAdd')}</button></form>`;
  const problem = data.problem ? html`<p class="error" id="form-problem">${data.problem.message}</p>` : html``;
  return layout(
    ctx,
    t('webhooksTitle'),
    html`<h1>${t('webhooksTitle')}</h1>${created}<section class="card">${list}</section><section class="card"><h2>${t('webhookAdd')}</h2>${problem}${form}<p class="note">${t('webhooksNote')}</p></section>`,
  );
}

/** One endpoint's delivery log, newest first, with a replay button per delivery. */
export function deliveryLogPage(ctx: PageContext, data: { base: string; endpoint: WebhookEndpointView; deliveries: WebhookDeliveryView[]; nextCursor: string | null }): string {
  const { t } = ctx;
  const here = `${data.base}/${data.endpoint.id}`;
  const rows = data.deliveries.map(
    (d) => html`<tr data-delivery-id="${d.id}" data-status="${d.status}"><td class="mono">${d.eventId}</td><td class="mono">${d.type}</td><td>${d.createdAt}</td>
<td><span class="badge delivery-${d.status}">${t(`delivery_${d.status}`)}</span></td><td class="num">${d.attempts}</td>
<td>${d.lastAttemptAt ?? '—'}${d.lastStatus !== null ? html` · HTTP ${d.lastStatus}` : html``}${d.lastError ? html`<br><small>${d.lastError}</small>` : html``}</td>
<td>${d.status === 'pending' && d.nextAttemptAt ? d.nextAttemptAt : (d.deliveredAt ?? '—')}</td>
<td><form method="post" action="${here}/deliveries/${d.id}/replay" class="inline">${csrfField(ctx)}<button type="submit">${t('webhookReplay')}</button></form></td></tr>`,
  );
  const table =
    data.deliveries.length === 0
      ? html`<p id="no-deliveries">${t('noWebhookDeliveries')}</p>`
      : html`<table id="deliveries"><thead><tr><th>${t('webhookEventId')}</th><th>${t('webhookEventType')}</th><th>${t('webhookEventAt')}</th><th>${t('status')}</th><th class="num">${t('webhookAttempts')}</th><th>${t('webhookLastAttempt')}</th><th>${t('webhookNextOrDelivered')}</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  const older = data.nextCursor ? html`<p><a id="older" href="${here}?cursor=${encodeURIComponent(data.nextCursor)}">${t('webhookOlder')}</a></p>` : html``;
  return layout(
    ctx,
    t('webhookDeliveryLog'),
    html`<h1>${t('webhookDeliveryLog')}</h1><p><a href="${data.base}">← ${t('webhooksTitle')}</a> · <span class="mono">${data.endpoint.url}</span></p><section class="card">${table}${older}<p class="note">${t('webhookLogNote')}</p></section>`,
  );
}
