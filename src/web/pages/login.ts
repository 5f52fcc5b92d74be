import { html } from '../html.js';
import { SESSION_TTL_MS } from '../session.js';
import { layout, type PageContext } from './layout.js';

export function loginPage(ctx: PageContext, options: { next: string; error?: string; info?: string }): string {
  const { t } = ctx;
  return layout(
    ctx,
    t('loginTitle'),
    html`<section class="card login">
  <h1>${t('loginTitle')}</h1>
  ${options.error ? html`<div class="alert error" role="alert" id="login-error">${options.error}</div>` : html``}
  ${options.info ? html`<div class="alert info" role="status" id="login-info">${options.info}</div>` : html``}
  <form method="post" action="/app/login" class="inline">
    <input type="hidden" name="next" value="${options.next}">
    <label>${t('loginKeyLabel')}<input class="key" type="password" name="key" id="key" autocomplete="off" required maxlength="200" autofocus></label>
    <button class="primary" type="submit" id="login">${t('loginSubmit')}</button>
  </form>
  <p class="note">${t('loginHint', { hours: SESSION_TTL_MS / 3_600_000 })}</p>
</section>`,
  );
}
