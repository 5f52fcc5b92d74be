import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RowIdSchema } from '../api/schemas.js';
import type { UsageQuery } from '../billing/usage-query.js';
import { listDeadLetters } from '../ledger/dead-letters.js';
import { monthOf } from '../shared/time.js';
import { ingestHealth } from './dashboard-query.js';
import { forAdmin, type PageKit } from './page-kit.js';
import { adminPage, deadLettersPage } from './pages/admin.js';
import type { WebDeps } from './routes.js';

/** The operator's pages: every sponsor's month at a glance, merchants, ingest health, dead letters. */

const DEAD_LETTERS_PER_PAGE = 50;
const DeadLettersQuery = z.object({ before: RowIdSchema.optional().catch(undefined) });

export function adminPages(web: FastifyInstance, kit: PageKit, deps: WebDeps, usage: UsageQuery): void {
  const { context, requireSession, sendPage, requireAdminSession } = kit;
  const timezone = () => deps.catalog().billing.timezone;

  web.get('/admin', forAdmin, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    requireAdminSession(session);
    const catalog = deps.catalog();
    const month = monthOf(deps.clock.now(), catalog.billing.timezone);
    const [sponsors, merchants, health] = await Promise.all([
      Promise.all(
        catalog.sponsors.map(async (s) => {
          const u = await usage.appUsage(s.id, month);
          return { id: s.id, name: s.name, kind: s.kind, totalBytes: u.totalBytes, totalAmount: u.totalAmount };
        }),
      ),
      deps.merchantPortal ? deps.merchantPortal.merchants.list() : null,
      ingestHealth(deps.pool, deps.metrics),
    ]);
    return sendPage(reply, adminPage(context(request, { current: 'admin' }), { month, currency: catalog.billing.currency, sponsors, merchants, health }));
  });

  web.get('/admin/dead-letters', forAdmin, async (request, reply) => {
    const session = requireSession(request, reply);
    if (!session) return reply;
    requireAdminSession(session);
    const beforeId = DeadLettersQuery.parse(request.query ?? {}).before ?? null;
    const page = await listDeadLetters(deps.pool, { limit: DEAD_LETTERS_PER_PAGE, before: beforeId, timezone: timezone() });
    const last = page.deadLetters.at(-1);
    return sendPage(
      reply,
      deadLettersPage(context(request, { current: 'dead-letters' }), {
        deadLetters: page.deadLetters,
        olderHref: page.nextCursor && last ? `/app/admin/dead-letters?before=${last.id}` : null,
        first: beforeId === null,
      }),
    );
  });
}
