import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SessionStore } from '../api/web-sessions.js';
import { isLanguage } from './i18n.js';
import { CsrfBody, forAnyone, LANGUAGE_COOKIE, QueryText, refuse, SESSION_COOKIE, type PageKit } from './page-kit.js';
import { homeOf } from './pages/layout.js';
import { loginPage } from './pages/login.js';
import { safeReturnPath, SESSION_TTL_MS, type SessionCodec, type WebIdentity } from './session.js';
import type { WebDeps } from './routes.js';

/** Sign-in (the admin token, a sponsor's or a merchant's API key), sign-out and the language choice. */

const LoginQuery = z.object({ next: QueryText, ended: QueryText, bye: QueryText });
const LoginBody = z.object({ key: z.string().max(200).default(''), next: z.string().max(512).optional() });
const LanguageBody = CsrfBody.extend({ lang: z.string().max(10), back: z.string().max(512).optional() });

const digest = (value: string) => createHash('sha256').update(value).digest();

export function signInPages(web: FastifyInstance, kit: PageKit, deps: WebDeps, sessions: SessionStore, codec: SessionCodec): void {
  const { context, sendPage, sameOrigin, cookieOptions, checkCsrf } = kit;
  const adminDigest = digest(deps.adminToken);

  web.get('/', forAnyone, async (request, reply) => reply.redirect(request.webSession ? homeOf(request.webSession) : '/app/login', 303));

  web.get('/login', forAnyone, async (request, reply) => {
    const query = LoginQuery.parse(request.query ?? {});
    const next = safeReturnPath(query.next, '');
    if (request.webSession) return reply.redirect(next || homeOf(request.webSession), 303);
    const ctx = context(request);
    const info = query.ended === '1' || request.webSessionEnded ? ctx.t('sessionEnded') : query.bye === '1' ? ctx.t('loggedOut') : undefined;
    return sendPage(reply, loginPage(ctx, { next, ...(info ? { info } : {}) }));
  });

  web.post('/login', forAnyone, async (request, reply) => {
    // Login CSRF: only a form of this site may sign a browser in.
    if (!sameOrigin(request)) throw refuse('csrfRefused', 403);
    const body = LoginBody.safeParse(request.body ?? {});
    const key = body.success ? body.data.key.trim() : '';
    const next = safeReturnPath(body.success ? body.data.next : undefined, '');
    let who: WebIdentity | null = null;
    if (key && timingSafeEqual(digest(key), adminDigest)) who = { kind: 'admin' };
    else if (key) {
      const owner = await deps.apiKeys.verify(key);
      if (owner?.ownerKind === 'sponsor' && deps.catalog().sponsors.some((s) => s.id === owner.ownerId)) who = { kind: 'sponsor', sponsorId: owner.ownerId, keyId: owner.keyId };
      // A merchant key opens the portal of its merchant, when this instance has one and the merchant exists.
      if (owner?.ownerKind === 'merchant' && deps.merchantPortal && (await deps.merchantPortal.merchants.find(owner.ownerId))) who = { kind: 'merchant', merchantId: owner.ownerId, keyId: owner.keyId };
    }
    if (!who) {
      request.log.info({ event: 'web_sign_in_failed' }, 'web sign-in refused');
      const ctx = context(request);
      return sendPage(reply, loginPage(ctx, { next, error: ctx.t('loginFailed') }), 401);
    }
    const now = deps.clock.now();
    const { token, session } = codec.issue(who, now);
    await sessions.open(session, now);
    const tenant = who.kind === 'sponsor' ? { sponsor: who.sponsorId, keyId: who.keyId } : who.kind === 'merchant' ? { merchant: who.merchantId, keyId: who.keyId } : {};
    request.log.info({ event: 'web_sign_in', kind: who.kind, ...tenant }, 'web sign-in');
    reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions(request), maxAge: SESSION_TTL_MS / 1000 });
    request.webSessionEnded = false;
    return reply.redirect(next || homeOf(session), 303);
  });

  web.post('/logout', forAnyone, async (request, reply) => {
    checkCsrf(request, CsrfBody.safeParse(request.body ?? {}).data ?? {});
    // Ended on the server: the cookie, should a copy of it survive, opens nothing any more.
    if (request.webSession) {
      await sessions.revoke(request.webSession, deps.clock.now());
      request.log.info({ event: 'web_sign_out', kind: request.webSession.kind }, 'web sign-out');
    }
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    return reply.redirect('/app/login?bye=1', 303);
  });

  web.post('/lang', forAnyone, async (request, reply) => {
    const body = LanguageBody.safeParse(request.body ?? {});
    checkCsrf(request, body.data ?? {});
    if (body.success && isLanguage(body.data.lang)) {
      reply.setCookie(LANGUAGE_COOKIE, body.data.lang, { ...cookieOptions(request), maxAge: 365 * 86_400 });
    }
    return reply.redirect(safeReturnPath(body.data?.back, '/app'), 303);
  });
}
