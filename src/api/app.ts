import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { ApiKeyStore } from './api-keys.js';
import { auditRoutes, enforceAudience, registerWithAudience, type DeclaredRoute } from './audience.js';
import { createAuthenticator } from './auth.js';
import { createRateLimiter, type RateLimitOptions } from './rate-limit.js';
import { cachedFor } from '../shared/cached.js';
import { installErrorHandler } from './error-handler.js';
import type { FastifyZodInstance } from './types.js';

export interface AppOptions {
  logger: Logger;
  adminToken: string;
  /** Sponsor and merchant keys; null for an app that only knows the admin. */
  apiKeys: ApiKeyStore | null;
  metrics: Registry;
  /** Readiness checks by name (DESIGN 5: db + broker); each resolves true when healthy. */
  readiness: Record<string, () => Promise<boolean>>;
  /** Per-caller request budget (429 + Retry-After beyond it). */
  rateLimit: RateLimitOptions;
  /** TRUST_PROXY: the reverse proxies whose X-Forwarded-For/-Proto/-Host are believed (none when unset). */
  trustProxy?: readonly string[] | undefined;
  /** Route modules, registered after the shared plugins. */
  routes: Array<(app: FastifyZodInstance) => void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every registered route with its declared audience, in registration order (read-only; the tenant matrix test walks it). */
    readonly routeTable: readonly DeclaredRoute[];
  }
}

/** How long a readiness answer is reused (ms). */
export const READINESS_CACHE_MS = 1_000;

/** The HTTP app as a plain value: server.ts listens, tests use `inject`. */
export async function buildApp(options: AppOptions): Promise<FastifyZodInstance> {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }) as FastifyBaseLogger,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    // request.ip, request.protocol and request.host follow X-Forwarded-* only from these addresses.
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? [...options.trustProxy] : false,
  }).withTypeProvider<ZodTypeProvider>();

  // Before any route: a route that does not declare who may call it fails startup (see audience.ts).
  const routeTable: DeclaredRoute[] = [];
  app.addHook('onRoute', auditRoutes((route) => routeTable.push(Object.freeze(route))));
  app.decorate('routeTable', { getter: () => Object.freeze([...routeTable]) });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Directed-traffic billing API', version: '1.0.0', description: 'See DESIGN.md section 5 for the contract.' },
      // Relative: the document is right wherever it is served from (behind a proxy, on any PORT).
      servers: [{ url: '/', description: 'this service, where the document is served' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await registerWithAudience(app, ['public'], (docs) => docs.register(fastifySwaggerUi, { routePrefix: '/docs' }));

  app.decorateRequest('principal', null);
  app.addHook('onRequest', createAuthenticator(options.adminToken, options.apiKeys));
  const rateLimiter = createRateLimiter(options.rateLimit);
  app.addHook('onRequest', rateLimiter.onRequest);
  app.addHook('onResponse', rateLimiter.onResponse);
  // The route's declared audience, before the body is read: 401 without a token, 403 outside the audience.
  app.addHook('onRequest', enforceAudience);

  const publicRoute = { security: [] as Array<Record<string, string[]>> };
  app.get('/health', { config: { audience: ['public'] }, schema: { ...publicRoute, tags: ['operations'], operationId: 'getHealth', summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  // A flood of /ready is one round of checks a second (each check is a `SELECT 1` at most).
  const readiness = Object.entries(options.readiness).map(([name, check]) => [name, cachedFor(() => check().catch(() => false), READINESS_CACHE_MS)] as const);
  app.get('/ready', { config: { audience: ['public'] }, schema: { ...publicRoute, tags: ['operations'], operationId: 'getReadiness', summary: 'Readiness: the database and the broker, each check by name', response: { 200: z.object({ status: z.string(), checks: z.record(z.string(), z.boolean()) }), 503: z.object({ status: z.string(), checks: z.record(z.string(), z.boolean()) }) } } }, async (_request, reply) => {
    const entries = await Promise.all(
      readiness.map(async ([name, check]) => [name, await check()] as const),
    );
    const checks = Object.fromEntries(entries);
    const ready = entries.every(([, ok]) => ok);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', { config: { audience: ['public'] }, schema: { ...publicRoute, tags: ['operations'], operationId: 'getMetrics', summary: 'Prometheus metrics (text exposition format)', hide: false } }, async (_request, reply) => {
    reply.header('content-type', options.metrics.contentType);
    return options.metrics.metrics();
  });

  for (const register of options.routes) register(app);
  return app;
}
