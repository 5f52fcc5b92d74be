import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IdSchema } from '../api/schemas.js';
import type { Catalog } from '../catalog/index.js';
import { AppError } from '../shared/errors.js';
import { isLanguage, languageFromAcceptLanguage, translator, type Language, type MessageKey } from './i18n.js';
import type { PageContext } from './pages/layout.js';
import { isSameOrigin, type SessionCodec, type WebSession } from './session.js';

/**
 * What every page of `/app` shares: the page frame (language, session, CSRF token), the sign-in and scope
 * guards, and the HTML reply. Built once per app by routes.ts and lent to each group of pages.
 */

export const SESSION_COOKIE = 'tbx_session';
export const LANGUAGE_COOKIE = 'tbx_lang';

/** Who may open each page (src/api/audience.ts); hidden from the OpenAPI document. */
export const forAnyone = { schema: { hide: true }, config: { audience: ['public'] as const } };
export const forSponsors = { schema: { hide: true }, config: { audience: ['admin', 'sponsor'] as const } };
export const forMerchants = { schema: { hide: true }, config: { audience: ['admin', 'merchant'] as const } };
export const forAdmin = { schema: { hide: true }, config: { audience: ['admin'] as const } };

// Query strings come from links and forms: a parameter that is not one string (absent, repeated) counts as
// absent, never as an error; what a value means is then judged by the API's own schemas and rules.
export const QueryText = z.string().optional().catch(undefined);
export const CsrfBody = z.object({ csrf: z.string().max(100).optional() });
const SponsorParams = z.object({ id: IdSchema });

export const refuse = (code: MessageKey, status: number) => new AppError(code, code, status);

export interface PageKit {
  context(request: FastifyRequest, extra?: Partial<PageContext>): PageContext;
  /** Signed in, or a redirect to the sign-in page that comes back here afterwards. */
  requireSession(request: FastifyRequest, reply: FastifyReply): WebSession | null;
  sendPage(reply: FastifyReply, page: string, status?: number): FastifyReply;
  sameOrigin(request: FastifyRequest): boolean;
  cookieOptions(request: FastifyRequest): { path: string; httpOnly: boolean; sameSite: 'strict'; secure: boolean };
  sponsorScope(request: FastifyRequest, session: WebSession): { id: string; name: string };
  requireAdminSession(session: WebSession): void;
  checkCsrf(request: FastifyRequest, body: { csrf?: string | undefined }): void;
}

export function createPageKit(codec: SessionCodec, catalog: () => Catalog): PageKit {
  function languageOf(request: FastifyRequest): Language {
    // cookies is null when a hook before the cookie parser failed and the error page is being drawn
    const chosen = request.cookies?.[LANGUAGE_COOKIE];
    return isLanguage(chosen) ? chosen : languageFromAcceptLanguage(request.headers['accept-language']);
  }

  function context(request: FastifyRequest, extra: Partial<PageContext> = {}): PageContext {
    const lang = languageOf(request);
    const session = request.webSession;
    return { t: translator(lang), lang, session, csrf: session ? codec.csrfToken(session) : null, here: request.url, ...extra };
  }

  /** The host as the browser addressed it: `Host`, or `X-Forwarded-Host` from a proxy named in TRUST_PROXY. */
  function sameOrigin(request: FastifyRequest): boolean {
    return isSameOrigin({ origin: request.headers.origin, referer: request.headers.referer, host: request.host });
  }

  /** `Secure` when the browser came over https: the socket's TLS, or X-Forwarded-Proto from a trusted proxy. */
  function cookieOptions(request: FastifyRequest) {
    return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: request.protocol === 'https' };
  }

  /** Signed in, or a redirect to the sign-in page that comes back here afterwards. */
  function requireSession(request: FastifyRequest, reply: FastifyReply): WebSession | null {
    if (request.webSession) return request.webSession;
    const query = new URLSearchParams({ next: request.url });
    if (request.webSessionEnded) query.set('ended', '1');
    void reply.redirect(`/app/login?${query.toString()}`, 303);
    return null;
  }

  /**
   * DESIGN 5 scoping, as the API does it: another sponsor's page is 403; an unknown sponsor is 404 (admin).
   * A merchant session has no sponsor pages at all (403).
   */
  function sponsorScope(request: FastifyRequest, session: WebSession): { id: string; name: string } {
    const params = SponsorParams.safeParse(request.params);
    if (session.kind === 'merchant') throw refuse('forbidden', 403);
    if (session.kind === 'sponsor' && (!params.success || params.data.id !== session.sponsorId)) throw refuse('forbidden', 403);
    const sponsor = params.success ? catalog().sponsors.find((s) => s.id === params.data.id) : undefined;
    if (!sponsor) throw refuse('notFound', 404);
    return { id: sponsor.id, name: sponsor.name };
  }

  function requireAdminSession(session: WebSession): void {
    if (session.kind !== 'admin') throw refuse('forbidden', 403);
  }

  /** Every state-changing request: same-origin headers, and the session's token when signed in. */
  function checkCsrf(request: FastifyRequest, body: { csrf?: string | undefined }): void {
    if (!sameOrigin(request)) throw refuse('csrfRefused', 403);
    if (request.webSession && !codec.checkCsrfToken(request.webSession, body.csrf)) throw refuse('csrfRefused', 403);
  }

  const sendPage = (reply: FastifyReply, page: string, status = 200) => reply.status(status).type('text/html; charset=utf-8').send(page);


  return { context, requireSession, sendPage, sameOrigin, cookieOptions, sponsorScope, requireAdminSession, checkCsrf };
}
